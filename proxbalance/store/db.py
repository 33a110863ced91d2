"""Engine and session setup. SQLite gets WAL, foreign keys and a busy timeout on every connection."""

from __future__ import annotations

import random
import sqlite3
import time
from pathlib import Path

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.orm import sessionmaker

from proxbalance.errors import ConfigError, StoreBusyError

SQLITE_BUSY_TIMEOUT_MS = 10_000
#: execution option set by :func:`proxbalance.store.tx.write_tx`: monotonic deadline for taking the write lock
WRITE_DEADLINE_OPTION = "proxbalance_write_deadline"


def make_engine(url: str) -> Engine:
    """Create an engine for any SQLAlchemy URL; for a SQLite file, create its directory and set pragmas."""
    try:
        parsed = make_url(url)
    except Exception as exc:  # sqlalchemy raises ArgumentError with a useful text
        raise ConfigError(f"invalid setting 'database.url': {exc}", details={"key": "database.url"}) from None
    if parsed.get_backend_name() != "sqlite":
        return create_engine(url, pool_pre_ping=True, future=True)
    if parsed.database and parsed.database != ":memory:":
        Path(parsed.database).expanduser().parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url, future=True, connect_args={"check_same_thread": False,
                                                           "timeout": SQLITE_BUSY_TIMEOUT_MS / 1000})

    @event.listens_for(engine, "connect")
    def _pragmas(dbapi_conn, _record):  # noqa: ANN001 - DBAPI connection
        cur = dbapi_conn.cursor()
        cur.execute("PRAGMA journal_mode=WAL")
        cur.execute("PRAGMA foreign_keys=ON")
        cur.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        cur.execute("PRAGMA synchronous=NORMAL")
        cur.close()
        # pysqlite's own transaction handling commits DDL implicitly; take it over so a transaction
        # (e.g. one schema migration or one snapshot) is all-or-nothing, DDL included.
        dbapi_conn.isolation_level = None

    @event.listens_for(engine, "begin")
    def _begin(conn):  # noqa: ANN001 - SQLAlchemy connection
        deadline = conn.get_execution_options().get(WRITE_DEADLINE_OPTION)
        if deadline is None:
            conn.exec_driver_sql("BEGIN")  # readers: deferred, never wait (WAL)
        else:
            begin_immediate(conn.connection.dbapi_connection, deadline)

    return engine


def _locked(exc: sqlite3.OperationalError) -> bool:
    text = str(exc).lower()
    return "locked" in text or "busy" in text


def begin_immediate(dbapi_conn, deadline: float) -> None:
    """``BEGIN IMMEDIATE`` on a pysqlite connection: take the write lock up front, waiting until ``deadline``
    (``time.monotonic()`` seconds) at most, retrying 'database is locked'; raise StoreBusyError after it."""
    attempt = 0
    try:
        while True:
            remaining = deadline - time.monotonic()
            dbapi_conn.execute(f"PRAGMA busy_timeout={max(1, int(remaining * 1000))}")
            try:
                dbapi_conn.execute("BEGIN IMMEDIATE")
                return
            except sqlite3.OperationalError as exc:
                if not _locked(exc):
                    raise
                if time.monotonic() >= deadline:
                    raise StoreBusyError("the database stayed locked by other writers; try again",
                                         details={"retry_after_seconds": 1}) from None
            attempt += 1
            time.sleep(min(0.05 * attempt, 0.25) * random.random())
    finally:
        dbapi_conn.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")


def make_sessionmaker(engine: Engine) -> sessionmaker:
    return sessionmaker(engine, expire_on_commit=False, future=True)
