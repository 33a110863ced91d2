"""Automation: status, logs (every candidate's verdict), run a cycle, a test cycle, configuration, the timer.

The migration history (``GET /api/automigrate/history``) is the executor's (routes_migrate): automation's
migrations are those with ``origin=automation``.
"""

from __future__ import annotations

import time
from typing import Any

from flask import Blueprint, current_app
from pydantic import BaseModel, ConfigDict, Field

from proxbalance import automation_config as acfg
from proxbalance import automation_timer as timer
from proxbalance.api.endpoint import endpoint
from proxbalance.api.models import StrictModel, VmId
from proxbalance.api.state import state
from proxbalance.automation import LEASE, run_cycle
from proxbalance.automation_outcomes import resume
from proxbalance.executor.context import ExecContext
from proxbalance.executor.migrations import list_migrations
from proxbalance.store import automation as repo

bp = Blueprint("automation", __name__)


class Open(BaseModel):
    model_config = ConfigDict(extra="allow")
    success: bool


class StatusResponse(Open):
    enabled: bool
    dry_run: bool
    paused: dict[str, Any] | None
    running: dict[str, Any] | None = Field(description="the cycle lease while a cycle runs")
    timer: dict[str, Any] = Field(description="mode (systemd | in_process), enabled, next_run")
    next_run: str | None
    last_cycle: dict[str, Any] | None
    counts: dict[str, int]
    recent_migrations: list[dict[str, Any]]


class CycleResponse(Open):
    cycle_id: int
    mode: str = Field(description="live | dry_run | test")
    status: str
    summary: dict[str, Any]
    verdicts: list[dict[str, Any]]


class LogsQuery(StrictModel):
    limit: int = Field(100, ge=1, le=1000)
    offset: int = Field(0, ge=0)
    cycle_id: int | None = Field(None, ge=1)
    vmid: VmId | None = None
    verdict: str | None = Field(None, pattern="^(executed|dry_run|blocked|failed)$")


class RunBody(StrictModel):
    dry_run: bool | None = Field(None, description="force a dry run (true); omitted = automation.dry_run")


class ConfigBody(BaseModel):
    """Dotted setting names (automation.*, notifications.*) with new values (null = back to the file's), and
    ``resume: true`` to lift a pause after failures."""

    model_config = ConfigDict(extra="allow")
    resume: bool | None = None


class ToggleBody(StrictModel):
    enabled: bool | None = Field(None, description="true/false; omitted = flip")


def _ctx() -> ExecContext:
    st = state()
    pve = st.cache.get("automation_pve")
    if pve is None:
        from proxbalance.pve.client import PveClient
        pve = st.cache["automation_pve"] = PveClient(st.settings)
    ctx = ExecContext(store=st.store, settings=st.settings, pve=pve, clock=st.clock)
    if "executor_sleep" in st.cache:
        ctx.sleep = st.cache["executor_sleep"]
    return ctx


@endpoint(bp, "GET", "/api/automigrate/status", response=StatusResponse,
          summary="Automation status: enabled, dry run, paused, timer and next run, last cycle, counts, recent moves.")
def status():
    from proxbalance.store.leases import current

    st = state()
    s = acfg.effective(st.settings, st.store)
    day = st.clock() - 86400
    rows, _ = repo.verdicts(st.store.engine, since=day, limit=100000)
    counts = {k: sum(r["verdict"] == k for r in rows) for k in ("executed", "dry_run", "blocked", "failed")}
    counts["cycles_total"] = repo.cycles(st.store.engine, limit=1)[1]
    recent, _ = list_migrations(st.store, origin="automation", limit=10)
    t = timer.status(current_app)
    return {"enabled": s["automation.enabled"], "dry_run": s["automation.dry_run"],
            "paused": repo.get_state(st.store.engine, "paused"), "running": current(st.store.engine, LEASE),
            "timer": t, "next_run": t.get("next_run"), "last_cycle": repo.last_cycle(st.store.engine),
            "counts": counts, "recent_migrations": recent}


@endpoint(bp, "GET", "/api/automigrate/logs", query=LogsQuery, response=Open,
          summary="Automation log: every candidate's verdict per cycle (executed, or the gate that stopped it).")
def logs(query: LogsQuery):
    from proxbalance.notify import sent

    st = state()
    entries, total = repo.verdicts(st.store.engine, cycle_id=query.cycle_id, vmid=query.vmid,
                                   verdict=query.verdict, limit=query.limit, offset=query.offset)
    cycles, _ = repo.cycles(st.store.engine, limit=20)
    return {"entries": entries, "total_count": total, "count": len(entries), "cycles": cycles,
            "notifications": sent(st.store, limit=20)}


@endpoint(bp, "POST", "/api/automigrate/run", body=RunBody, response=CycleResponse,
          summary="Run one automation cycle now (real: migrates when enabled and not in dry run); 409 if one runs.")
def run(body: RunBody):
    st = state()
    return run_cycle(st.settings, st.store, trigger="api", dry_run=True if body.dry_run else None, ctx=_ctx())


@endpoint(bp, "POST", "/api/automigrate/test", response=CycleResponse,
          summary="A test cycle: every gate evaluated and recorded, nothing started or changed, whatever the config.")
def test():
    st = state()
    return run_cycle(st.settings, st.store, trigger="api", test=True, ctx=_ctx())


@endpoint(bp, "GET", "/api/automigrate/config", response=Open,
          summary="Automation and notification settings in force (secrets redacted) and where each comes from.")
def get_config():
    st = state()
    return {**acfg.redacted(st.settings, st.store), "paused": repo.get_state(st.store.engine, "paused")}


@endpoint(bp, "POST", "/api/automigrate/config", body=ConfigBody, response=Open,
          summary="Change automation/notification settings (validated; redacted secrets kept) or resume.")
def post_config(body: ConfigBody):
    st = state()
    changes = dict(body.model_extra or {})
    if changes:
        out = acfg.update(st.settings, st.store, changes)
    else:
        out = acfg.redacted(st.settings, st.store)
    if body.resume:
        resume(st.store, st.clock())
    elif not changes:
        from proxbalance.errors import ValidationError
        raise ValidationError("give settings to change or resume: true", details={"field": "body"})
    return {**out, "paused": repo.get_state(st.store.engine, "paused"), "updated_at": time.time()}


@endpoint(bp, "POST", "/api/automigrate/toggle-timer", body=ToggleBody, response=Open,
          summary="Switch the automation timer on/off: the systemd timer where systemd runs ProxBalance, else the "
                  "in-process job; says which.")
def toggle_timer(body: ToggleBody):
    return {"timer": timer.toggle(current_app, body.enabled)}
