"""ProxBalance's node maintenance flags and evacuation sessions (migration ``0006_evacuation_maintenance``).

``node_maintenance``: one row per node in maintenance (who set it, when, why). ``evacuation_sessions``: one
row per evacuation with its reviewed plan and per-guest state as JSON, so a session survives a restart.
Times are Unix seconds.
"""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import Column, Engine, Float, String, Table, Text, delete, select, update

from proxbalance.store.schema import metadata
from proxbalance.store.tx import write_tx

node_maintenance = Table(
    "node_maintenance", metadata,
    Column("node", String(64), primary_key=True),
    Column("since", Float, nullable=False),
    Column("actor", String(120), nullable=False),
    Column("reason", Text),
)

evacuation_sessions = Table(
    "evacuation_sessions", metadata,
    Column("id", String(32), primary_key=True),
    Column("node", String(64), nullable=False),
    Column("state", String(24), nullable=False),  # planned | running | cancelling | cancelled | completed | completed_with_errors | interrupted
    Column("dry_run", String(1), nullable=False),  # "1" preview only
    Column("actor", String(120), nullable=False),
    Column("created_at", Float, nullable=False),
    Column("updated_at", Float, nullable=False),
    Column("heartbeat", Float),  # runner's last sign of life (Unix s)
    Column("data", Text, nullable=False),  # JSON: plan, guests, events, summary
)

TABLES = (node_maintenance, evacuation_sessions)


def set_flag(engine: Engine, node: str, on: bool, *, actor: str, reason: str | None, now: float) -> None:
    with write_tx(engine) as conn:
        conn.execute(delete(node_maintenance).where(node_maintenance.c.node == node))
        if on:
            conn.execute(node_maintenance.insert().values(node=node, since=now, actor=actor[:120], reason=reason))


def flags(engine: Engine) -> dict[str, dict[str, Any]]:
    with engine.connect() as conn:
        return {r.node: {"node": r.node, "since": r.since, "actor": r.actor, "reason": r.reason}
                for r in conn.execute(select(node_maintenance))}


def save_session(engine: Engine, sid: str, *, node: str, state: str, dry_run: bool, actor: str, now: float,
                 data: dict[str, Any], create: bool = False) -> None:
    values = dict(node=node, state=state, dry_run="1" if dry_run else "0", actor=actor[:120], updated_at=now,
                  heartbeat=now, data=json.dumps(data))
    with write_tx(engine) as conn:
        if create:
            conn.execute(evacuation_sessions.insert().values(id=sid, created_at=now, **values))
        else:
            conn.execute(update(evacuation_sessions).where(evacuation_sessions.c.id == sid).values(**values))


def load_session(engine: Engine, sid: str) -> dict[str, Any] | None:
    with engine.connect() as conn:
        r = conn.execute(select(evacuation_sessions).where(evacuation_sessions.c.id == sid)).one_or_none()
    return None if r is None else _session(r)


def sessions(engine: Engine, states: tuple[str, ...] | None = None) -> list[dict[str, Any]]:
    q = select(evacuation_sessions).order_by(evacuation_sessions.c.created_at.desc())
    if states:
        q = q.where(evacuation_sessions.c.state.in_(states))
    with engine.connect() as conn:
        return [_session(r) for r in conn.execute(q)]


def _session(r: Any) -> dict[str, Any]:
    return {"session_id": r.id, "node": r.node, "state": r.state, "dry_run": r.dry_run == "1", "actor": r.actor,
            "created_at": r.created_at, "updated_at": r.updated_at, "heartbeat": r.heartbeat,
            **json.loads(r.data)}
