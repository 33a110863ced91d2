"""Recommendations: generate, read (filter/sort/page), skipped guests, suggestions, diagnostics, export,
feedback, and per-guest node scores."""

from __future__ import annotations

import json
from typing import Any, Literal

from flask import Blueprint, Response, g
from pydantic import Field, model_validator

from proxbalance import engine as eng
from proxbalance import recommendations as svc
from proxbalance.ai.service import attach_insight
from proxbalance.api import models_responses as R
from proxbalance.api.endpoint import endpoint
from proxbalance.api.executor_ctx import executor_ctx
from proxbalance.api.models import NodeName, StrictModel, VmId
from proxbalance.api.state import state
from proxbalance.forecasts import last_backtest
from proxbalance.store import plans

bp = Blueprint("recommendations", __name__)

Percent = Field(None, ge=1, le=100)


class GenerateBody(StrictModel):
    cpu_threshold: float | None = Field(None, ge=1, le=100, description="Node CPU % counted as loaded")
    mem_threshold: float | None = Field(None, ge=1, le=100, description="Node memory % counted as loaded")
    max_moves: int | None = Field(None, ge=1, le=10_000, description="Most moves in the plan")
    min_score_improvement: float | None = Field(None, ge=0, description="Smallest gain (points) worth a move")
    maintenance_nodes: list[NodeName] | None = Field(None, max_length=1000, description="Nodes treated as in "
                                                     "maintenance for this plan (never targets; evacuated first)")


class ListQuery(StrictModel):
    limit: int | None = Field(None, ge=1, le=10_000)
    offset: int = Field(0, ge=0)
    min_confidence: int | None = Field(None, ge=0, le=100)
    target_node: NodeName | None = None
    source_node: NodeName | None = None
    sort: Literal["score_improvement", "confidence_score", "risk_score", "priority", "order"] | None = None
    sort_dir: Literal["asc", "desc"] = "desc"


class SkippedQuery(StrictModel):
    reason: str | None = Field(None, max_length=60)
    limit: int | None = Field(None, ge=1, le=10_000)
    offset: int = Field(0, ge=0)


class ExportQuery(StrictModel):
    format: Literal["json", "csv"] = "json"


class FeedbackBody(StrictModel):
    vmid: VmId
    rating: Literal["helpful", "not_helpful"]
    comment: str | None = Field(None, max_length=2000)


class NodeScoresBody(StrictModel):
    vmid: VmId | None = None
    cpu_cores: float | None = Field(None, gt=0, le=4096, description="Hypothetical guest: CPU cores busy")
    mem_bytes: int | None = Field(None, gt=0, le=2**50, description="Hypothetical guest: memory used, bytes")
    maxmem_bytes: int | None = Field(None, gt=0, le=2**50,
                                     description="Hypothetical guest: configured memory, bytes")
    cpu_threshold: float | None = Percent
    mem_threshold: float | None = Percent

    @model_validator(mode="after")
    def _guest_or_size(self):
        if self.vmid is None and (self.cpu_cores is None or self.mem_bytes is None):
            raise ValueError("give vmid, or cpu_cores and mem_bytes for a hypothetical guest")
        if (self.cpu_cores is None) != (self.mem_bytes is None):  # a hypothetical size needs both
            raise ValueError("cpu_cores and mem_bytes go together (a hypothetical guest needs both)")
        return self


class OptionsBody(StrictModel):
    cpu_threshold: float | None = Percent
    mem_threshold: float | None = Percent


def _page(items: list, offset: int, limit: int | None) -> list:
    return items[offset: offset + limit if limit else None]


@endpoint(bp, "POST", "/api/recommendations", body=GenerateBody, response=R.RunResponse,
          summary="Generate migration recommendations from the newest snapshot (and store them).")
def generate(body: GenerateBody):
    st = state()
    return attach_insight(st.settings, st.store, svc.generate(st.settings, st.store, body.model_dump(exclude_none=True)),
                          exec_ctx=lambda: executor_ctx(reconcile=False))


@endpoint(bp, "GET", "/api/recommendations", query=ListQuery, response=R.RunPageResponse, cache=True,
          summary="The last generated recommendations, with filters, sorting and limit/offset paging.")
def list_recommendations(query: ListQuery):
    run = svc.latest(state().store)
    recs = run.pop("recommendations")
    filtered = svc.filter_recommendations(recs, min_confidence=query.min_confidence, source_node=query.source_node,
                                          target_node=query.target_node, sort=query.sort, sort_dir=query.sort_dir)
    page = _page(filtered, query.offset, query.limit)
    run.pop("skipped", None)
    return {**run, "recommendations": page, "total_count": len(recs), "filtered_count": len(filtered),
            "count": len(page)}


@endpoint(bp, "GET", "/api/recommendations/skipped", query=SkippedQuery, response=R.SkippedResponse, cache=True,
          summary="Guests the last plan did not move, each with its skip reason.")
def skipped(query: SkippedQuery):
    run = svc.latest(state().store)
    items = run.get("skipped", [])
    filtered = [s for s in items if query.reason is None or s["reason"] == query.reason]
    page = _page(filtered, query.offset, query.limit)
    return {"skipped": page, "total_count": len(items), "filtered_count": len(filtered), "count": len(page),
            "skip_reason_breakdown": run.get("skip_reason_breakdown", {})}


@endpoint(bp, "GET", "/api/recommendations/threshold-suggestions", response=R.ThresholdSuggestionsResponse,
          summary="Suggested CPU and memory thresholds for the cluster's current load.")
def threshold_suggestions():
    st = state()
    cfg = svc.active_penalty_config(st.settings, st.store)[0]
    arrays, _ = svc.current_arrays(st.settings, st.store, cfg)
    return eng.threshold_suggestions(arrays)


@endpoint(bp, "GET", "/api/recommendations/diagnostics", response=R.DiagnosticsResponse,
          summary="State of the recommendation engine: timing, counts, skip reasons, cache ages.")
def diagnostics():
    return {"diagnostics": {**svc.diagnostics(state().store, cluster_now=state().clock()),
                            "forecast_backtest": last_backtest(state().store)}}


@endpoint(bp, "GET", "/api/recommendations/export", query=ExportQuery, response=R.ExportResponse,
          produces=("application/json", "text/csv"),
          summary="Download the last recommendations as CSV or JSON.")
def export(query: ExportQuery):
    run = svc.latest(state().store)
    recs = run["recommendations"]
    if query.format == "csv":
        body, mime, ext = svc.export_csv(recs), "text/csv", "csv"
    else:
        body = json.dumps({"generated_at": run["generated_at"], "recommendations": recs}, indent=2)
        mime, ext = "application/json", "json"
    return Response(body, mimetype=mime,
                    headers={"Content-Disposition": f"attachment; filename=recommendations.{ext}"})


@endpoint(bp, "POST", "/api/recommendations/feedback", body=FeedbackBody, response=R.FeedbackCreatedResponse,
          status=201,
          summary="Rate a recommendation as helpful or not helpful.")
def add_feedback(body: FeedbackBody):
    st = state()
    run = plans.latest_run(st.store.engine)
    principal = g.get("principal")
    feedback_id = plans.add_feedback(st.store.engine, vmid=body.vmid, rating=body.rating, comment=body.comment,
                                     run_id=run.id if run else None,
                                     actor=principal.actor if principal else "anonymous")
    return {"feedback_id": feedback_id}, 201


@endpoint(bp, "GET", "/api/recommendations/feedback", response=R.FeedbackResponse, summary="Feedback summary: counts and recent entries.")
def feedback():
    return plans.feedback_summary(state().store.engine)


def _scores(vmid: int | None, hypothetical: dict[str, Any] | None, thresholds: dict[str, Any]) -> dict:
    st = state()
    cfg = eng.PenaltyConfig.from_dict({k: v for k, v in thresholds.items() if v is not None},
                                      base=svc.active_penalty_config(st.settings, st.store)[0])
    arrays, _ = svc.current_arrays(st.settings, st.store, cfg)
    return eng.score_guest(arrays, cfg, vmid, hypothetical=hypothetical)


@endpoint(bp, "POST", "/api/node-scores", body=NodeScoresBody, scope="read", response=R.NodeScoresResponse,  # computes, changes nothing
          summary="Penalty score of every node for a guest (by vmid) or a hypothetical guest size.")
def node_scores(body: NodeScoresBody):
    hypothetical = None
    if body.cpu_cores is not None:
        hypothetical = {"cpu_cores": body.cpu_cores, "mem_bytes": body.mem_bytes}
        if body.maxmem_bytes:
            hypothetical["maxmem_bytes"] = body.maxmem_bytes
    result = _scores(body.vmid, hypothetical,
                     {"cpu_threshold": body.cpu_threshold, "mem_threshold": body.mem_threshold})
    return {"node_scores": result}


@endpoint(bp, "POST", "/api/guest/<int:vmid>/migration-options", body=OptionsBody, scope="read",
          response=R.MigrationOptionsResponse,
          summary="Migration suitability (0-100) of every node for one guest, best first.")
def migration_options(vmid: int, body: OptionsBody):
    result = _scores(vmid, None, body.model_dump())
    return {"vmid": vmid, "current_node": result["current_node"], "best_node": result["best_node"],
            "options": result["nodes"]}
