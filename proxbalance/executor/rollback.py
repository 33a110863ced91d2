"""Rollback: move a guest back to the node its last completed migration took it from (a recorded migration
itself, ``origin="rollback"``, ``rollback_of`` the original)."""

from __future__ import annotations

from typing import Any

from proxbalance.errors import ConflictError, NotFoundError
from proxbalance.executor import migrations as ex
from proxbalance.executor.context import ExecContext
from proxbalance.executor.live import LiveView
from proxbalance.executor.validate import validate_move
from proxbalance.store import migrations_log as mlog


def _last(ctx: ExecContext, vmid: int) -> dict[str, Any]:
    rec = mlog.latest_for_vmid(ctx.store.engine, vmid, state="completed")
    if rec is None:
        raise NotFoundError(f"guest {vmid} has no completed migration to roll back", code="no_migration",
                            details={"vmid": vmid})
    return rec


def rollback_info(ctx: ExecContext, vmid: int) -> dict[str, Any]:
    """Original node, time since the migration, the original node's load now, and the validation of going
    back. ``available`` is True when the guest still sits where the migration put it and validation passes."""
    rec = _last(ctx, vmid)
    live = LiveView.read(ctx.pve)
    g = live.guest(vmid)
    original = rec["source_node"]
    node = live.nodes.get(original)
    load = None
    if node is not None and node.maxmem:
        load = {"online": node.online, "cpu_percent": round(100 * node.cpu, 2),
                "mem_percent": round(100 * node.mem / node.maxmem, 2)}
    validation = validate_move(ctx, vmid, original, live=live) if node is not None else None
    in_place = g.node == rec["target_node"]
    return {"vmid": vmid, "migration_id": rec["migration_id"], "original_node": original,
            "current_node": g.node, "migrated_at": rec["finished_at"],
            "seconds_since_migration": round(ctx.now() - (rec["finished_at"] or rec["created_at"]), 1),
            "original_node_load": load, "validation": validation.to_dict() if validation else None,
            "available": bool(in_place and validation and validation.passed),
            "reason": None if in_place else f"guest moved again since (now on {g.node})"}


def rollback(ctx: ExecContext, vmid: int, *, actor: str, request_id: str | None = None) -> dict[str, Any]:
    rec = _last(ctx, vmid)
    live = LiveView.read(ctx.pve)
    g = live.guest(vmid)
    if g.node != rec["target_node"]:
        raise ConflictError(f"guest {vmid} is on {g.node}, not where migration {rec['migration_id']} put it "
                            f"({rec['target_node']}): nothing to roll back", code="not_in_place")
    return ex.start_migration(ctx, vmid, rec["source_node"], source_node=g.node, actor=actor, origin="rollback",
                              request_id=request_id, rollback_of=rec["migration_id"], live=live)
