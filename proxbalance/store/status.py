"""What health needs from the store, cheaply: the newest snapshot's metadata and node flags, and how the
last collection ended (``collector_state`` key ``last_collection``, written by every cycle, failed or not)."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import Engine, select

from proxbalance.store.inventory import get_state, set_state
from proxbalance.store.schema import snapshot_nodes, snapshots
from proxbalance.store.tx import best_effort

LAST_COLLECTION = "last_collection"


def cluster_status(engine: Engine) -> dict[str, Any] | None:
    """``{"time", "quorate", "offline", "unreachable", "last_collection"}`` of the newest snapshot, or None
    (``last_collection`` alone when no snapshot exists yet). Node lists are names."""
    with engine.connect() as conn:
        row = conn.execute(select(snapshots.c.id, snapshots.c.time, snapshots.c.quorate)
                           .order_by(snapshots.c.time.desc(), snapshots.c.id.desc()).limit(1)).one_or_none()
        last = get_state(conn, LAST_COLLECTION)
        if row is None:
            return {"time": None, "last_collection": last} if last else None
        nodes = [json.loads(r.data) for r in conn.execute(
            select(snapshot_nodes.c.data).where(snapshot_nodes.c.snapshot_id == row.id))]
    return {"time": row.time, "quorate": bool(row.quorate),
            "offline": sorted(n["name"] for n in nodes if not n.get("online", True)),
            "unreachable": sorted(n["name"] for n in nodes if n.get("online", True) and not n.get("reachable", True)),
            "last_collection": last}


def record_failure(engine: Engine, t: float, message: str) -> None:
    """Note a failed cycle (best effort: it never hides the original error)."""
    best_effort(engine, lambda c: set_state(c, LAST_COLLECTION, {"time": t, "ok": False, "error": message[:500]}),
                what="recording the failed collection")
