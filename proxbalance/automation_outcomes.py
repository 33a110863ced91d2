"""Outcomes of earlier automation migrations: follow them, notify how they ended, count failures, pause.

Called at the start of every real cycle (never by a test cycle). Consecutive failures are counted over the
automation migrations that ended after the last resume; ``automation.pause_after_failures`` of them in a row
pauses automation, recorded in the store (``automation_state`` key ``paused``) until an admin resumes it.
"""

from __future__ import annotations

import logging
from typing import Any

from proxbalance import notify
from proxbalance import notify_messages as msg
from proxbalance.errors import ProxBalanceError
from proxbalance.executor.context import ExecContext
from proxbalance.executor.migrations import active_migrations, list_migrations, reconcile, refresh
from proxbalance.store.automation import get_state, set_state

log = logging.getLogger(__name__)
ORIGIN = "automation"


def follow(ctx: ExecContext) -> None:
    """Move every active migration on (reconcile intents, poll tasks); PVE errors are logged, not raised."""
    if not active_migrations(ctx.store):
        return
    try:
        reconcile(ctx)
        for rec in active_migrations(ctx.store):
            refresh(ctx, rec["migration_id"])
    except ProxBalanceError as exc:
        log.warning("following migrations failed: %s", exc.message)


def _cand(r: dict[str, Any]) -> dict[str, Any]:
    return {"vmid": r["vmid"], "name": r.get("guest_name"), "type": "VM" if r.get("guest_type") == "qemu" else "CT",
            "source_node": r["source_node"], "target_node": r["target_node"]}


def notify_finished(ctx: ExecContext, since: float) -> None:
    """migration_completed / migration_failed for automation migrations that ended (once each: keyed by id)."""
    rows, _ = list_migrations(ctx.store, origin=ORIGIN, since=since, states=("completed", "failed", "cancelled"),
                              limit=None)
    for r in rows:
        if r["state"] == "completed":
            took = (r["finished_at"] - r["started_at"]) if r.get("finished_at") and r.get("started_at") else None
            title, body = msg.migration_completed(_cand(r), took)
            notify.notify(ctx.settings, ctx.store, "migration_completed", f"migration_completed:{r['migration_id']}",
                          title, body, level="success", now=ctx.now())
        else:
            title, body = msg.migration_failed(_cand(r), r.get("error") or r["state"])
            notify.notify(ctx.settings, ctx.store, "migration_failed", f"migration_failed:{r['migration_id']}",
                          title, body, level="failure", now=ctx.now())


def consecutive_failures(ctx: ExecContext) -> tuple[int, str]:
    """(failed automation migrations in a row, newest first, since the last resume; the newest error)."""
    resumed = float(get_state(ctx.store.engine, "resumed_at", 0.0) or 0.0)
    rows, _ = list_migrations(ctx.store, origin=ORIGIN, since=resumed,
                              states=("completed", "failed", "cancelled"), limit=200)
    rows.sort(key=lambda r: r.get("finished_at") or r["created_at"], reverse=True)
    n, last = 0, ""
    for r in rows:
        if r["state"] == "completed":
            break
        n += 1
        last = last or (r.get("error") or r["state"])
    return n, last


def check_pause(ctx: ExecContext) -> dict[str, Any] | None:
    """Pause when the failure streak reaches the limit; returns the paused record (or None when running)."""
    paused = get_state(ctx.store.engine, "paused")
    if paused:
        return paused
    n, last = consecutive_failures(ctx)
    limit = ctx.settings["automation.pause_after_failures"]
    if n < limit:
        return None
    paused = {"since": ctx.now(), "failures": n, "reason": f"{n} consecutive failed migrations (last: {last})"}
    set_state(ctx.store.engine, "paused", paused)
    title, body = msg.automation_paused(n, last)
    notify.notify(ctx.settings, ctx.store, "automation_paused", f"automation_paused:{paused['since']:.0f}",
                  title, body, level="failure", now=ctx.now())
    return paused


def resume(store, now: float) -> None:
    """Admin resume: clear the pause and forget failures before now."""
    set_state(store.engine, "paused", None)
    set_state(store.engine, "resumed_at", now)
