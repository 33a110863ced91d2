"""Node operations: ProxBalance maintenance mode and evacuation sessions (preview, run, status, cancel)."""

from __future__ import annotations

from flask import Blueprint
from pydantic import Field

from proxbalance.api.endpoint import endpoint
from proxbalance.api.executor_ctx import actor, executor_ctx
from proxbalance.api.models import NodeName, StrictModel
from proxbalance.api.models_cluster import check
from proxbalance.api.models_migrate import Open
from proxbalance.api.state import state
from proxbalance.errors import NotFoundError, ValidationError
from proxbalance.executor import evacuation as ev
from proxbalance.executor.live import LiveView
from proxbalance.executor.maintenance import maintenance_info, set_maintenance
from proxbalance.store import maintenance as repo

bp = Blueprint("node_ops", __name__)


class MaintenanceBody(StrictModel):
    enable: bool = Field(description="true sets maintenance mode, false clears it")
    reason: str | None = Field(None, max_length=500)


class EvacuateBody(StrictModel):
    node: NodeName
    dry_run: bool = Field(False, description="plan and report only (a preview session)")
    from_preview: str | None = Field(None, pattern=r"^[0-9a-f]{32}$",
                                     description="run exactly the plan of this preview session")


def _sid(session_id: str) -> None:
    if not (len(session_id) == 32 and all(c in "0123456789abcdef" for c in session_id)):
        raise ValidationError("session_id must be a 32-character hex id", details={"field": "session_id"})


@endpoint(bp, "GET", "/api/maintenance", response=Open,
          summary="Nodes in ProxBalance maintenance mode (never migration targets), with who set it and why.")
def maintenance_list():
    info = maintenance_info(state().store)
    return {"maintenance_nodes": sorted(info), "nodes": info}


@endpoint(bp, "POST", "/api/nodes/<node>/maintenance", body=MaintenanceBody, response=Open,
          summary="Set or clear ProxBalance maintenance mode on a node; clearing it switches HA failback on again "
                  "for the HA guests an evacuation of the node switched it off for.")
def maintenance_set(node: str, body: MaintenanceBody):
    check(NodeName, node, "node")
    ctx = executor_ctx(reconcile=False)
    LiveView.read(ctx.pve).node(node)
    out = {"maintenance": set_maintenance(ctx.store, node, body.enable, actor(), body.reason, now=ctx.now())}
    if not body.enable:  # HA guests an evacuation kept from failing back may go back now
        out["ha_failback_restored"] = ev.release_ha_failback(ctx, node)
    return out


@endpoint(bp, "POST", "/api/nodes/evacuate", body=EvacuateBody, response=Open,
          summary="Evacuate every guest from a node: dry_run previews the plan (and the guests that cannot move); "
                  "otherwise runs it (202) under ProxBalance maintenance mode.")
def evacuate(body: EvacuateBody):
    ctx = executor_ctx()
    s = ev.create_session(ctx, body.node, dry_run=body.dry_run, actor=actor(), from_preview=body.from_preview)
    if body.dry_run:
        return {"session_id": s["session_id"], "session": s}
    ev.start_thread(ctx, s["session_id"])
    return {"session_id": s["session_id"], "session": s}, 202


@endpoint(bp, "GET", "/api/nodes/evacuate/status/<session_id>", response=Open,
          summary="An evacuation session: state, per-guest state and progress, re-plans, guests left and why.")
def evacuate_status(session_id: str):
    _sid(session_id)
    s = repo.load_session(state().store.engine, session_id)
    if s is None:
        raise NotFoundError(f"no evacuation session {session_id!r}", code="session_not_found")
    return {"session_id": session_id, "session": s}


@endpoint(bp, "POST", "/api/nodes/evacuate/<session_id>/cancel", response=Open,
          summary="Stop an evacuation from starting more moves (running migrations finish).")
def evacuate_cancel(session_id: str):
    _sid(session_id)
    s = ev.cancel_session(executor_ctx(reconcile=False), session_id)
    return {"session_id": session_id, "session": s}
