"""Service functions behind the forecast area's endpoints (routes_forecast.py): one call per endpoint."""

from __future__ import annotations

from typing import Any

from proxbalance import forecasts, recommendations, score_history, workload
from proxbalance.config import Settings
from proxbalance.errors import NoDataError, NotFoundError
from proxbalance.store import Store
from proxbalance.store.snapshots import latest_snapshot


def _snapshot(store: Store):
    snap = latest_snapshot(store.engine)
    if snap is None:
        raise NoDataError("no cluster data collected yet: run `proxbalance collect` or POST /api/refresh")
    return snap


def _check_node(snap, node: str | None) -> None:
    if node is not None and node not in {n.name for n in snap.nodes}:
        raise NotFoundError(f"node {node!r} not found", details={"node": node})


def forecast_alerts(settings: Settings, store: Store, now: float, severity: str | None = None,
                    node: str | None = None, metric: str | None = None) -> dict[str, Any]:
    """Contract of GET /api/recommendations/forecasts: alerts (filtered) and every node's forecast."""
    snap = _snapshot(store)
    _check_node(snap, node)
    cfg = recommendations.active_penalty_config(settings, store)[0]
    thresholds = {"cpu": cfg.cpu_threshold, "memory": cfg.mem_threshold}
    fc = forecasts.node_forecasts(settings, store, snap, now)
    every = forecasts.alerts(settings, fc, snap, thresholds, now)
    forecasts.notify_critical(settings, store, every, now)
    picked = [a for a in every if (severity is None or a["severity"] == severity)
              and (node is None or a["node"] == node) and (metric is None or a["metric"] == metric)]
    h = fc["hourly"]
    series = {}
    for i, k in enumerate(h.keys):
        if node is not None and k != node:
            continue
        series[k] = {m: {"mean_pct": [round(float(x), 2) for x in fc[m].mean[i]],
                         "lo_pct": [round(float(x), 2) for x in fc[m].lo[i]],
                         "hi_pct": [round(float(x), 2) for x in fc[m].hi[i]]}
                     for m in forecasts.METRICS if metric is None or m == metric}
    counts = {s: sum(a["severity"] == s for a in every) for s in ("critical", "warning", "info")}
    return {"forecasts": picked, "count": len(picked), "total_count": len(every), "by_severity": counts,
            "thresholds_pct": thresholds, "horizon_hours": settings["forecast.horizon_hours"],
            "first_hour": forecasts._iso(h.end_hour * 3600), "node_forecasts": series,
            "backtest": forecasts.last_backtest(store)}


def get_score_history(settings: Settings, store: Store, now: float, hours: int, node: str | None) -> dict:
    if node is not None:
        _check_node(_snapshot(store), node)
    return score_history.history(store, now, hours, node)


def get_workload_patterns(settings: Settings, store: Store, now: float, hours: int, node: str | None) -> dict:
    snap = _snapshot(store)
    _check_node(snap, node)
    return workload.workload_patterns(store, snap, now, hours, node)
