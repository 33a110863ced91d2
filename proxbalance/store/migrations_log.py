"""Migration intents and their history: the executor's exactly-once ledger.

One row per migration ProxBalance asked for. A row is inserted (committed) in state ``pending`` *before* the
PVE call, then moves ``pending -> started(UPID) -> completed | failed | cancelled``; ``unknown`` means the call's
outcome could not be seen (connection dropped) and reconciliation must decide from the cluster's task list
and where the guest is. A partial unique index on ``vmid`` over the active states (pending, started,
unknown) makes a second in-flight migration of one guest impossible, across threads, API workers and the CLI
alike: it is a constraint, not a check-then-write race.

Every state change is appended to ``migration_events`` (time, state, detail), so the history is complete
even when a row is later resolved by reconciliation. Migration ``0005_executor`` creates these tables.
Times are Unix seconds of the executor's clock (the simulator's in tests).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable
from typing import Any

from sqlalchemy import (
    Boolean,
    Column,
    Engine,
    Float,
    Index,
    Integer,
    String,
    Table,
    Text,
    func,
    select,
    update,
)
from sqlalchemy.exc import IntegrityError

from proxbalance.errors import ConflictError, NotFoundError
from proxbalance.store.schema import metadata
from proxbalance.store.tx import write_tx

ACTIVE_STATES = ("pending", "started", "unknown")
FINAL_STATES = ("completed", "failed", "cancelled")
STATES = ACTIVE_STATES + FINAL_STATES

migrations = Table(
    "migrations", metadata,
    Column("id", String(32), primary_key=True),  # uuid4 hex: the migration_id of the API
    Column("vmid", Integer, nullable=False),
    Column("guest_type", String(8), nullable=False),  # qemu | lxc
    Column("guest_name", String(120), nullable=False),
    Column("source_node", String(64), nullable=False),
    Column("target_node", String(64), nullable=False),
    Column("targetstorage", String(200)),
    Column("mode", String(16), nullable=False),  # online | restart | offline
    Column("ha", Boolean, nullable=False),  # through the HA stack (hamigrate request)
    Column("state", String(16), nullable=False),
    Column("upid", String(200)),  # the qmigrate/vzmigrate task once known
    Column("request_upid", String(200)),  # the hamigrate task of an HA guest
    Column("actor", String(120), nullable=False),
    Column("origin", String(20), nullable=False),  # manual | batch | automation | rollback | evacuation | cli
    Column("session_id", String(64)),  # batch or evacuation session
    Column("request_id", String(64)),
    Column("rollback_of", String(32)),
    Column("created_at", Float, nullable=False),
    Column("started_at", Float),
    Column("finished_at", Float),
    Column("updated_at", Float, nullable=False),
    Column("cancel_requested", Boolean, nullable=False, default=False),
    Column("error", Text),
    Column("progress", Text),  # JSON: percent, transferred_bytes, total_bytes, rate_bytes_per_s, log_lines
    Column("validation", Text),  # JSON: the validation that let it start
    Column("predicted", Text),  # JSON: source/target cpu% and mem% expected after the move
    Column("measured", Text),  # JSON: the same, measured executor.outcome_delay_minutes after it ended
    Column("measured_at", Float),
)
_ACTIVE = migrations.c.state.in_(ACTIVE_STATES)
Index("ux_migrations_active_vmid", migrations.c.vmid, unique=True, sqlite_where=_ACTIVE, postgresql_where=_ACTIVE)
Index("ix_migrations_created", migrations.c.created_at)
Index("ix_migrations_upid", migrations.c.upid)

migration_events = Table(
    "migration_events", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("migration_id", String(32), nullable=False),
    Column("time", Float, nullable=False),
    Column("state", String(16), nullable=False),
    Column("detail", Text),
)
Index("ix_migration_events_mid", migration_events.c.migration_id)

# A batch: the requested moves in dependency order, each with its status, and the runner's heartbeat.
migration_batches = Table(
    "migration_batches", metadata,
    Column("id", String(32), primary_key=True),
    Column("created_at", Float, nullable=False),
    Column("updated_at", Float, nullable=False),
    Column("heartbeat", Float),
    Column("actor", String(120), nullable=False),
    Column("origin", String(20), nullable=False),
    Column("state", String(24), nullable=False),  # queued | running | completed | failed | cancelled | interrupted
    Column("data", Text, nullable=False),  # JSON: options, order, moves [{vmid, target_node, status, ...}]
)

TABLES = (migrations, migration_events, migration_batches)
_JSON = ("progress", "validation", "predicted", "measured")


def _row(r: Any) -> dict[str, Any]:
    d = dict(r._mapping)
    for k in _JSON:
        d[k] = json.loads(d[k]) if d.get(k) else None
    d["migration_id"] = d.pop("id")
    d["cancel_requested"] = bool(d["cancel_requested"])
    d["ha"] = bool(d["ha"])
    return d


def insert_intent(engine: Engine, *, now: float, vmid: int, guest_type: str, guest_name: str, source_node: str,
                  target_node: str, mode: str, ha: bool, actor: str, origin: str, targetstorage: str | None = None,
                  session_id: str | None = None, request_id: str | None = None, rollback_of: str | None = None,
                  validation: dict | None = None, predicted: dict | None = None) -> dict[str, Any]:
    """Record a ``pending`` intent and commit it. ConflictError (409) when the guest already has one active."""
    mid = uuid.uuid4().hex
    values = dict(id=mid, vmid=vmid, guest_type=guest_type, guest_name=guest_name[:120], source_node=source_node,
                  target_node=target_node, targetstorage=targetstorage, mode=mode, ha=ha, state="pending",
                  actor=actor[:120], origin=origin, session_id=session_id, request_id=request_id,
                  rollback_of=rollback_of, created_at=now, updated_at=now, cancel_requested=False,
                  validation=json.dumps(validation) if validation else None,
                  predicted=json.dumps(predicted) if predicted else None)
    try:
        with write_tx(engine) as conn:
            conn.execute(migrations.insert().values(**values))
            conn.execute(migration_events.insert().values(migration_id=mid, time=now, state="pending",
                                                          detail=f"{source_node} -> {target_node} by {actor}"))
    except IntegrityError:
        active = active_for_vmid(engine, vmid)
        raise ConflictError(f"guest {vmid} already has a migration in flight"
                            + (f" ({active['migration_id']}, {active['state']})" if active else ""),
                            code="migration_in_flight",
                            details={"vmid": vmid, "migration_id": active and active["migration_id"]}) from None
    return get(engine, mid)


def transition(engine: Engine, mid: str, *, now: float, state: str | None = None, expect: Iterable[str] | None = None,
               detail: str | None = None, **fields: Any) -> bool:
    """Update one row (only while its state is in ``expect``, so two reconcilers never clash); log an event
    when the state changes. Returns False when the row was not in an expected state."""
    for k in _JSON:
        if k in fields and fields[k] is not None and not isinstance(fields[k], str):
            fields[k] = json.dumps(fields[k])
    values = {**fields, "updated_at": now}
    if state is not None:
        values["state"] = state
    stmt = update(migrations).where(migrations.c.id == mid)
    if expect is not None:
        stmt = stmt.where(migrations.c.state.in_(tuple(expect)))
    with write_tx(engine) as conn:
        if conn.execute(stmt.values(**values)).rowcount == 0:
            return False
        if state is not None or detail:
            conn.execute(migration_events.insert().values(migration_id=mid, time=now,
                                                          state=state or "note", detail=detail))
    return True


def get(engine: Engine, mid: str) -> dict[str, Any]:
    with engine.connect() as conn:
        r = conn.execute(select(migrations).where(migrations.c.id == mid)).one_or_none()
    if r is None:
        raise NotFoundError(f"no migration {mid!r}", code="migration_not_found")
    return _row(r)


def by_upid(engine: Engine, upid: str) -> dict[str, Any] | None:
    with engine.connect() as conn:
        r = conn.execute(select(migrations).where((migrations.c.upid == upid) | (migrations.c.request_upid == upid))
                         .order_by(migrations.c.created_at.desc()).limit(1)).one_or_none()
    return _row(r) if r else None


def active_for_vmid(engine: Engine, vmid: int) -> dict[str, Any] | None:
    with engine.connect() as conn:
        r = conn.execute(select(migrations).where(migrations.c.vmid == vmid, _ACTIVE)).one_or_none()
    return _row(r) if r else None


def active(engine: Engine) -> list[dict[str, Any]]:
    with engine.connect() as conn:
        rows = conn.execute(select(migrations).where(_ACTIVE).order_by(migrations.c.created_at))
        return [_row(r) for r in rows]


def latest_for_vmid(engine: Engine, vmid: int, state: str | None = None) -> dict[str, Any] | None:
    q = select(migrations).where(migrations.c.vmid == vmid)
    if state:
        q = q.where(migrations.c.state == state)
    with engine.connect() as conn:
        r = conn.execute(q.order_by(migrations.c.created_at.desc()).limit(1)).one_or_none()
    return _row(r) if r else None


def query(engine: Engine, *, vmid: int | None = None, origin: str | Iterable[str] | None = None,
          since: float | None = None, until: float | None = None, states: Iterable[str] | None = None,
          session_id: str | None = None, limit: int | None = 100, offset: int = 0,
          newest_first: bool = True) -> tuple[list[dict[str, Any]], int]:
    """Rows matching every given filter (``since``/``until`` on created_at), newest first, and the total."""
    conds = []
    if vmid is not None:
        conds.append(migrations.c.vmid == vmid)
    if origin:
        conds.append(migrations.c.origin.in_([origin] if isinstance(origin, str) else list(origin)))
    if since is not None:
        conds.append(migrations.c.created_at >= since)
    if until is not None:
        conds.append(migrations.c.created_at <= until)
    if states:
        conds.append(migrations.c.state.in_(list(states)))
    if session_id:
        conds.append(migrations.c.session_id == session_id)
    order = migrations.c.created_at.desc() if newest_first else migrations.c.created_at.asc()
    with engine.connect() as conn:
        total = conn.execute(select(func.count()).select_from(migrations).where(*conds)).scalar_one()
        q = select(migrations).where(*conds).order_by(order).offset(offset)
        if limit is not None:
            q = q.limit(limit)
        return [_row(r) for r in conn.execute(q)], int(total)


def events(engine: Engine, mid: str) -> list[dict[str, Any]]:
    with engine.connect() as conn:
        rows = conn.execute(select(migration_events).where(migration_events.c.migration_id == mid)
                            .order_by(migration_events.c.id))
        return [{"time": r.time, "state": r.state, "detail": r.detail} for r in rows]


def save_batch(engine: Engine, bid: str, *, now: float, state: str, data: dict[str, Any], actor: str = "",
               origin: str = "batch", create: bool = False) -> None:
    with write_tx(engine) as conn:
        if create:
            conn.execute(migration_batches.insert().values(id=bid, created_at=now, updated_at=now, heartbeat=now,
                                                           actor=actor[:120], origin=origin, state=state,
                                                           data=json.dumps(data)))
        else:
            conn.execute(update(migration_batches).where(migration_batches.c.id == bid)
                         .values(updated_at=now, heartbeat=now, state=state, data=json.dumps(data)))


def load_batch(engine: Engine, bid: str) -> dict[str, Any]:
    with engine.connect() as conn:
        r = conn.execute(select(migration_batches).where(migration_batches.c.id == bid)).one_or_none()
    if r is None:
        raise NotFoundError(f"no batch {bid!r}", code="batch_not_found")
    return {"batch_id": r.id, "created_at": r.created_at, "updated_at": r.updated_at, "heartbeat": r.heartbeat,
            "actor": r.actor, "origin": r.origin, "state": r.state, **json.loads(r.data)}


def batches(engine: Engine, states: Iterable[str]) -> list[dict[str, Any]]:
    with engine.connect() as conn:
        ids = [r[0] for r in conn.execute(select(migration_batches.c.id)
                                          .where(migration_batches.c.state.in_(list(states))))]
    return [load_batch(engine, i) for i in ids]
