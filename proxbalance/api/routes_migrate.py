"""Migrations: validate, migrate, batch, progress, cancel, task stop, rollback, history/export, outcomes.

Handlers parse, call one executor function and shape the answer; see docs/executor.md.
"""

from __future__ import annotations

import csv
import io
import json
from datetime import datetime

from flask import Blueprint, Response

from proxbalance.api.endpoint import endpoint
from proxbalance.api.executor_ctx import actor, executor_ctx, request_id
from proxbalance.api.models import NodeName, VmId
from proxbalance.api.models_cluster import check
from proxbalance.api.models_migrate import (
    BatchBody,
    BatchResponse,
    ExportQuery,
    HistoryQuery,
    HistoryResponse,
    MigrationResponse,
    MigrationStatusResponse,
    MoveBody,
    Open,
    OutcomesQuery,
    RollbackBody,
    ValidationResponse,
)
from proxbalance.api.state import state
from proxbalance.errors import ConflictError, ForbiddenError, ValidationError
from proxbalance.executor import batch as bx
from proxbalance.executor import migrations as ex
from proxbalance.executor import outcomes as oc
from proxbalance.executor import rollback as rb
from proxbalance.executor.live import LiveView
from proxbalance.executor.validate import validate_move
from proxbalance.pve.parse import upid_node
from proxbalance.store import migrations_log as mlog

bp = Blueprint("migrate", __name__)
MIGRATION_TASKS = ("qmigrate", "vzmigrate", "hamigrate")


def _type_check(live: LiveView, body: MoveBody) -> None:
    g = live.guest(body.vmid)
    if body.guest_type and body.guest_type != g.type:
        raise ValidationError(f"guest {body.vmid} is a {g.kind}, not a {'VM' if body.guest_type == 'qemu' else 'CT'}",
                              details={"field": "guest_type"})


def _public(rec: dict) -> dict:
    out = {k: v for k, v in rec.items() if k not in ("progress", "validation")}
    return out


@endpoint(bp, "POST", "/api/migrate/validate", body=MoveBody, response=ValidationResponse, scope="read",
          summary="Validate a proposed migration (staleness, guest_state, resources, storage, locks, affinity, "
                  "quorum, target, devices) without starting it.")
def validate(body: MoveBody):
    ctx = executor_ctx()
    live = LiveView.read(ctx.pve)
    _type_check(live, body)
    v = validate_move(ctx, body.vmid, body.target_node, source_node=body.source_node, online=body.online,
                      targetstorage=body.targetstorage, live=live)
    return {"validation": v.to_dict()}


@endpoint(bp, "POST", "/api/migrate", body=MoveBody, response=MigrationResponse,
          summary="Validate and start one migration (202): the answer carries migration_id and the PVE UPID.")
def migrate(body: MoveBody):
    ctx = executor_ctx()
    live = LiveView.read(ctx.pve)
    _type_check(live, body)
    rec = ex.start_migration(ctx, body.vmid, body.target_node, source_node=body.source_node, actor=actor(),
                             origin="manual", request_id=request_id(), targetstorage=body.targetstorage,
                             online=body.online, live=live)
    return {"migration_id": rec["migration_id"], "upid": rec["upid"] or rec["request_upid"], "state": rec["state"],
            "migration": _public(rec)}, 202


@endpoint(bp, "POST", "/api/migrate/batch", body=BatchBody, response=BatchResponse,
          summary="Run several migrations in dependency order within the in-flight limits (202; poll "
                  "GET /api/migrate/batch/{batch_id}). Stops on the first failure unless continue_on_failure.")
def migrate_batch(body: BatchBody):
    ctx = executor_ctx()
    live = LiveView.read(ctx.pve)
    for m in body.migrations:
        _type_check(live, m)
    b = bx.create_batch(ctx, [m.model_dump() for m in body.migrations], actor=actor(),
                        continue_on_failure=body.continue_on_failure, request_id=request_id())
    bx.start_thread(ctx, b["batch_id"])
    return b, 202


@endpoint(bp, "GET", "/api/migrate/batch/<batch_id>", response=BatchResponse,
          summary="A batch's state and each move's status.")
def batch_status(batch_id: str):
    _check_id(batch_id, "batch_id")
    return mlog.load_batch(state().store.engine, batch_id)


@endpoint(bp, "POST", "/api/migrate/batch/<batch_id>/cancel", response=BatchResponse,
          summary="Stop a batch from starting more moves (running migrations finish).")
def batch_cancel(batch_id: str):
    _check_id(batch_id, "batch_id")
    return bx.cancel_batch(executor_ctx(), batch_id)


def _check_id(value: str, field: str) -> None:
    if not (len(value) == 32 and all(c in "0123456789abcdef" for c in value)):
        raise ValidationError(f"{field} must be a 32-character hex id", details={"field": field})


@endpoint(bp, "GET", "/api/migrations/<migration_id>", response=Open,
          summary="One migration record (refreshed from PVE while active) with its state history.")
def migration(migration_id: str):
    _check_id(migration_id, "migration_id")
    ctx = executor_ctx()
    rec = ex.refresh(ctx, migration_id)
    return {"migration": _public(rec), "progress": ex.status_of(ctx, rec),
            "events": mlog.events(ctx.store.engine, migration_id)}


@endpoint(bp, "POST", "/api/migrations/<task_id>/cancel", response=MigrationResponse,
          summary="Cancel a running migration by its UPID (or migration_id): stops the PVE task.")
def cancel(task_id: str):
    if not task_id.startswith("UPID:"):
        _check_id(task_id, "task_id")
    rec = ex.cancel(executor_ctx(), task_id, actor=actor())
    return {"migration_id": rec["migration_id"], "upid": rec["upid"], "state": rec["state"], "migration": _public(rec)}


@endpoint(bp, "GET", "/api/guests/<int:vmid>/migration-status", response=MigrationStatusResponse,
          summary="State, percent, transferred bytes, rate, elapsed and ETA of the guest's latest migration.")
def migration_status(vmid: int):
    check(VmId, vmid, "vmid")
    ctx = executor_ctx()
    rec = mlog.latest_for_vmid(ctx.store.engine, vmid)
    if rec is None:
        return {"vmid": vmid, "migrating": False, "state": None, "percent": None, "transferred_bytes": None,
                "rate_bytes_per_s": None, "elapsed_seconds": None, "eta_seconds": None}
    rec = ex.refresh(ctx, rec["migration_id"])
    return {**ex.status_of(ctx, rec), "vmid": vmid, "migrating": rec["state"] in mlog.ACTIVE_STATES}


@endpoint(bp, "POST", "/api/tasks/<node>/<taskid>/stop", response=Open,
          summary="Stop a running Proxmox migration task (qmigrate/vzmigrate/hamigrate only: 403 otherwise).")
def stop_task(node: str, taskid: str):
    check(NodeName, node, "node")
    owner = upid_node(taskid)
    if owner is None:
        raise ValidationError("taskid must be a Proxmox UPID", details={"field": "taskid"})
    if owner != node:
        raise ValidationError(f"task {taskid} belongs to node {owner!r}, not {node!r}", details={"field": "node"})
    kind = ex.upid_type(taskid)
    if kind not in MIGRATION_TASKS:
        raise ForbiddenError(f"ProxBalance stops only migration tasks, not {kind or 'this'} task",
                             code="not_a_migration_task", details={"type": kind})
    ctx = executor_ctx()
    status = ctx.pve.task_status(node, taskid)
    if not status.running:
        raise ConflictError(f"task {taskid} is not running ({status.exitstatus})", code="not_running")
    mine = mlog.by_upid(ctx.store.engine, taskid)
    if mine and mine["state"] == "started":
        rec = ex.cancel(ctx, mine["migration_id"], actor=actor())
        return {"stopped": True, "upid": taskid, "migration": _public(rec)}
    ctx.pve.stop_task(node, taskid)
    return {"stopped": True, "upid": taskid, "migration": None}


# -- rollback -----------------------------------------------------------------------------------------------
@endpoint(bp, "GET", "/api/migrate/rollback-info/<int:vmid>", response=Open,
          summary="Rollback availability: original node, time since the migration, its load now, validation.")
def rollback_info(vmid: int):
    check(VmId, vmid, "vmid")
    return {"rollback": rb.rollback_info(executor_ctx(), vmid)}


@endpoint(bp, "POST", "/api/migrate/rollback", body=RollbackBody, response=MigrationResponse,
          summary="Move a guest back to the node its last completed migration took it from (202).")
def rollback(body: RollbackBody):
    rec = rb.rollback(executor_ctx(), body.vmid, actor=actor(), request_id=request_id())
    return {"migration_id": rec["migration_id"], "upid": rec["upid"] or rec["request_upid"], "state": rec["state"],
            "migration": _public(rec)}, 202


# -- history and outcomes -------------------------------------------------------------------------------------
def _ts(text: str | None, field: str) -> float | None:
    if text is None:
        return None
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
    except ValueError:
        raise ValidationError(f"{field} must be an ISO 8601 date/time, got {text!r}", details={"field": field}) from None


def _iso(t: float | None) -> str | None:
    return None if t is None else datetime.fromtimestamp(t).astimezone().isoformat()


@endpoint(bp, "GET", "/api/automigrate/history", query=HistoryQuery, response=HistoryResponse,
          summary="Migration history (manual and automatic, who asked), newest first, with filters and paging.")
def history(query: HistoryQuery):
    rows, total = mlog.query(state().store.engine, vmid=query.vmid, origin=query.origin,
                             since=_ts(query.from_, "from"), until=_ts(query.to, "to"),
                             states=[query.state] if query.state else None, limit=query.limit, offset=query.offset)
    return {"history": [_public(r) for r in rows], "count": len(rows), "total": total}


EXPORT_FIELDS = ("migration_id", "created", "finished", "vmid", "guest_name", "guest_type", "source_node",
                 "target_node", "state", "origin", "actor", "upid", "error", "duration_seconds")


def _export_row(r: dict) -> dict:
    dur = (r["finished_at"] - r["started_at"]) if r["finished_at"] and r["started_at"] else None
    return {"migration_id": r["migration_id"], "created": _iso(r["created_at"]), "finished": _iso(r["finished_at"]),
            "vmid": r["vmid"], "guest_name": r["guest_name"], "guest_type": r["guest_type"],
            "source_node": r["source_node"], "target_node": r["target_node"], "state": r["state"],
            "origin": r["origin"], "actor": r["actor"], "upid": r["upid"], "error": r["error"],
            "duration_seconds": None if dur is None else round(dur, 1)}


@endpoint(bp, "GET", "/api/automigrate/history/export", query=ExportQuery, produces=("application/json", "text/csv"),
          summary="Download the migration history as CSV or JSON, optionally between from and to (ISO 8601).")
def history_export(query: ExportQuery):
    rows, _ = mlog.query(state().store.engine, since=_ts(query.from_, "from"), until=_ts(query.to, "to"),
                         limit=None, newest_first=False)
    out = [_export_row(r) for r in rows]
    if query.format == "csv":
        buf = io.StringIO()
        w = csv.DictWriter(buf, fieldnames=EXPORT_FIELDS)
        w.writeheader()
        w.writerows(out)
        body, mime = buf.getvalue(), "text/csv"
    else:
        body, mime = json.dumps({"history": out, "count": len(out)}, indent=2), "application/json"
    return Response(body, mimetype=mime,
                    headers={"Content-Disposition": f"attachment; filename=migration-history.{query.format}"})


@endpoint(bp, "GET", "/api/migrate/outcomes", query=OutcomesQuery, response=Open,
          summary="Predicted vs measured source/target load of completed migrations (newest first).")
def outcomes(query: OutcomesQuery):
    rows = oc.outcomes(executor_ctx(reconcile=False), vmid=query.vmid, limit=query.limit)
    return {"outcomes": rows, "count": len(rows)}


@endpoint(bp, "POST", "/api/migrate/outcomes/refresh", response=Open,
          summary="Capture the measured load of every completed migration whose delay has passed.")
def outcomes_refresh():
    return oc.refresh_outcomes(executor_ctx(reconcile=False))


