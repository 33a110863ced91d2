"""One automation cycle: refresh, plan, gate, execute, record, notify.

``run_cycle(settings, store, ...)``:

1. takes the store lease ``automation-cycle`` (409 :class:`ConflictError` when another cycle holds it, from
   this process, a worker or another host); a crashed cycle's lease expires after ``automation.lease_seconds``
   and its cycle row is marked ``crashed`` by the next one;
2. follows earlier migrations (executor reconcile/refresh), notifies how they ended, pauses after
   ``automation.pause_after_failures`` failures in a row;
3. collects first when the newest snapshot is older than ``automation.refresh_after_seconds``;
4. plans on the snapshot (engine), reads the cluster live (executor ``LiveView``: 4 calls), gathers facts;
5. passes every candidate through every gate (``automation_gates``), affinity companions and swap halves
   as one unit; evacuations first;
6. starts what passed through the executor (never in dry run or test), one verdict per candidate;
7. records the cycle and notifies (``migration_started``, ``cycle_summary``).

Modes: ``live`` (automation.dry_run false), ``dry_run`` (gates and records, starts nothing) and ``test``
(``POST /api/automigrate/test``): a dry cycle whatever the config that also leaves the observation streaks,
pause state and notifications alone.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

from proxbalance import notify
from proxbalance import notify_messages as msg
from proxbalance.automation_config import effective
from proxbalance.automation_facts import (
    candidates,
    guest_count_candidates,
    live_snapshot,
    past_moves,
    plan,
    running_migration_tasks,
)
from proxbalance.automation_gates import Candidate, Facts, Verdict, evaluate
from proxbalance.automation_outcomes import check_pause, follow, notify_finished
from proxbalance.config import Settings
from proxbalance.errors import ConflictError, ProxBalanceError
from proxbalance.executor.context import ExecContext
from proxbalance.executor.live import LiveView
from proxbalance.executor.migrations import active_migrations, start_migration
from proxbalance.store import Store
from proxbalance.store import automation as repo

log = logging.getLogger(__name__)
LEASE = "automation-cycle"
ORIGIN = "automation"


@contextlib.contextmanager
def _lease(store: Store, ttl: float):
    """Hold the cycle lease (renewed in the background); 409 ``cycle_running`` when someone else has it."""
    from proxbalance.store import leases

    holder = leases.default_holder()
    if not leases.acquire(store.engine, LEASE, holder, ttl):
        raise ConflictError("another automation cycle is running", code="cycle_running",
                            details={"lease": LEASE, "holder": (leases.current(store.engine, LEASE) or {}).get("holder")})
    with leases.holding(store.engine, LEASE, ttl_seconds=ttl, holder=holder):  # same holder: renews
        yield


def run_cycle(settings: Settings, store: Store, *, trigger: str = "cli", test: bool = False,
              dry_run: bool | None = None, clock: Callable[[], float] | None = None,
              ctx: ExecContext | None = None) -> dict[str, Any]:
    """Run one cycle; returns its record (``cycle_id``, ``mode``, ``status``, ``summary``, ``verdicts``)."""
    settings = effective(settings, store)
    ctx = ctx or ExecContext.from_settings(settings, store, clock=clock or time.time)
    ctx.settings = settings
    mode = "test" if test else "dry_run" if (settings["automation.dry_run"] if dry_run is None else dry_run) \
        else "live"
    with _lease(store, settings["automation.lease_seconds"]):
        repo.abandon_running(store.engine, now=ctx.now())
        cycle_id = repo.start_cycle(store.engine, now=ctx.now(), mode=mode, trigger=trigger)
        try:
            summary, rows = _cycle(ctx, cycle_id, mode)
        except Exception as exc:
            text = exc.message if isinstance(exc, ProxBalanceError) else f"{type(exc).__name__}: {exc}"
            repo.finish_cycle(store.engine, cycle_id, now=ctx.now(), status="error", summary={}, error=text)
            raise
        status = "ok" if summary["candidates"] else "idle"
        repo.finish_cycle(store.engine, cycle_id, now=ctx.now(), status=status, summary=summary)
    if mode != "test" and (summary["executed"] or summary["failed"] or settings["notifications.summary_when_idle"]):
        title, body = msg.cycle_summary({**summary, "cycle_id": cycle_id, "dry_run": mode != "live"})
        notify.notify(settings, store, "cycle_summary", f"cycle_summary:{cycle_id}", title, body, now=ctx.now())
    return {"cycle_id": cycle_id, "mode": mode, "status": status, "summary": summary, "verdicts": rows}


def _refresh_if_stale(ctx: ExecContext) -> bool:
    from proxbalance.collector import collect_once
    from proxbalance.store.snapshots import latest_snapshot

    snap = latest_snapshot(ctx.store.engine)
    if snap is not None and ctx.now() - snap.time <= ctx.settings["automation.refresh_after_seconds"]:
        return False
    from proxbalance.pve.client import PveClient
    client = ctx.pve if isinstance(ctx.pve, PveClient) else None
    collect_once(ctx.settings, ctx.store, client=client, now=ctx.now())
    return True


def _cycle(ctx: ExecContext, cycle_id: int, mode: str) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    s, store, now = ctx.settings, ctx.store, ctx.now()
    lookback = max(s["automation.cooldown_lookback_hours"], s["automation.no_return_hours"]) * 3600
    paused = repo.get_state(store.engine, "paused")
    if mode != "test":
        follow(ctx)
        notify_finished(ctx, since=now - lookback)
        paused = check_pause(ctx)
    refreshed = _refresh_if_stale(ctx)
    result, snap, flagged = plan(s, store)
    live = LiveView.read(ctx.pve)
    live_snap = live_snapshot(live, now, flagged)
    maint = {n.name for n in live_snap.nodes if n.maintenance} | {n.name for n in snap.nodes if n.maintenance}
    cands = candidates(result["recommendations"], maint)
    cands += guest_count_candidates(live_snap, s, {c.vmid for c in cands})
    old = repo.streaks(store.engine)
    new = repo.next_streaks(old, {c.vmid: c.target for c in cands}, cycle_id=cycle_id,
                            previous_cycle=repo.previous_cycle_id(store.engine, cycle_id), now=now)
    if mode != "test":
        repo.save_streaks(store.engine, new)
    evac_running = any(r.get("origin") == "evacuation" for r in active_migrations(store))
    facts = Facts(now=now, snapshot=live_snap, snapshot_age=now - snap.time,
                  cluster_options=_options(ctx), running_migrations=running_migration_tasks(live),
                  streaks=new, moves=past_moves(store, now - lookback), paused=paused,
                  maintenance_nodes=frozenset(maint),
                  evacuating=evac_running or any(c.kind == "evacuation" for c in cands),
                  ha_states={g.vmid: g.ha_state for g in live.guests.values() if g.ha_state})
    ctx.extra["automation_live"] = live  # the first start reuses this read; later ones read again
    rows = _decide(ctx, cycle_id, mode, cands, facts)
    repo.add_verdicts(store.engine, rows)
    by_gate = Counter(r["gate"] for r in rows if r["verdict"] == "blocked")
    summary = {
        "started_at": now, "refreshed": refreshed, "snapshot_time": snap.time, "candidates": len(rows),
        "executed": sum(r["verdict"] == "executed" for r in rows),
        "would_execute": sum(r["verdict"] == "dry_run" for r in rows),
        "failed": sum(r["verdict"] == "failed" for r in rows),
        "blocked": sum(r["verdict"] == "blocked" for r in rows), "by_gate": dict(by_gate),
        "spread_before": _spread(result["batch_impact"].get("before")),
        "spread_after": _spread(result["batch_impact"].get("after")),
        "conflicts": [v for v in {_crs_note(facts)} if v],
        "moves": [{k: r[k] for k in ("vmid", "source_node", "target_node", "verdict")} for r in rows
                  if r["verdict"] in ("executed", "dry_run", "failed")],
    }
    return summary, rows


def _options(ctx: ExecContext) -> dict[str, Any]:
    try:
        return ctx.pve.cluster_options()
    except ProxBalanceError as exc:  # an unreadable option is no reason to stop; CRS then counts as unknown
        log.warning("cannot read /cluster/options: %s", exc.message)
        return {}


def _crs_note(f: Facts) -> str | None:
    from proxbalance.automation_gates import crs_rebalancing
    return crs_rebalancing(f.cluster_options)


def _spread(stats: dict[str, Any] | None) -> dict[str, Any]:
    stats = stats or {}
    return {k: stats.get(k) for k in ("cpu_std_pct", "mem_std_pct", "cpu_max_pct", "mem_max_pct")}


def _units(cands: list[Candidate]) -> list[list[Candidate]]:
    """Candidates grouped so a lead, its affinity companions and its swap partner go (or stay) together."""
    by_vmid = {c.vmid: c for c in cands}
    root: dict[int, int] = {}

    def find(v: int) -> int:
        while root.get(v, v) != v:
            v = root[v]
        return v

    for c in cands:
        for other in (c.companion_of, c.swap_with):
            if other is not None and other in by_vmid:
                root[find(c.vmid)] = find(other)
    groups: dict[int, list[Candidate]] = {}
    for c in cands:
        groups.setdefault(find(c.vmid), []).append(c)
    return list(groups.values())


def _row(cycle_id: int, now: float, c: Candidate, verdict: str, v: Verdict | None, reason: str,
         fired: list[Verdict] = (), migration_id: str | None = None) -> dict[str, Any]:
    return {"cycle_id": cycle_id, "time": now, "vmid": c.vmid, "source_node": c.source, "target_node": c.target,
            "verdict": verdict, "gate": v.gate if v else None, "reason": reason, "migration_id": migration_id,
            "detail": {"kind": c.kind, "confidence": c.confidence, "plan_reason": c.reason,
                       "gates": [{"gate": f.gate, "reason": f.reason} for f in fired]}}


def _decide(ctx: ExecContext, cycle_id: int, mode: str, cands: list[Candidate], f: Facts) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for unit in _units(cands):
        fired = {c.vmid: evaluate(c, f, ctx.settings) for c in unit}
        # a unit needs room for all of its members in this cycle's limits
        room = min(ctx.settings["automation.max_migrations_per_run"] - f.started,
                   ctx.settings["automation.max_concurrent"] - f.running_migrations - f.started)
        blocked = [c for c in unit if fired[c.vmid]]
        if not blocked and len(unit) > room:
            for c in unit:
                v = Verdict("max_per_cycle", f"unit of {len(unit)} moves (affinity/swap) needs {len(unit)} "
                                             f"slots; {max(room, 0)} left in this cycle")
                rows.append(_row(cycle_id, f.now, c, "blocked", v, v.reason, [v]))
            continue
        if blocked:
            first = blocked[0]
            for c in unit:
                if fired[c.vmid]:
                    v = fired[c.vmid][0]
                    rows.append(_row(cycle_id, f.now, c, "blocked", v, v.reason, fired[c.vmid]))
                else:
                    v = Verdict("affinity", f"moves together with {first.vmid}, which {fired[first.vmid][0].gate} "
                                            f"stopped: {fired[first.vmid][0].reason}")
                    rows.append(_row(cycle_id, f.now, c, "blocked", v, v.reason, [v]))
            continue
        for c in unit:
            rows.append(_execute(ctx, cycle_id, mode, c, f))
    return rows


def _execute(ctx: ExecContext, cycle_id: int, mode: str, c: Candidate, f: Facts) -> dict[str, Any]:
    g = f.snapshot.guest(c.vmid)
    load = [g.cpu * g.maxcpu, float(g.mem)] if g else [0.0, 0.0]
    if mode != "live":
        f.started += 1
        f.added.setdefault(c.target, [0.0, 0.0])
        f.added[c.target] = [a + b for a, b in zip(f.added[c.target], load, strict=True)]
        why = "test cycle: every gate passed, nothing started" if mode == "test" else \
            "dry run: every gate passed, nothing started (automation.dry_run)"
        return _row(cycle_id, f.now, c, "dry_run", None, why)
    try:
        rec = start_migration(ctx, c.vmid, c.target, source_node=c.source, actor="automation", origin=ORIGIN,
                              session_id=f"cycle-{cycle_id}", live=ctx.extra.pop("automation_live", None))
    except ProxBalanceError as exc:
        ctx.extra.pop("automation_live", None)
        return _row(cycle_id, f.now, c, "failed", Verdict("executor", exc.message), exc.message,
                    [Verdict("executor", exc.message)])
    f.started += 1
    f.added[c.target] = [a + b for a, b in zip(f.added.get(c.target, [0.0, 0.0]), load, strict=True)]
    title, body = msg.migration_started({**c.rec, "type": c.rec.get("type", "guest")})
    notify.notify(ctx.settings, ctx.store, "migration_started", f"migration_started:{rec['migration_id']}",
                  title, body, now=f.now)
    state = rec.get("state")
    if state == "failed":
        return _row(cycle_id, f.now, c, "failed", Verdict("executor", rec.get("error") or "failed"),
                    rec.get("error") or "failed", migration_id=rec["migration_id"])
    return _row(cycle_id, f.now, c, "executed", None, f"migration {rec['migration_id']} {state}",
                migration_id=rec["migration_id"])
