"""Score history: node scores and cluster balance recorded on every collection and recommendation run.

Per node: CPU % and memory % of the snapshot (current load) and ``score`` = 100 - max(CPU %, memory %)
(headroom, higher is better). Per point: the hottest live node (``peak_pct``), the spread (population std)
of node CPU % and memory % over live nodes and ``balance_score`` = 100 - their mean (0-100, higher = more
even); a recommendation run also records the peak and balance after its plan (``batch_impact.after``).
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np

from proxbalance.config import Settings
from proxbalance.model import ClusterSnapshot
from proxbalance.store import Store
from proxbalance.store.forecast_tables import load_scores, save_scores

log = logging.getLogger(__name__)


def snapshot_scores(snapshot: ClusterSnapshot) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """(point, nodes) of one snapshot; see the module docstring."""
    nodes = []
    for n in snapshot.nodes:
        cpu = n.cpu * 100.0
        mem = n.mem / max(n.maxmem, 1) * 100.0
        nodes.append({"node": n.name, "cpu_pct": round(cpu, 3), "mem_pct": round(mem, 3),
                      "score": round(100.0 - max(cpu, mem), 3), "online": int(n.online and not n.maintenance)})
    live = [x for x in nodes if x["online"]] or nodes
    cpu = np.array([x["cpu_pct"] for x in live]) if live else np.zeros(1)
    mem = np.array([x["mem_pct"] for x in live]) if live else np.zeros(1)
    point = {"peak_pct": round(float(np.maximum(cpu, mem).max()), 3), "cpu_std_pct": round(float(cpu.std()), 3),
             "mem_std_pct": round(float(mem.std()), 3),
             "balance_score": round(float(max(0.0, 100.0 - (cpu.std() + mem.std()) / 2.0)), 3)}
    return point, nodes


def record(settings: Settings, store: Store, snapshot: ClusterSnapshot, source: str, run_id: int | None = None,
           impact: dict[str, Any] | None = None) -> int:
    point, nodes = snapshot_scores(snapshot)
    after = (impact or {}).get("after") or {}
    if after:
        point["after_peak_pct"] = after.get("peak_pct")
        point["after_balance_score"] = round(max(0.0, 100.0 - (after.get("cpu_std_pct", 0.0)
                                                               + after.get("mem_std_pct", 0.0)) / 2.0), 3)
    return save_scores(store.engine, t=snapshot.time, source=source, point=point, nodes=nodes, run_id=run_id,
                       keep_days=settings["forecast.score_history_days"])


def after_collection(settings: Settings, store: Store, snapshot: ClusterSnapshot) -> None:
    """Collector hook: record the scores, backtest the forecaster when due. Never fails the collection."""
    try:
        record(settings, store, snapshot, "collection")
        from proxbalance.forecasts import maybe_backtest

        maybe_backtest(settings, store, snapshot, snapshot.time)
    except Exception:  # noqa: BLE001 - the snapshot is stored; history and backtest are extras
        log.exception("score history / forecast backtest failed after collection")


def history(store: Store, now: float, hours: int, node: str | None = None) -> dict[str, Any]:
    """Contract keys of GET /api/score-history: points (oldest first) with their node scores."""
    pts = load_scores(store.engine, now - hours * 3600.0, node)
    if node is not None:
        pts = [p for p in pts if p["nodes"]]
    return {"hours": hours, "node": node, "count": len(pts), "history": pts}
