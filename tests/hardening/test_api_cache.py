"""What API workers keep from the store (store/version.py, the endpoint ``cache`` option) changes as soon as
the data does: a new plan, a new snapshot, a revoked key, written by this worker, another worker's store or
another process. And a kept answer still goes through the rate limit and the key check."""

from __future__ import annotations

import dataclasses
import multiprocessing

import pytest
from sqlalchemy import create_engine

from proxbalance.api import create_app
from proxbalance.recommendations import generate
from proxbalance.store import Store
from proxbalance.store.keys import create_key, revoke_key
from proxbalance.store.snapshots import save_snapshot
from proxbalance.store.version import DataVersion, Memo
from tests.test_recommendations_api import imbalanced_snapshot

T0 = 1_800_000_000.0


def h(key, **extra):
    return {"X-API-Key": key, **extra}


@pytest.fixture
def now():
    return [T0 + 30]


@pytest.fixture
def api(settings, store, now):
    with store.engine.begin() as conn:
        save_snapshot(conn, imbalanced_snapshot(T0))
    generate(settings, store, {})
    return create_app(settings, store, clock=lambda: now[0]).test_client()


def other_store(settings) -> Store:
    """The same database through another engine: what a second gunicorn worker or the CLI holds."""
    return Store.open(settings, migrate=False)


def _in_child(fn, *args):
    proc = multiprocessing.get_context("fork").Process(target=fn, args=args)
    proc.start()
    proc.join(30)
    assert proc.exitcode == 0


def _child_generate(settings, params):
    store = other_store(settings)
    generate(settings, store, params)
    store.close()


def _child_revoke(settings, key_id):
    store = other_store(settings)
    revoke_key(store.engine, key_id)
    store.close()


# --- the generation ------------------------------------------------------------------------------------


def test_generation_moves_on_every_commit_and_only_then(settings, store):
    version = store.version
    first = version.current()
    assert version.current() == first  # nothing committed
    with store.engine.connect() as conn:  # a read is no change
        conn.exec_driver_sql("SELECT count(*) FROM api_keys").all()
    assert version.current() == first
    create_key(store.engine, "a", "read")  # this process' pool
    second = version.current()
    assert second > first and version.current() == second
    other = other_store(settings)  # another engine
    create_key(other.engine, "b", "read")
    other.close()
    assert version.current() > second


def test_generation_sees_another_process(settings, store):
    with store.engine.begin() as conn:
        save_snapshot(conn, imbalanced_snapshot(T0))
    before = store.version.current()
    _in_child(_child_generate, settings, {})
    assert store.version.current() > before


def test_no_file_no_keeping():
    version = DataVersion(create_engine("sqlite://"))  # in-memory: nothing can be tracked
    assert not version.tracks_changes
    assert len({version.current() for _ in range(3)}) == 3
    memo = Memo()
    calls = []
    for _ in range(2):
        memo.get(version.current(), "k", lambda: calls.append(1) or 1)
    assert len(calls) == 2


def test_memo_keeps_nothing_from_an_older_generation_or_none():
    memo = Memo(max_entries=2)
    assert memo.get(2, "k", lambda: "new") == "new"
    assert memo.get(1, "k", lambda: "old") == "old"  # a late computation under an older generation ...
    assert memo.get(2, "k", lambda: "recomputed") == "new"  # ... does not replace the current one
    assert memo.get(3, "k", lambda: "three") == "three"  # a new generation drops everything
    assert memo.get(3, "none", lambda: None) is None
    assert memo.get(3, "none", lambda: "found") == "found"  # None was not kept
    assert memo.get(3, "extra", lambda: "x") == "x"  # over max_entries: computed, not kept
    assert memo.get(3, "extra", lambda: "y") == "y"


# --- GET /api/recommendations ----------------------------------------------------------------------------


def test_recommendations_change_with_a_new_plan(api, settings, read_key):
    first = api.get("/api/recommendations", headers=h(read_key))
    assert first.status_code == 200 and first.headers["ETag"]
    etag = first.headers["ETag"]
    again = api.get("/api/recommendations", headers=h(read_key))
    assert again.data == first.data and again.headers["ETag"] == etag
    same = api.get("/api/recommendations", headers=h(read_key, **{"If-None-Match": etag}))
    assert same.status_code == 304 and same.data == b"" and same.headers["ETag"] == etag

    _in_child(_child_generate, settings, {"max_moves": 1})  # a plan written by another process
    new = api.get("/api/recommendations", headers=h(read_key, **{"If-None-Match": etag}))
    assert new.status_code == 200 and new.headers["ETag"] != etag
    assert new.get_json()["run_id"] == first.get_json()["run_id"] + 1
    assert new.get_json()["total_count"] == 1 < first.get_json()["total_count"]


def test_recommendations_change_with_a_plan_from_another_engine(api, settings, read_key):
    first = api.get("/api/recommendations", headers=h(read_key)).get_json()
    other = other_store(settings)
    generate(settings, other, {"max_moves": 1})
    other.close()
    assert api.get("/api/recommendations", headers=h(read_key)).get_json()["run_id"] == first["run_id"] + 1


def test_each_query_is_kept_apart(api, read_key):
    full = api.get("/api/recommendations", headers=h(read_key)).get_json()
    assert full["count"] > 1
    one = api.get("/api/recommendations?limit=1", headers=h(read_key))
    assert one.get_json()["count"] == 1
    assert api.get("/api/recommendations", headers=h(read_key)).get_json()["count"] == full["count"]
    bad = api.get("/api/recommendations?limit=0", headers=h(read_key))
    assert bad.status_code == 400  # validated before anything kept is looked at


def test_kept_answers_still_need_a_key_and_count_against_the_limit(settings, store, now, read_key):
    with store.engine.begin() as conn:
        save_snapshot(conn, imbalanced_snapshot(T0))
    generate(settings, store, {})
    api = create_app(settings.replace(ratelimit__read_per_minute=3), store, clock=lambda: now[0]).test_client()
    etag = api.get("/api/recommendations", headers=h(read_key)).headers["ETag"]
    assert api.get("/api/recommendations").status_code == 401
    assert api.get("/api/recommendations", headers={"If-None-Match": etag}).status_code == 401
    assert api.get("/api/recommendations", headers=h("pb_not_a_key", **{"If-None-Match": etag})).status_code == 401
    codes = [api.get("/api/recommendations", headers=h(read_key, **{"If-None-Match": etag})).status_code
             for _ in range(3)]
    assert codes == [304, 304, 429]


# --- GET /api/cluster-summary ----------------------------------------------------------------------------


def test_summary_follows_a_new_snapshot_and_the_clock(api, settings, read_key, now):
    first = api.get("/api/cluster-summary", headers=h(read_key)).get_json()
    assert first["summary"]["guest_count"] == 11 and first["age_seconds"] == 30.0
    now[0] += 5
    assert api.get("/api/cluster-summary", headers=h(read_key)).get_json()["age_seconds"] == 35.0
    snap = imbalanced_snapshot(T0 + 10)
    snap = dataclasses.replace(snap, guests=snap.guests[:-1])
    other = other_store(settings)
    with other.engine.begin() as conn:
        save_snapshot(conn, snap)
    other.close()
    second = api.get("/api/cluster-summary", headers=h(read_key)).get_json()
    assert second["summary"]["guest_count"] == 10 and second["age_seconds"] == 25.0
    assert second["timestamp"] == T0 + 10


# --- keys --------------------------------------------------------------------------------------------------


def test_a_revoked_key_is_refused_on_the_next_request(api, store, settings):
    record, key = create_key(store.engine, "soon-revoked", "read")
    assert api.get("/api/cluster-summary", headers=h(key)).status_code == 200
    other = other_store(settings)  # as `proxbalance keys revoke` does
    revoke_key(other.engine, record.id)
    other.close()
    assert api.get("/api/cluster-summary", headers=h(key)).status_code == 401


def test_a_key_revoked_in_another_process_is_refused(api, store, settings):
    record, key = create_key(store.engine, "soon-revoked", "read")
    assert api.get("/api/recommendations", headers=h(key)).status_code == 200
    _in_child(_child_revoke, settings, record.id)
    assert api.get("/api/recommendations", headers=h(key)).status_code == 401


def test_a_key_created_after_a_miss_works(api, store):
    assert api.get("/api/cluster-summary", headers=h("pb_unknown")).status_code == 401
    key = create_key(store.engine, "late", "read")[1]
    assert api.get("/api/cluster-summary", headers=h(key)).status_code == 200


def test_concurrent_misses_compute_once():
    import threading
    import time

    memo, calls, results = Memo(), [], []

    def slow():
        calls.append(1)
        time.sleep(0.2)
        return "v"

    threads = [threading.Thread(target=lambda: results.append(memo.get(1, "k", slow))) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == ["v"] * 6 and len(calls) == 1


def test_a_failed_computation_is_not_shared():
    import threading

    memo, started, release = Memo(), threading.Event(), threading.Event()

    def failing():
        started.set()
        release.wait(5)
        raise RuntimeError("database gone")

    errors = []

    def leader():
        try:
            memo.get(1, "k", failing)
        except RuntimeError as exc:
            errors.append(exc)

    t = threading.Thread(target=leader)
    t.start()
    started.wait(5)
    waiter = []
    w = threading.Thread(target=lambda: waiter.append(memo.get(1, "k", lambda: "own")))
    w.start()
    release.set()
    t.join()
    w.join()
    assert errors and waiter == ["own"]


def test_a_stale_last_use_is_written_once_by_concurrent_requests(api, store, monkeypatch):
    import threading
    import time

    from sqlalchemy import update

    from proxbalance.api import auth
    from proxbalance.store.schema import api_keys

    record, key = create_key(store.engine, "busy", "read")
    with store.engine.begin() as conn:
        conn.execute(update(api_keys).where(api_keys.c.id == record.id).values(last_used_at=time.time() - 3600))
    writes = []
    real = auth.record_use

    def counting(engine, rec, now=None):
        writes.append(rec.id)
        time.sleep(0.1)  # the others arrive while the first write is under way
        real(engine, rec, now)

    monkeypatch.setattr(auth, "record_use", counting)
    app = api.application
    codes = []
    threads = [threading.Thread(target=lambda: codes.append(
        app.test_client().get("/api/cluster-summary", headers=h(key)).status_code)) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert codes == [200] * 6 and writes == [record.id]
