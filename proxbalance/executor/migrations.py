"""Migrations that happen exactly once: validate, record the intent, call PVE, follow the task, reconcile.

The order of a start is the whole guarantee:
1. validate against live numbers (``validate.validate_move``);
2. insert the intent (``pending``) and COMMIT it; the store's partial unique index refuses a second active
   migration of the same guest, whoever asks (API worker, CLI, automation);
3. call PVE once. A definite answer moves the row to ``started`` (with the UPID) or ``failed`` (PVE refused);
   a connection error or timeout moves it to ``unknown``: the request may or may not have reached PVE.
   Nothing here ever retries a migrate call.
4. ``refresh`` follows the task (status + log, parsed into progress) to ``completed | failed | cancelled``;
   an HA guest's ``hamigrate`` request is followed to the real ``qmigrate``/``vzmigrate`` task.
5. ``reconcile`` (at start-up and before every batch) resolves every active intent from the cluster's task
   list and the guest's actual node: an unknown/pending intent adopts the migration task PVE started for it,
   or, when no task exists after ``executor.intent_grace_seconds``, is resolved from where the guest is.
"""

from __future__ import annotations

import contextlib
from typing import Any

from proxbalance.errors import ConflictError, ProxBalanceError, UpstreamError, ValidationError
from proxbalance.executor import progress as prog
from proxbalance.executor.context import ExecContext
from proxbalance.executor.live import MIGRATION_TASK_TYPES, LiveView
from proxbalance.executor.validate import validate_move
from proxbalance.pve.parse import upid_node
from proxbalance.store import Store, leases
from proxbalance.store import migrations_log as mlog

TASK_SLACK = 30.0  # seconds: a task may carry a start time this much before our intent (clock skew)
UNKNOWN_HTTP = (502, 503, 504)  # PVE (or a proxy) answers that do not say whether the call was acted on


class MigrationRefused(ProxBalanceError):
    """PVE refused the migrate call; the intent is recorded as failed."""

    status = 409
    code = "migration_refused"


def upid_type(upid: str | None) -> str:
    parts = (upid or "").split(":")
    return parts[5] if len(parts) > 6 else ""


def upid_start(upid: str | None) -> float:
    parts = (upid or "").split(":")
    try:
        return float(int(parts[4], 16))
    except (IndexError, ValueError):
        return 0.0


# -- start ------------------------------------------------------------------------------------------------------
def start_migration(ctx: ExecContext, vmid: int, target_node: str, *, source_node: str | None = None,
                    actor: str, origin: str, session_id: str | None = None, request_id: str | None = None,
                    targetstorage: str | None = None, online: bool | None = None, rollback_of: str | None = None,
                    ignore_maintenance_of: set[str] | None = None, live: LiveView | None = None) -> dict[str, Any]:
    """Validate, record, start. Returns the migration record (``migration_id``, ``upid``, ``state``, ...).

    Raises ConflictError 409 ``validation_failed`` (details: the validation) or ``migration_in_flight``,
    MigrationRefused 409 when PVE said no (the failed record is in the details), NotFoundError for an
    unknown guest/node."""
    live = live or LiveView.read(ctx.pve)
    v = validate_move(ctx, vmid, target_node, source_node=source_node, online=online, targetstorage=targetstorage,
                      ignore_maintenance_of=ignore_maintenance_of, live=live)
    if not v.passed:
        raise ConflictError(f"migration of guest {vmid} to {target_node} refused by validation: {v.reason()}",
                            code="validation_failed", details={"validation": v.to_dict()})
    plan = v.plan
    rec = mlog.insert_intent(ctx.store.engine, now=ctx.now(), vmid=vmid, guest_type=plan["guest_type"],
                             guest_name=plan["name"], source_node=plan["source_node"], target_node=target_node,
                             mode=plan["mode"], ha=plan["ha"], actor=actor, origin=origin, targetstorage=targetstorage,
                             session_id=session_id, request_id=request_id, rollback_of=rollback_of,
                             validation={**v.to_dict(), "plan": {k: plan.get(k) for k in
                                                                 ("with_local_disks", "local_disk_bytes", "mem")}},
                             predicted=plan.get("predicted"))
    mid = rec["migration_id"]
    try:
        upid = _call_pve(ctx, plan)
    except UpstreamError as exc:
        status = getattr(exc, "status_code", None)
        if status is not None and status not in UNKNOWN_HTTP:
            mlog.transition(ctx.store.engine, mid, now=ctx.now(), state="failed", expect=("pending",),
                            error=exc.message, finished_at=ctx.now(), detail=f"PVE refused: {exc.message}")
            raise MigrationRefused(f"Proxmox VE refused the migration of guest {vmid}: {exc.message}",
                                   details={"migration": mlog.get(ctx.store.engine, mid)}) from None
        mlog.transition(ctx.store.engine, mid, now=ctx.now(), state="unknown", expect=("pending",),
                        error=exc.message, detail=f"outcome of the migrate call unknown: {exc.message}")
        with contextlib.suppress(ProxBalanceError):
            _resolve_untracked(ctx, mlog.get(ctx.store.engine, mid), LiveView.read(ctx.pve))
        return mlog.get(ctx.store.engine, mid)
    _adopt(ctx, mid, upid, expect=("pending", "unknown", "failed"))
    return mlog.get(ctx.store.engine, mid)


def _call_pve(ctx: ExecContext, plan: dict[str, Any]) -> str:
    """The one migrate call. An HA guest's call makes PVE answer a ``hamigrate`` task that files the request
    with the HA manager (the HA stack moves it); other guests get their qmigrate/vzmigrate task directly."""
    if plan["guest_type"] == "qemu":
        return ctx.pve.migrate(plan["source_node"], "qemu", plan["vmid"], plan["target_node"],
                               online=plan["mode"] == "online",
                               with_local_disks=bool(plan.get("with_local_disks")) and plan["mode"] == "online",
                               targetstorage=plan.get("targetstorage"))
    return ctx.pve.migrate(plan["source_node"], "lxc", plan["vmid"], plan["target_node"],
                           restart=plan["mode"] == "restart", targetstorage=plan.get("targetstorage"),
                           timeout=int(ctx.settings["executor.ct_restart_timeout"]))


def _adopt(ctx: ExecContext, mid: str, upid: str, expect: tuple[str, ...]) -> bool:
    now = ctx.now()
    if upid_type(upid) == "hamigrate":
        return mlog.transition(ctx.store.engine, mid, now=now, state="started", expect=expect, request_upid=upid,
                               started_at=now, error=None, detail=f"HA request {upid}")
    return mlog.transition(ctx.store.engine, mid, now=now, state="started", expect=expect, upid=upid,
                           started_at=now, error=None, detail=f"task {upid}")


# -- follow ------------------------------------------------------------------------------------------------------
def refresh(ctx: ExecContext, migration_id: str, live: LiveView | None = None) -> dict[str, Any]:
    """Poll PVE for one migration and move it on; returns the record. Poll errors leave the state as it is
    (``poll_error`` in the answer): a 500 on task status or an unreachable node never decides an outcome."""
    eng = ctx.store.engine
    rec = mlog.get(eng, migration_id)
    if rec["state"] not in mlog.ACTIVE_STATES:
        return rec
    try:
        if rec["state"] in ("pending", "unknown"):
            _resolve_untracked(ctx, rec, live or LiveView.read(ctx.pve))
        elif rec["upid"] is None:
            _follow_ha(ctx, rec, live or LiveView.read(ctx.pve))
        else:
            _poll_task(ctx, rec)
    except UpstreamError as exc:
        out = mlog.get(eng, migration_id)
        out["poll_error"] = exc.message
        return out
    return mlog.get(eng, migration_id)


def _poll_task(ctx: ExecContext, rec: dict[str, Any]) -> None:
    eng, upid = ctx.store.engine, rec["upid"]
    node = upid_node(upid) or rec["source_node"]
    status = ctx.pve.task_status(node, upid)
    p = rec["progress"] or {}
    lines = ctx.pve.task_log(node, upid, start=int(p.get("log_lines", 0)), limit=1000)
    p = prog.update(p, [str(x.get("t", "")) for x in lines])
    now = ctx.now()
    if status.running:
        mlog.transition(eng, rec["migration_id"], now=now, expect=("started",), progress=p)
        return
    if status.ok:
        mlog.transition(eng, rec["migration_id"], now=now, state="completed", expect=("started",), progress=p,
                        finished_at=now, detail="task OK")
        return
    text = status.exitstatus or "task failed"
    cancelled = rec["cancel_requested"] or "interrupted" in (p.get("last_line") or "") or "interrupt" in text
    mlog.transition(eng, rec["migration_id"], now=now, state="cancelled" if cancelled else "failed",
                    expect=("started",), progress=p, finished_at=now, error=p.get("error") or text,
                    detail=f"task ended: {text}")


def _follow_ha(ctx: ExecContext, rec: dict[str, Any], live: LiveView) -> None:
    """An HA request: find the migration task the HA manager started for it, or resolve from the location."""
    since = upid_start(rec["request_upid"]) or rec["started_at"] or rec["created_at"]
    request = next((t for t in live.tasks if t.get("upid") == rec["request_upid"]), None)
    if request is not None and request.get("status") not in (None, "OK"):
        mlog.transition(ctx.store.engine, rec["migration_id"], now=ctx.now(), state="failed", expect=("started",),
                        finished_at=ctx.now(), error=str(request.get("status")),
                        detail=f"HA request failed: {request.get('status')}")
        return
    task = _find_task(ctx, live, rec, since, types=("qmigrate", "vzmigrate"))
    if task is not None:
        mlog.transition(ctx.store.engine, rec["migration_id"], now=ctx.now(), expect=("started",),
                        upid=task["upid"], detail=f"HA manager started {task['upid']}")
        _poll_task(ctx, mlog.get(ctx.store.engine, rec["migration_id"]))
        return
    if ctx.now() - since > float(ctx.settings["executor.ha_follow_timeout_seconds"]):
        _from_location(ctx, rec, live, why="the HA manager started no migration task")


def _find_task(ctx: ExecContext, live: LiveView, rec: dict[str, Any], since: float,
               types: tuple[str, ...] = MIGRATION_TASK_TYPES) -> dict[str, Any] | None:
    """The earliest migration task of this guest started since ``since`` that no other intent has claimed."""
    cands = sorted((t for t in live.tasks if str(t.get("id")) == str(rec["vmid"]) and t.get("type") in types
                    and float(t.get("starttime", 0)) >= since - TASK_SLACK), key=lambda t: float(t["starttime"]))
    for t in cands:
        other = mlog.by_upid(ctx.store.engine, t["upid"])
        if other is None or other["migration_id"] == rec["migration_id"]:
            return t
    return None


def _resolve_untracked(ctx: ExecContext, rec: dict[str, Any], live: LiveView) -> None:
    """A pending/unknown intent: adopt the task PVE started for it, or decide from the guest's location."""
    task = _find_task(ctx, live, rec, rec["created_at"])
    if task is not None:
        if _adopt(ctx, rec["migration_id"], task["upid"], expect=("pending", "unknown")):
            refreshed = mlog.get(ctx.store.engine, rec["migration_id"])
            if refreshed["upid"]:
                _poll_task(ctx, refreshed)
            else:
                _follow_ha(ctx, refreshed, live)
        return
    if ctx.now() - rec["created_at"] > float(ctx.settings["executor.intent_grace_seconds"]):
        _from_location(ctx, rec, live, why="no migration task was found for it")


def _from_location(ctx: ExecContext, rec: dict[str, Any], live: LiveView, *, why: str) -> None:
    g = live.guests.get(rec["vmid"])
    now = ctx.now()
    if g is not None and g.node == rec["target_node"]:
        mlog.transition(ctx.store.engine, rec["migration_id"], now=now, state="completed",
                        expect=mlog.ACTIVE_STATES, finished_at=now,
                        detail=f"resolved from location: guest is on {g.node} ({why})")
    else:
        where = g.node if g else "nowhere (guest gone)"
        mlog.transition(ctx.store.engine, rec["migration_id"], now=now, state="failed", expect=mlog.ACTIVE_STATES,
                        finished_at=now, error=f"not migrated: {why}; guest is on {where}",
                        detail=f"resolved from location: guest is on {where} ({why})")


def reconcile(ctx: ExecContext) -> list[dict[str, Any]]:
    """Resolve every active intent against the cluster (one live read for all). Returns the records that
    were active before, as they are now."""
    out: list[dict[str, Any]] = []
    if not mlog.active(ctx.store.engine):
        return out
    try:
        with leases.holding(ctx.store.engine, "executor.reconcile", ttl_seconds=120):
            live = LiveView.read(ctx.pve)
            for rec in mlog.active(ctx.store.engine):
                out.append(refresh(ctx, rec["migration_id"], live=live))
    except ConflictError as exc:
        if not (isinstance(exc.details, dict) and exc.details.get("lease") == "executor.reconcile"):
            raise
        # another worker is reconciling right now; its conditional updates and ours never clash, and an
        # unresolved intent still blocks its guest through the unique index
    return out


# -- control -----------------------------------------------------------------------------------------------------
def find(store: Store, ref: str) -> dict[str, Any]:
    """A migration by its id or by its (or its HA request's) UPID; NotFoundError otherwise."""
    if ref.startswith("UPID:"):
        if upid_node(ref) is None:
            raise ValidationError(f"malformed UPID {ref!r}", details={"field": "task_id"})
        rec = mlog.by_upid(store.engine, ref)
        if rec is None:
            from proxbalance.errors import NotFoundError
            raise NotFoundError(f"no ProxBalance migration has task {ref}", code="migration_not_found")
        return rec
    return mlog.get(store.engine, ref)


def cancel(ctx: ExecContext, ref: str, *, actor: str) -> dict[str, Any]:
    """Stop a running migration's task (``DELETE /nodes/{n}/tasks/{upid}``) and record it as cancelled."""
    rec = find(ctx.store, ref)
    if rec["state"] not in mlog.ACTIVE_STATES:
        raise ConflictError(f"migration {rec['migration_id']} is already {rec['state']}", code="not_running",
                            details={"migration": rec})
    rec = refresh(ctx, rec["migration_id"])
    if rec["state"] != "started" or not (rec["upid"] or rec["request_upid"]):
        raise ConflictError(f"migration {rec['migration_id']} has no running task to stop ({rec['state']})",
                            code="not_cancellable", details={"migration": rec})
    upid = rec["upid"] or rec["request_upid"]
    mlog.transition(ctx.store.engine, rec["migration_id"], now=ctx.now(), expect=("started",), cancel_requested=True,
                    detail=f"cancel requested by {actor}")
    ctx.pve.stop_task(upid_node(upid) or rec["source_node"], upid)
    return refresh(ctx, rec["migration_id"])


def wait(ctx: ExecContext, migration_id: str, *, timeout: float = 3600.0, on_poll=None) -> dict[str, Any]:
    """Refresh until the migration is final (or ``timeout`` executor-clock seconds pass)."""
    start = ctx.now()
    rec = refresh(ctx, migration_id)
    while rec["state"] in mlog.ACTIVE_STATES and ctx.now() - start < timeout:
        ctx.sleep(float(ctx.settings["executor.poll_interval_seconds"]))
        rec = refresh(ctx, migration_id)
        if on_poll:
            on_poll(rec)
    return rec


def status_of(ctx: ExecContext, rec: dict[str, Any]) -> dict[str, Any]:
    return {**prog.summary(rec["progress"], state=rec["state"], started_at=rec["started_at"],
                           finished_at=rec["finished_at"], now=ctx.now()),
            "migration_id": rec["migration_id"], "upid": rec["upid"], "vmid": rec["vmid"],
            "source_node": rec["source_node"], "target_node": rec["target_node"], "error": rec["error"]}


# -- reads -------------------------------------------------------------------------------------------------------
def list_migrations(store: Store, *, vmid: int | None = None, origin: str | None = None, since: float | None = None,
                    until: float | None = None, states=None, limit: int = 100, offset: int = 0):
    """(rows, total) newest first."""
    return mlog.query(store.engine, vmid=vmid, origin=origin, since=since, until=until, states=states,
                      limit=limit, offset=offset)


def active_migrations(store: Store) -> list[dict[str, Any]]:
    return mlog.active(store.engine)
