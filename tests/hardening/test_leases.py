"""Leases: one holder across threads and processes, renewal while held, expiry when the holder dies."""

from __future__ import annotations

import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from sqlalchemy.dialects import postgresql

from proxbalance.errors import ConflictError
from proxbalance.store import leases

ROOT = Path(__file__).resolve().parents[2]


def test_acquire_renew_release(store):
    e = store.engine
    assert leases.acquire(e, "job", "a", 30)
    assert leases.acquire(e, "job", "a", 30)  # already ours: still true, acquired_at kept
    first = leases.current(e, "job")
    assert not leases.acquire(e, "job", "b", 30)
    assert leases.current(e, "job")["holder"] == "a"
    assert leases.renew(e, "job", "a", 60) and not leases.renew(e, "job", "b", 60)
    assert leases.current(e, "job")["acquired_at"] == first["acquired_at"]
    leases.release(e, "job", "b")  # not b's: nothing happens
    assert leases.current(e, "job")["holder"] == "a"
    leases.release(e, "job", "a")
    assert leases.current(e, "job") is None
    assert leases.acquire(e, "job", "b", 30)


def test_an_expired_lease_is_taken_over(store):
    e = store.engine
    assert leases.acquire(e, "job", "a", 0.05)
    time.sleep(0.1)
    assert leases.current(e, "job") is None
    assert leases.acquire(e, "job", "b", 30)
    assert not leases.renew(e, "job", "a", 30)  # a lost it


def test_only_one_of_many_threads_gets_it(store):
    got, barrier = [], threading.Barrier(8)

    def worker(i):
        barrier.wait()
        if leases.acquire(store.engine, "race", f"t{i}", 30):
            got.append(i)

    threads = [threading.Thread(target=worker, args=(i,)) for i in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(got) == 1


def test_holding_refuses_a_second_holder_and_renews_while_held(store):
    e = store.engine
    with leases.holding(e, "cycle", 0.6) as held:
        with pytest.raises(ConflictError) as err, leases.holding(e, "cycle", 0.6):
            pass
        assert err.value.status == 409 and err.value.details["holder"] == held.holder
        time.sleep(1.5)  # longer than the ttl: only the background renewal keeps it
        assert leases.current(e, "cycle")["holder"] == held.holder and not held.lost
    assert leases.current(e, "cycle") is None  # released on exit
    assert ":" in held.holder and held.holder.count(":") == 3  # host:pid:thread:uuid


def test_lease_of_a_killed_process_expires(store, settings):
    proc = subprocess.Popen([sys.executable, "-m", "tests.hardening.writers", settings.database_url, "solo", "1.0"],
                            cwd=ROOT, stdout=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline()
        assert line.startswith("held ")
        holder = line.split(" ", 1)[1].strip()
        assert not leases.acquire(store.engine, "solo", "me", 30)
        proc.send_signal(signal.SIGKILL)  # no release, no more renewals
        proc.wait(10)
        deadline = time.time() + 15
        while not leases.acquire(store.engine, "solo", "me", 30):
            assert time.time() < deadline, "the dead holder's lease never expired"
            time.sleep(0.1)
        assert leases.current(store.engine, "solo")["holder"] == "me" != holder
    finally:
        proc.kill()
        proc.wait()


def test_acquire_is_one_statement_valid_for_postgresql():
    sql = str(leases.acquire_statement("postgresql", "n", "h", 10, 100.0).compile(dialect=postgresql.dialect()))
    assert "ON CONFLICT (name) DO UPDATE" in sql and "WHERE leases.holder = excluded.holder OR" in sql
