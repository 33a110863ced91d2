"""One key's budget holds across worker processes (the default 'shared' storage)."""

from __future__ import annotations

import multiprocessing

from proxbalance.api import create_app
from proxbalance.store import Store
from proxbalance.store.keys import create_key

PROCS, EACH, LIMIT = 4, 20, 30


def _worker(settings, key: str) -> list[int]:
    store = Store.open(settings, migrate=False)
    client = create_app(settings, store).test_client()  # its own app, its own limiter: like a gunicorn worker
    codes = [client.get("/api/keys", headers={"X-API-Key": key}).status_code for _ in range(EACH)]
    store.close()
    return codes


def test_budget_is_exact_across_processes(settings, store):
    settings = settings.replace(ratelimit__read_per_minute=LIMIT)
    key = create_key(store.engine, "shared", "admin")[1]
    with multiprocessing.get_context("fork").Pool(PROCS) as pool:
        codes = [c for r in pool.starmap(_worker, [(settings, key)] * PROCS) for c in r]
    assert codes.count(200) == LIMIT and codes.count(429) == PROCS * EACH - LIMIT


def test_memory_storage_counts_per_process(settings, store):
    """What the shared storage fixes: with memory:// each process has its own budget."""
    settings = settings.replace(ratelimit__read_per_minute=LIMIT, ratelimit__storage_uri="memory://")
    key = create_key(store.engine, "local", "admin")[1]
    with multiprocessing.get_context("fork").Pool(PROCS) as pool:
        codes = [c for r in pool.starmap(_worker, [(settings, key)] * PROCS) for c in r]
    assert codes.count(200) == PROCS * EACH  # 80 > 30: per-process counting overshoots


def test_window_stays_exact_as_hits_expire(tmp_path, monkeypatch):
    """The kept count follows the rows: expired hits free exactly their share of the budget."""
    from proxbalance.api import ratelimit_shared
    from proxbalance.api.ratelimit_shared import SharedWindow

    now = [1000.0]
    monkeypatch.setattr(ratelimit_shared.time, "time", lambda: now[0])
    window = SharedWindow(tmp_path / "rl.sqlite")
    for _ in range(5):  # 5 hits at t = 1000..1004
        assert window.hit("k", 5, 60)[0]
        now[0] += 1
    assert window.hit("k", 5, 60) == (False, 0, 1060.0)  # full; the oldest leaves at 1060
    now[0] = 1061.5  # the hits of 1000 and 1001 have left the window
    assert [window.hit("k", 5, 60)[:2] for _ in range(3)] == [(True, 1), (True, 0), (False, 0)]
    assert window.hit("other", 5, 60)[:2] == (True, 4)  # keys are counted apart


def test_counts_rebuilt_from_an_old_layout(tmp_path):
    """A file written by the first layout (rows only) keeps its budget when a new worker opens it."""
    import sqlite3
    import time

    from proxbalance.api.ratelimit_shared import SharedWindow

    path = tmp_path / "rl.sqlite"
    old = sqlite3.connect(path)
    old.execute("CREATE TABLE hits (key TEXT NOT NULL, t REAL NOT NULL)")
    old.executemany("INSERT INTO hits VALUES (?, ?)", [("k", time.time())] * 4)
    old.commit()
    old.close()
    assert SharedWindow(path).hit("k", 5, 60)[:2] == (True, 0)
    assert SharedWindow(path).hit("k", 5, 60)[:2] == (False, 0)
