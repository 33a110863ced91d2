"""Leases for singleton work (a collection cycle, an automation cycle, executor reconciliation).

A lease is one row ``(name, holder, acquired_at, expires_at)``; times are wall-clock Unix seconds
(``time.time()``), so a lease whose holder died (killed process, lost host) simply expires and the next
caller takes it over. Taking and renewing are single atomic statements inside :func:`write_tx`
(``INSERT ... ON CONFLICT (name) DO UPDATE ... WHERE expired OR same holder``, valid on SQLite >= 3.24 and
PostgreSQL), so threads, gunicorn workers, the CLI and other hosts sharing the database agree on one holder.

Use :func:`holding` for work that must run once at a time::

    with leases.holding(engine, "collection", ttl_seconds=60):
        ...  # renewed in the background every ttl/3 while this runs; released on exit

It raises :class:`~proxbalance.errors.ConflictError` (409) when another holder has the lease.
Table ``leases`` is created by migration ``0004_leases``.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from sqlalchemy import Column, Engine, Float, String, Table, case, delete, select, update
from sqlalchemy.dialects import postgresql, sqlite

from proxbalance.errors import ConflictError, ValidationError
from proxbalance.store.schema import metadata
from proxbalance.store.tx import write_tx

log = logging.getLogger(__name__)

leases = Table(
    "leases", metadata,
    Column("name", String(100), primary_key=True),
    Column("holder", String(300), nullable=False),
    Column("acquired_at", Float, nullable=False),  # Unix seconds the current holder took it
    Column("expires_at", Float, nullable=False),  # Unix seconds; free for anyone after this
)

TABLES = (leases,)


def default_holder() -> str:
    """A holder id unique to this call: host, process, thread and a random part."""
    return f"{socket.gethostname()}:{os.getpid()}:{threading.get_ident()}:{uuid.uuid4().hex}"


def _check(name: str, holder: str, ttl_seconds: float | None = None) -> None:
    if not name or len(name) > 100:
        raise ValidationError("lease name must be 1-100 characters", details={"field": "name"})
    if not holder or len(holder) > 300:
        raise ValidationError("lease holder must be 1-300 characters", details={"field": "holder"})
    if ttl_seconds is not None and not 0 < ttl_seconds <= 86400:
        raise ValidationError("lease ttl_seconds must be in (0, 86400]", details={"field": "ttl_seconds"})


def _upsert(dialect: str):
    if dialect == "postgresql":
        return postgresql.insert(leases)
    if dialect == "sqlite":
        return sqlite.insert(leases)
    raise NotImplementedError(f"leases need SQLite or PostgreSQL, not {dialect}")


def acquire_statement(dialect: str, name: str, holder: str, ttl_seconds: float, now: float):
    """The one atomic statement that takes ``name`` for ``holder`` if it is free, expired or already theirs."""
    ins = _upsert(dialect).values(name=name, holder=holder, acquired_at=now, expires_at=now + ttl_seconds)
    ex = ins.excluded
    keep_since = (leases.c.holder == ex.holder)
    return ins.on_conflict_do_update(
        index_elements=[leases.c.name],
        set_={"holder": ex.holder, "expires_at": ex.expires_at,
              "acquired_at": case((keep_since, leases.c.acquired_at), else_=ex.acquired_at)},
        where=(leases.c.holder == ex.holder) | (leases.c.expires_at <= ex.acquired_at))


def acquire(engine: Engine, name: str, holder: str, ttl_seconds: float) -> bool:
    """Take the lease (or extend it when ``holder`` has it already); True when ``holder`` now holds it."""
    _check(name, holder, ttl_seconds)
    with write_tx(engine) as conn:
        conn.execute(acquire_statement(engine.dialect.name, name, holder, ttl_seconds, time.time()))
        now_holder = conn.execute(select(leases.c.holder).where(leases.c.name == name)).scalar()
    return now_holder == holder


def renew(engine: Engine, name: str, holder: str, ttl_seconds: float) -> bool:
    """Push the expiry to now + ttl if ``holder`` still has the lease; False when it was lost."""
    _check(name, holder, ttl_seconds)
    with write_tx(engine) as conn:
        n = conn.execute(update(leases).where(leases.c.name == name, leases.c.holder == holder)
                         .values(expires_at=time.time() + ttl_seconds)).rowcount
    return n == 1


def release(engine: Engine, name: str, holder: str) -> None:
    """Give the lease up (no-op when ``holder`` does not have it)."""
    _check(name, holder)
    with write_tx(engine) as conn:
        conn.execute(delete(leases).where(leases.c.name == name, leases.c.holder == holder))


def current(engine: Engine, name: str) -> dict | None:
    """``{"holder", "acquired_at", "expires_at"}`` of an unexpired lease, else None."""
    with engine.connect() as conn:
        row = conn.execute(select(leases).where(leases.c.name == name)).first()
    if row is None or row.expires_at <= time.time():
        return None
    return {"holder": row.holder, "acquired_at": row.acquired_at, "expires_at": row.expires_at}


@dataclass
class Held:
    """A lease held by :func:`holding`. ``lost`` turns true if a renewal found it taken over."""

    name: str
    holder: str
    ttl_seconds: float
    lost: bool = False
    _stop: threading.Event = field(default_factory=threading.Event, repr=False)


def _renewer(engine: Engine, held: Held) -> None:
    interval = max(held.ttl_seconds / 3, 0.05)
    while not held._stop.wait(interval):
        try:
            if not renew(engine, held.name, held.holder, held.ttl_seconds):
                held.lost = True
                log.warning("lease %r was taken over while %s held it", held.name, held.holder)
                return
        except Exception as exc:  # a busy database: try again next interval (the ttl leaves room for it)
            log.warning("renewing lease %r failed: %s", held.name, exc)


@contextmanager
def holding(engine: Engine, name: str, ttl_seconds: float, holder: str | None = None) -> Iterator[Held]:
    """Hold ``name`` for the duration of the block, renewed in the background; ConflictError when held."""
    holder = holder or default_holder()
    if not acquire(engine, name, holder, ttl_seconds):
        other = current(engine, name) or {}
        raise ConflictError(f"'{name}' is already running elsewhere (held by {other.get('holder', 'another process')})",
                            details={"lease": name, "holder": other.get("holder"),
                                     "expires_at": other.get("expires_at")})
    held = Held(name, holder, ttl_seconds)
    thread = threading.Thread(target=_renewer, args=(engine, held), name=f"lease-{name}", daemon=True)
    thread.start()
    try:
        yield held
    finally:
        held._stop.set()
        thread.join()
        try:
            release(engine, name, holder)
        except Exception as exc:  # it expires by itself
            log.warning("releasing lease %r failed: %s", name, exc)
