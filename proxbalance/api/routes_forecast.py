"""Forecast alerts, score history and workload patterns (the forecast area)."""

from __future__ import annotations

from typing import Any, Literal

from flask import Blueprint
from pydantic import BaseModel, ConfigDict, Field

from proxbalance import forecast_api as svc
from proxbalance.api.endpoint import endpoint
from proxbalance.api.models import NodeName, StrictModel
from proxbalance.api.state import state

bp = Blueprint("forecast", __name__)


class ForecastQuery(StrictModel):
    severity: Literal["critical", "warning", "info"] | None = Field(None, description="only this severity")
    node: NodeName | None = Field(None, description="only this node")
    metric: Literal["cpu", "memory"] | None = Field(None, description="only this metric")


class ScoreHistoryQuery(StrictModel):
    hours: int = Field(24, ge=1, le=24 * 3650, description="hours of history to return")
    node: NodeName | None = Field(None, description="only this node")


class PatternsQuery(StrictModel):
    node: NodeName | None = Field(None, description="analyse only this node")
    hours: int = Field(168, ge=24, le=24 * 365, description="hours of history to analyse")


class _Open(BaseModel):
    model_config = ConfigDict(extra="allow")
    success: bool


class ForecastAlert(BaseModel):
    model_config = ConfigDict(extra="allow")
    node: str
    metric: Literal["cpu", "memory"]
    severity: Literal["critical", "warning", "info"]
    threshold_pct: float
    current_pct: float | None
    predicted_peak_pct: float
    band_80_pct: list[float]
    peak_at: str
    crosses_at: str = Field(description="first hour (ISO 8601 UTC) the forecast is above the threshold")
    hours_until: float
    exceeds_by_pct: float
    probability: float = Field(description="P(load above threshold) at the predicted peak, 0-1")
    message: str


class ForecastResponse(_Open):
    forecasts: list[ForecastAlert] = Field(description="alerts, most urgent first")
    count: int
    total_count: int
    by_severity: dict[str, int]
    thresholds_pct: dict[str, float]
    horizon_hours: int
    first_hour: str
    node_forecasts: dict[str, Any] = Field(description="node -> metric -> hourly mean_pct / lo_pct / hi_pct")
    backtest: dict[str, Any] | None


class ScoreHistoryResponse(_Open):
    hours: int
    node: str | None
    count: int
    history: list[dict[str, Any]] = Field(description="points oldest first: time, source, run_id, peak_pct, "
                                                      "cpu_std_pct, mem_std_pct, balance_score, nodes[]")


class PatternsResponse(_Open):
    hours: int
    node: str | None
    count: int
    nodes: list[dict[str, Any]] = Field(description="per node: cpu / memory patterns (daily_cycle, weekly_cycle, "
                                                    "bursts, trend, profile), recommended_migration_windows")


@endpoint(bp, "GET", "/api/recommendations/forecasts", query=ForecastQuery, response=ForecastResponse,
          summary="Forecast alerts: nodes predicted to cross their CPU or memory threshold within the horizon.")
def forecast_alerts(query: ForecastQuery):
    st = state()
    return svc.forecast_alerts(st.settings, st.store, st.clock(), query.severity, query.node, query.metric)


@endpoint(bp, "GET", "/api/score-history", query=ScoreHistoryQuery, response=ScoreHistoryResponse,
          summary="Node scores and cluster balance recorded on every collection and recommendation run.")
def score_history(query: ScoreHistoryQuery):
    st = state()
    return svc.get_score_history(st.settings, st.store, st.clock(), query.hours, query.node)


@endpoint(bp, "GET", "/api/workload-patterns", query=PatternsQuery, response=PatternsResponse,
          summary="Daily and weekly cycles, bursts, trends and recommended migration windows per node.")
def workload_patterns(query: PatternsQuery):
    st = state()
    return svc.get_workload_patterns(st.settings, st.store, st.clock(), query.hours, query.node)
