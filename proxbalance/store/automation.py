"""Automation's tables: cycles, one verdict per candidate per cycle, observation streaks, and a small
key/value state (paused, failure count, config overrides, in-process timer). Migration ``0007_automation``
creates them together with the notification tables (``proxbalance.notify``).

Times are Unix seconds (the cycle's clock, which is the simulator's in tests and the demo).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Column, Engine, Float, Index, Integer, String, Table, Text, func, select

from proxbalance.store.schema import metadata

automation_cycles = Table(
    "automation_cycles", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("started_at", Float, nullable=False),
    Column("finished_at", Float),  # None while running (or when the process died: see status)
    Column("mode", String(10), nullable=False),  # live | dry_run | test
    Column("trigger", String(20), nullable=False),  # timer | api | cli | scheduler | bench
    Column("status", String(20), nullable=False),  # running | ok | idle | error
    Column("summary", Text),  # JSON: counts, by_gate, spreads, notes
    Column("error", Text),
)

automation_verdicts = Table(
    "automation_verdicts", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("cycle_id", Integer, nullable=False),
    Column("time", Float, nullable=False),
    Column("vmid", Integer, nullable=False),
    Column("source_node", String(64), nullable=False),
    Column("target_node", String(64), nullable=False),
    Column("verdict", String(20), nullable=False),  # executed | dry_run | blocked | failed
    Column("gate", String(40)),  # the gate that stopped it (blocked/failed)
    Column("reason", Text, nullable=False),
    Column("migration_id", String(64)),
    Column("detail", Text),  # JSON: confidence, every failing gate, candidate kind
)
Index("ix_verdicts_cycle", automation_verdicts.c.cycle_id)
Index("ix_verdicts_vmid_time", automation_verdicts.c.vmid, automation_verdicts.c.time)

automation_streaks = Table(
    "automation_streaks", metadata,
    Column("vmid", Integer, primary_key=True),
    Column("target_node", String(64), nullable=False),
    Column("count", Integer, nullable=False),  # consecutive cycles recommending vmid -> target
    Column("first_seen", Float, nullable=False),
    Column("last_cycle_id", Integer, nullable=False),
)

automation_state = Table(
    "automation_state", metadata,
    Column("key", String(60), primary_key=True),
    Column("value", Text, nullable=False),  # JSON
)

TABLES = (automation_cycles, automation_verdicts, automation_streaks, automation_state)


@dataclass(frozen=True)
class Streak:
    vmid: int
    target_node: str
    count: int
    first_seen: float
    last_cycle_id: int


# --- key/value state ---------------------------------------------------------------------------------------

def get_state(engine: Engine, key: str, default: Any = None) -> Any:
    with engine.connect() as conn:
        row = conn.execute(select(automation_state.c.value).where(automation_state.c.key == key)).first()
    return default if row is None else json.loads(row[0])


def set_state(engine: Engine, key: str, value: Any, conn=None) -> None:
    def write(c) -> None:
        t = automation_state
        if c.execute(select(t.c.key).where(t.c.key == key)).first():
            c.execute(t.update().where(t.c.key == key).values(value=json.dumps(value)))
        else:
            c.execute(t.insert().values(key=key, value=json.dumps(value)))
    if conn is not None:
        write(conn)
        return
    with engine.begin() as c:
        write(c)


# --- cycles ------------------------------------------------------------------------------------------------

def start_cycle(engine: Engine, *, now: float, mode: str, trigger: str) -> int:
    with engine.begin() as conn:
        return conn.execute(automation_cycles.insert().values(started_at=now, mode=mode, trigger=trigger,
                                                              status="running")).inserted_primary_key[0]


def finish_cycle(engine: Engine, cycle_id: int, *, now: float, status: str, summary: dict[str, Any],
                 error: str | None = None) -> None:
    with engine.begin() as conn:
        conn.execute(automation_cycles.update().where(automation_cycles.c.id == cycle_id).values(
            finished_at=now, status=status, summary=json.dumps(summary), error=error))


def abandon_running(engine: Engine, *, now: float) -> int:
    """Mark cycles still 'running' as 'crashed' (called while holding the lease: none can really run)."""
    t = automation_cycles
    with engine.begin() as conn:
        return conn.execute(t.update().where(t.c.status == "running").values(
            status="crashed", finished_at=now, error="the cycle ended without finishing (process killed?)")).rowcount


def _cycle(row) -> dict[str, Any]:
    return {"cycle_id": row.id, "started_at": row.started_at, "finished_at": row.finished_at, "mode": row.mode,
            "trigger": row.trigger, "status": row.status, "error": row.error,
            "summary": json.loads(row.summary) if row.summary else None}


def cycles(engine: Engine, *, limit: int = 50, offset: int = 0, mode: str | None = None) -> tuple[list, int]:
    t = automation_cycles
    q = select(t)
    cq = select(func.count()).select_from(t)
    if mode:
        q, cq = q.where(t.c.mode == mode), cq.where(t.c.mode == mode)
    with engine.connect() as conn:
        rows = conn.execute(q.order_by(t.c.id.desc()).limit(limit).offset(offset)).all()
        total = conn.execute(cq).scalar_one()
    return [_cycle(r) for r in rows], total


def last_cycle(engine: Engine, *, exclude_test: bool = True) -> dict[str, Any] | None:
    t = automation_cycles
    q = select(t).order_by(t.c.id.desc()).limit(1)
    if exclude_test:
        q = q.where(t.c.mode != "test")
    with engine.connect() as conn:
        row = conn.execute(q).first()
    return _cycle(row) if row else None


def previous_cycle_id(engine: Engine, before: int) -> int | None:
    """The newest non-test cycle before ``before`` (observation counts consecutive real/dry cycles)."""
    t = automation_cycles
    with engine.connect() as conn:
        return conn.execute(select(t.c.id).where(t.c.id < before, t.c.mode != "test")
                            .order_by(t.c.id.desc()).limit(1)).scalar()


# --- verdicts ----------------------------------------------------------------------------------------------

def add_verdicts(engine: Engine, rows: list[dict[str, Any]]) -> None:
    if not rows:
        return
    with engine.begin() as conn:
        conn.execute(automation_verdicts.insert(), [
            {**r, "detail": json.dumps(r.get("detail") or {})} for r in rows])


def _verdict(r) -> dict[str, Any]:
    return {"cycle_id": r.cycle_id, "time": r.time, "vmid": r.vmid, "source_node": r.source_node,
            "target_node": r.target_node, "verdict": r.verdict, "gate": r.gate, "reason": r.reason,
            "migration_id": r.migration_id, "detail": json.loads(r.detail) if r.detail else {}}


def verdicts(engine: Engine, *, cycle_id: int | None = None, vmid: int | None = None,
             verdict: str | None = None, since: float | None = None, limit: int = 200,
             offset: int = 0) -> tuple[list[dict[str, Any]], int]:
    t = automation_verdicts
    conds = []
    if cycle_id is not None:
        conds.append(t.c.cycle_id == cycle_id)
    if vmid is not None:
        conds.append(t.c.vmid == vmid)
    if verdict is not None:
        conds.append(t.c.verdict == verdict)
    if since is not None:
        conds.append(t.c.time >= since)
    with engine.connect() as conn:
        rows = conn.execute(select(t).where(*conds).order_by(t.c.id.desc()).limit(limit).offset(offset)).all()
        total = conn.execute(select(func.count()).select_from(t).where(*conds)).scalar_one()
    return [_verdict(r) for r in rows], total


# --- observation streaks -----------------------------------------------------------------------------------

def streaks(engine: Engine) -> dict[int, Streak]:
    with engine.connect() as conn:
        return {r.vmid: Streak(r.vmid, r.target_node, r.count, r.first_seen, r.last_cycle_id)
                for r in conn.execute(select(automation_streaks))}


def next_streaks(old: dict[int, Streak], seen: dict[int, str], *, cycle_id: int, previous_cycle: int | None,
                 now: float) -> dict[int, Streak]:
    """Streaks after a cycle that recommended ``seen`` (vmid -> target). Pure.

    A streak continues when the same vmid -> target was recommended in the previous cycle; anything else
    starts over at 1. Guests not recommended lose their streak.
    """
    out = {}
    for vmid, target in seen.items():
        s = old.get(vmid)
        if s is not None and s.target_node == target and s.last_cycle_id == previous_cycle:
            out[vmid] = Streak(vmid, target, s.count + 1, s.first_seen, cycle_id)
        else:
            out[vmid] = Streak(vmid, target, 1, now, cycle_id)
    return out


def save_streaks(engine: Engine, new: dict[int, Streak]) -> None:
    with engine.begin() as conn:
        conn.execute(automation_streaks.delete())
        if new:
            conn.execute(automation_streaks.insert(), [
                {"vmid": s.vmid, "target_node": s.target_node, "count": s.count, "first_seen": s.first_seen,
                 "last_cycle_id": s.last_cycle_id} for s in new.values()])
