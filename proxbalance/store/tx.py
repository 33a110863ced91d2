"""Write transactions that do not fail for contention.

``with write_tx(engine) as conn:`` runs its body in ONE transaction that holds the write lock from the start:
on SQLite ``BEGIN IMMEDIATE`` (taken with a bounded wait, retrying "database is locked" until ``timeout``
seconds have passed, then :class:`~proxbalance.errors.StoreBusyError`, HTTP 503), so a read-modify-write in
the body can never fail half-way because another writer upgraded first. Other backends (PostgreSQL via
``database.url``) get a plain ``BEGIN``; their row locks and the single-statement upserts used by callers
make the same guarantees there.

``best_effort(engine, fn)`` runs bookkeeping (a key's last use) that must never fail a request: a short
bound, and any error is logged and swallowed.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from sqlalchemy import Connection, Engine
from sqlalchemy.exc import SQLAlchemyError

from proxbalance.errors import StoreBusyError
from proxbalance.store.db import WRITE_DEADLINE_OPTION

log = logging.getLogger(__name__)

#: seconds a writer waits at most for the write lock
WRITE_TIMEOUT = 10.0


@contextmanager
def write_tx(engine: Engine, timeout: float = WRITE_TIMEOUT) -> Iterator[Connection]:
    """One write transaction (commit on success, rollback on error), lock taken up front on SQLite."""
    if engine.dialect.name != "sqlite":
        with engine.begin() as conn:
            yield conn
        return
    with engine.connect() as conn:
        conn.execution_options(**{WRITE_DEADLINE_OPTION: time.monotonic() + timeout})
        with conn.begin():
            yield conn


def best_effort(engine: Engine, fn: Callable[[Connection], object], *, what: str, timeout: float = 1.0) -> None:
    """Run ``fn(conn)`` in a short write transaction; log and swallow any failure (never raises)."""
    try:
        with write_tx(engine, timeout=timeout) as conn:
            fn(conn)
    except (SQLAlchemyError, StoreBusyError, OSError) as exc:
        log.warning("skipped %s: %s", what, exc)
    except Exception:  # bookkeeping must never fail the caller
        log.exception("skipped %s", what)
