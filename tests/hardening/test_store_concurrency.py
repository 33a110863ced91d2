"""Store writes under contention: several processes writing at once never see 'database is locked'."""

from __future__ import annotations

import multiprocessing
import threading

import pytest
from sqlalchemy import func, select, text

from proxbalance.errors import StoreBusyError
from proxbalance.store.schema import api_keys, audit_log
from proxbalance.store.tx import best_effort, write_tx
from tests.hardening.writers import mixed_writes

PROCESSES, WRITES = 8, 50


def test_eight_processes_fifty_mixed_writes_each_never_fail(store, settings):
    ctx = multiprocessing.get_context("fork")  # each child makes its own engine (none is shared)
    with ctx.Pool(PROCESSES) as pool:
        results = pool.starmap(mixed_writes, [(settings.database_url, w, WRITES) for w in range(PROCESSES)])
    errors = [e for r in results for e in r]
    assert errors == [], errors[:2]
    with store.engine.connect() as conn:
        audits = conn.execute(select(func.count()).select_from(audit_log)).scalar_one()
        keys = conn.execute(select(func.count()).select_from(api_keys)).scalar_one()
    per_worker_audits = sum(1 for i in range(WRITES) if i % 6 in (0, 5))
    assert audits == PROCESSES * per_worker_audits
    assert keys == PROCESSES * (1 + sum(1 for i in range(WRITES) if i % 6 == 3))


def test_write_tx_takes_the_lock_up_front_and_waits_for_it(store):
    """A second writer waits for the first (bounded) instead of failing, and sees its committed change."""
    engine = store.engine
    started, release = threading.Event(), threading.Event()

    def first():
        with write_tx(engine) as conn:
            conn.execute(text("INSERT INTO collector_state (key, value) VALUES ('x', '1')"))
            started.set()
            release.wait(5)

    t = threading.Thread(target=first)
    t.start()
    started.wait(5)
    threading.Timer(0.3, release.set).start()
    with write_tx(engine) as conn:  # blocks until the first commits
        value = conn.execute(text("SELECT value FROM collector_state WHERE key = 'x'")).scalar()
        conn.execute(text("UPDATE collector_state SET value = '2' WHERE key = 'x'"))
    t.join()
    assert value == "1"


def test_write_tx_gives_up_after_its_bound_with_a_503(store):
    engine = store.engine
    raw = engine.raw_connection()
    raw.driver_connection.execute("BEGIN IMMEDIATE")  # another writer holds the lock and never lets go
    try:
        with pytest.raises(StoreBusyError) as err, write_tx(engine, timeout=0.3):
            pass
        assert err.value.status == 503 and err.value.code == "database_busy"
        calls = []
        best_effort(engine, lambda c: calls.append(1), what="test bookkeeping", timeout=0.2)  # swallowed
        assert calls == []
    finally:
        raw.driver_connection.execute("ROLLBACK")
        raw.close()
