"""The materialised usage summary gives exactly what the full history query gives, while the collector
writes samples, rolls them up and guests come and go (store/usage_summary.py)."""

from __future__ import annotations

import numpy as np
import pytest

from proxbalance.config import load_settings
from proxbalance.store import Store, usage_summary
from proxbalance.store.history import (
    _from_summary,
    guest_sample,
    insert_raw,
    insert_rollup_rows,
    node_sample,
    usage_history,
)
from proxbalance.store.inventory import get_state
from proxbalance.store.rollups import Retention, ensure_markers, maintain
from proxbalance.store.schema import guest_1h

T0 = 1_700_000_000 // 3600 * 3600 + 1234  # not on an hour
STEP = 600  # seconds between collections


def _equal(a, b) -> None:
    assert set(a.guests) == set(b.guests) and set(a.nodes) == set(b.nodes)
    for side in ("guests", "nodes"):
        for k, stats in getattr(a, side).items():
            for m, x in stats.items():
                y = getattr(b, side)[k][m]
                for f in ("avg_24h", "avg_7d", "max_7d", "slope_per_day"):
                    assert getattr(x, f) == pytest.approx(getattr(y, f), rel=1e-7, abs=1e-6), (side, k, m, f)


def _fast_used(store, now) -> bool:
    with store.engine.connect() as conn:
        m1 = get_state(conn, "rollup_1h_until", 0)
        m5 = get_state(conn, "rollup_5m_until", 0)
        p = {"now": now, "w1": now - 86400, "w7": now - 7 * 86400, "m1": m1, "m5": m5}
        return _from_summary(conn, now, m1, p) is not None


@pytest.fixture
def store(tmp_path):
    s = Store.open(load_settings(env={}, overrides={"paths.data_dir": str(tmp_path)}))
    yield s
    s.close()


def _collect(store, t: int, rng, vmids) -> None:
    with store.engine.begin() as conn:
        insert_raw(conn, [node_sample(t, n, rng.uniform(0, 8), rng.uniform(1e9, 3e10), rng.uniform(0, .2),
                                      rng.uniform(0, 1e7)) for n in ("a", "b")],
                   [guest_sample(t, v, rng.uniform(0, 4), rng.uniform(1e8, 4e9), rng.uniform(0, 1e7),
                                 rng.uniform(0, 1e6)) for v in vmids])
        ensure_markers(conn, t)
        maintain(conn, t, Retention())


def test_summary_equals_the_full_query_over_nine_days(store):
    rng = np.random.default_rng(3)
    checked = fast = 0
    steps = 9 * 86400 // STEP
    for k in range(steps):
        t = T0 + k * STEP
        day = k * STEP / 86400
        vmids = [100, 101] + ([102] if 2 < day < 8.5 else []) + ([103] if day < 4 else [])
        _collect(store, t, rng, vmids)
        if k % 7 == 0 or k > steps - 12:
            with store.engine.connect() as conn:
                m1 = get_state(conn, "rollup_1h_until")
            # the collection time, the hourly marker itself and a time past the half hour
            for now in {t, m1, m1 + 1801, m1 + 3600} if m1 else {t}:
                if now > t:
                    continue
                _equal(usage_history(store.engine, now=now), usage_history(store.engine, now=now, exact=True))
                fast += _fast_used(store, now)
                checked += 1
    assert checked > 150 and fast > checked * 0.8  # the summary answered (not the fallback)


def test_rows_written_outside_the_rollup_invalidate_and_the_next_rollup_rebuilds(store):
    rng = np.random.default_rng(4)
    for k in range(3 * 86400 // STEP):
        _collect(store, T0 + k * STEP, rng, [100, 101])
    t = T0 + 3 * 86400
    assert _fast_used(store, t - STEP)
    with store.engine.begin() as conn:  # what a backfill does: hours in the past
        m1 = get_state(conn, "rollup_1h_until")
        insert_rollup_rows(conn, guest_1h, [{"t": m1 - 5 * 3600, "vmid": 555, "cpu": 9000, "cpu_max": 9900,
                                             "mem": 5, "mem_max": 5, "disk": 0, "disk_max": 0, "net": 0,
                                             "net_max": 0, "n": 12}])
    assert not _fast_used(store, t - STEP)  # stale: the exact query answers, with the new row
    assert 555 in usage_history(store.engine, now=t - STEP).guests
    _collect(store, t, rng, [100, 101])
    assert _fast_used(store, t)
    _equal(usage_history(store.engine, now=t), usage_history(store.engine, now=t, exact=True))
    assert 555 in usage_history(store.engine, now=t).guests


def test_incremental_update_is_used_hour_by_hour(store, monkeypatch):
    rng = np.random.default_rng(5)
    done = []
    real = usage_summary.refresh

    def spy(conn, m1):
        out = real(conn, m1)
        done.append(out)
        return out

    monkeypatch.setattr(usage_summary, "refresh", spy)
    for k in range(2 * 86400 // STEP):
        _collect(store, T0 + k * STEP, rng, [100, 101])
    assert done.count("rebuilt") == 1 and done.count("advanced") >= 40


def _two_days_of_four_guests(store, seed: int):
    """Two days of collections of guests 100-103 on node a; returns (their snapshot, the time after them, the
    random generator that drew the samples, to collect more)."""
    from proxbalance.model import ClusterSnapshot, Guest, Node

    rng = np.random.default_rng(seed)
    vmids = [100, 101, 102, 103]
    for k in range(2 * 86400 // STEP):
        _collect(store, T0 + k * STEP, rng, vmids)
    now = T0 + 2 * 86400
    snap = ClusterSnapshot(now, (Node("a", True, 8, 0.5, 2**35, 2**33),),
                           tuple(Guest(v, f"g{v}", "qemu", "a", "running", 4, 0.5, 2**32, 2**31) for v in vmids))
    return snap, now, rng


def test_guest_profiles_of_a_few_guests_equal_the_full_read(store):
    """The plan's records read profiles of its few moved guests by key (forecast_hooks.after_plan)."""
    from proxbalance.workload import guest_profiles

    vmids = [100, 101, 102, 103]
    snap, now, _ = _two_days_of_four_guests(store, seed=6)
    full = guest_profiles(store, snap, now)
    few = guest_profiles(store, snap, now, vmids=[101, 103])
    assert set(full) == set(vmids) and set(few) == {101, 103}
    assert few == {v: full[v] for v in (101, 103)}


def test_guest_profiles_are_kept_for_the_hour_and_read_again_when_it_moves(store, monkeypatch):
    """A decision's few profiles are read once per hour: later calls read only guests not seen yet; a new
    rolled-up hour or a guest's new capacity reads again, and the answers equal a fresh read."""
    import dataclasses

    from proxbalance import workload

    vmids = [100, 101, 102, 103]
    snap, now, rng = _two_days_of_four_guests(store, seed=7)
    reads = []
    real = workload._guest_profiles
    monkeypatch.setattr(workload, "_guest_profiles", lambda *a: reads.append(a[4]) or real(*a))
    first = workload.guest_profiles(store, snap, now, vmids=[101, 103])
    again = workload.guest_profiles(store, snap, now, vmids=[100, 101, 103])
    assert reads == [[101, 103], [100]]
    assert again == real(store, snap, now, 168, [100, 101, 103]) and {v: again[v] for v in first} == first
    bigger = dataclasses.replace(snap, guests=(dataclasses.replace(snap.guests[1], maxcpu=8), *snap.guests[2:]))
    workload.guest_profiles(store, bigger, now, vmids=[101, 103])
    assert reads[-1] == [101]  # its CPU % is of the new capacity
    for k in range(2 * 86400 // STEP, 2 * 86400 // STEP + 3600 // STEP + 1):  # the next hour is rolled up
        _collect(store, T0 + k * STEP, rng, vmids)
    later = now + 3600
    workload.guest_profiles(store, snap, later, vmids=[101, 103])
    assert reads[-1] == [101, 103]


def _recent_used(store, now) -> bool:
    from proxbalance.store import recent_summary

    with store.engine.connect() as conn:
        return recent_summary.read(conn, now, get_state(conn, "rollup_1h_until", 0),
                                   get_state(conn, "rollup_5m_until", 0)) is not None


def test_recent_rows_summary_is_kept_by_the_collector_and_equals_the_full_query(store):
    """Every minute for 2 h (5-minute and hourly rollups, a guest leaving and one arriving): the kept sums of
    the rows after the hourly marker answer, and give what the full query gives."""
    rng = np.random.default_rng(8)
    for k in range(125):
        t = T0 + k * 60
        vmids = [100, 101, *([102] if k < 50 else []), *([103] if k >= 70 else [])]
        _collect(store, t, rng, vmids)
        if k:
            assert _recent_used(store, t), k
        _equal(usage_history(store.engine, now=t), usage_history(store.engine, now=t, exact=True))


def test_recent_rows_written_outside_insert_raw_fall_back_to_the_full_query(store):
    rng = np.random.default_rng(9)
    for k in range(8):
        _collect(store, T0 + k * 60, rng, [100, 101])
    t = T0 + 8 * 60
    assert _recent_used(store, t - 60)
    with store.engine.begin() as conn:  # a raw row the summary does not know of
        conn.exec_driver_sql("INSERT INTO guest_raw (t, vmid, cpu, mem, disk, net) VALUES (?, 555, 4000, 1000, 0, 0)",
                             (t - 30,))
    assert not _recent_used(store, t)
    h = usage_history(store.engine, now=t)
    assert 555 in h.guests
    _equal(h, usage_history(store.engine, now=t, exact=True))
    _collect(store, t, rng, [100, 101])  # the next collection's insert finds it stale; the rollup rebuilds it
    assert _recent_used(store, t)
    _equal(usage_history(store.engine, now=t), usage_history(store.engine, now=t, exact=True))
