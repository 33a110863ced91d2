"""Outcomes: what a completed migration was predicted to do to its source and target, and what was measured
``executor.outcome_delay_minutes`` after it ended (live node numbers, % of the node's capacity)."""

from __future__ import annotations

from typing import Any

from proxbalance.executor.context import ExecContext
from proxbalance.executor.live import LiveView
from proxbalance.store import migrations_log as mlog


def _shape(rec: dict[str, Any], delay: float) -> dict[str, Any]:
    due = (rec["finished_at"] or 0) + delay
    return {"migration_id": rec["migration_id"], "vmid": rec["vmid"], "name": rec["guest_name"],
            "source_node": rec["source_node"], "target_node": rec["target_node"], "origin": rec["origin"],
            "completed_at": rec["finished_at"], "predicted": rec["predicted"], "actual": rec["measured"],
            "measured_at": rec["measured_at"], "status": "measured" if rec["measured"] else "pending",
            "measure_due_at": due}


def outcomes(ctx: ExecContext, *, vmid: int | None = None, limit: int = 20) -> list[dict[str, Any]]:
    rows, _ = mlog.query(ctx.store.engine, vmid=vmid, states=["completed"], limit=limit)
    delay = 60.0 * float(ctx.settings["executor.outcome_delay_minutes"])
    return [_shape(r, delay) for r in rows]


def refresh_outcomes(ctx: ExecContext, *, limit: int = 500) -> dict[str, Any]:
    """Measure every completed migration whose delay has passed and that has no measurement yet."""
    delay = 60.0 * float(ctx.settings["executor.outcome_delay_minutes"])
    now = ctx.now()
    rows, _ = mlog.query(ctx.store.engine, states=["completed"], limit=limit)
    due = [r for r in rows if r["measured"] is None and r["finished_at"] and r["finished_at"] + delay <= now]
    pending = sum(1 for r in rows if r["measured"] is None) - len(due)
    if not due:
        return {"measured": 0, "pending": pending}
    live = LiveView.read(ctx.pve)
    for r in due:
        m: dict[str, Any] = {}
        for role in ("source", "target"):
            n = live.nodes.get(r[f"{role}_node"])
            if n is not None and n.maxmem:
                m[f"{role}_mem_pct"] = round(100 * n.mem / n.maxmem, 2)
                m[f"{role}_cpu_pct"] = round(100 * n.cpu, 2)
        g = live.guests.get(r["vmid"])
        m["guest_node"] = g.node if g else None
        mlog.transition(ctx.store.engine, r["migration_id"], now=now, measured=m, measured_at=now)
    return {"measured": len(due), "pending": pending}
