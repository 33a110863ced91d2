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
