"""Store: snapshot round trip (hypothesis), rollups, retention and the usage blends, on a fake clock."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import func, select

from proxbalance.config import load_settings
from proxbalance.model import ClusterSnapshot, Disk, Guest, HARule, Node, Storage
from proxbalance.store import Store
from proxbalance.store.history import guest_sample, insert_raw, node_sample, usage_history
from proxbalance.store.rollups import Retention, ensure_markers, maintain
from proxbalance.store.schema import guest_1h, guest_5m, guest_raw, node_raw, snapshot_guests, snapshots
from proxbalance.store.snapshots import latest_snapshot, load_snapshot, prune_snapshots, save_snapshot

text = st.text(st.characters(blacklist_categories=("Cs",)), max_size=12)
name = st.from_regex(r"[a-z][a-z0-9-]{0,8}", fullmatch=True)
f = st.floats(allow_nan=False, width=64)
i = st.integers(0, 2**62)
opt = st.none() | text

nodes = st.builds(Node, name=name, online=st.booleans(), maxcpu=i, cpu=f, maxmem=i, mem=i, iowait=f, loadavg=f,
                  netin=f, netout=f, pressure_cpu_some=f, pressure_io_some=f, pressure_io_full=f,
                  pressure_mem_some=f, pressure_mem_full=f, maintenance=st.booleans(), reachable=st.booleans(),
                  uptime=i, pve_version=text)
disks = st.builds(Disk, key=text, storage=text, size=i, shared=st.booleans())
guests = st.builds(Guest, vmid=st.integers(100, 999_999_999), name=text, type=st.sampled_from(["qemu", "lxc"]),
                   node=name, status=text, maxcpu=f, cpu=f, maxmem=i, mem=i, maxdisk=i, diskread=f, diskwrite=f,
                   netin=f, netout=f, tags=st.tuples(text, text) | st.just(()), ha_managed=st.booleans(),
                   ha_state=opt, lock=opt, template=st.booleans(), pool=opt,
                   disks=st.lists(disks, max_size=3).map(tuple), passthrough=st.booleans(),
                   bind_mounts=st.booleans(), uptime=i)
storages = st.builds(Storage, storage=text, node=name, type=text, shared=st.booleans(), total=i, used=i,
                     active=st.booleans(), enabled=st.booleans(), content=st.lists(text, max_size=3).map(tuple))
rules = st.builds(HARule, rule=text, type=st.sampled_from(["node-affinity", "resource-affinity"]),
                  resources=st.lists(text, max_size=3).map(tuple),
                  nodes=st.lists(st.tuples(name, st.integers(0, 1000)), max_size=3).map(tuple),
                  strict=st.booleans(), affinity=st.sampled_from([None, "positive", "negative"]),
                  disabled=st.booleans())
snaps = st.builds(ClusterSnapshot, time=st.floats(0, 4e9), nodes=st.lists(nodes, max_size=4, unique_by=lambda n: n.name)
                  .map(tuple), guests=st.lists(guests, max_size=5, unique_by=lambda g: g.vmid).map(tuple),
                  storages=st.lists(storages, max_size=3).map(tuple), ha_rules=st.lists(rules, max_size=2).map(tuple),
                  quorate=st.booleans(), cluster_name=text, errors=st.lists(text, max_size=3).map(tuple),
                  duration=st.floats(0, 1e6))


@pytest.fixture(scope="module")
def mstore(tmp_path_factory):
    s = Store.open(load_settings(env={}, overrides={"paths.data_dir": str(tmp_path_factory.mktemp("rt"))}))
    yield s
    s.close()


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(snap=snaps)
def test_snapshot_round_trips(mstore, snap):
    with mstore.engine.begin() as conn:
        sid = save_snapshot(conn, snap, api_calls=7)
    with mstore.engine.connect() as conn:
        assert load_snapshot(conn, sid) == snap
    assert latest_snapshot(mstore.engine) is not None


def _store(tmp_path):
    return Store.open(load_settings(env={}, overrides={"paths.data_dir": str(tmp_path)}))


def _count(conn, table):
    return conn.execute(select(func.count()).select_from(table)).scalar()


def test_rollups_and_stitched_blends_equal_the_raw_mean(tmp_path):
    s = _store(tmp_path)
    t0 = 1_700_000_000 // 3600 * 3600
    minutes = 3 * 60 + 7
    with s.engine.begin() as conn:
        ensure_markers(conn, t0)
    for k in range(minutes):  # one 1-minute cycle at a time, as the collector does
        t = t0 + 60 * k
        with s.engine.begin() as conn:
            insert_raw(conn, [node_sample(t, "pve1", 2.0 + k / 60, 1e9, 0.01, 100.0)],
                       [guest_sample(t, 100, (k % 10) / 10, 1024 * 1000, 10.0 * k, 5.0)])
            maintain(conn, t, Retention())
    now = t0 + 60 * (minutes - 1)
    with s.engine.connect() as conn:
        assert _count(conn, guest_1h) == 3  # three complete hours
        assert _count(conn, guest_5m) == minutes // 5  # every complete 5-minute bucket, once
    hist = usage_history(s.engine, now=now + 1)
    cpu = hist.guests[100]["cpu"]
    assert cpu.avg_7d == pytest.approx(sum((k % 10) / 10 for k in range(minutes)) / minutes, abs=1e-3)
    assert cpu.max_7d == pytest.approx(0.9)
    assert hist.guests[100]["mem"].avg_24h == pytest.approx(1024 * 1000)
    disk = hist.guests[100]["disk"]
    assert disk.avg_7d == pytest.approx(10.0 * (minutes - 1) / 2, rel=1e-3)
    assert disk.slope_per_day == pytest.approx(10.0 * 1440, rel=1e-2)  # +10 B/s per minute
    assert hist.nodes["pve1"]["cpu"].slope_per_day == pytest.approx(1440 / 60, rel=1e-2)
    s.close()


def test_retention_drops_old_rows_and_snapshot_detail(tmp_path):
    s = _store(tmp_path)
    t0 = 1_700_000_000 // 3600 * 3600
    ret = Retention(raw=2 * 3600, five_min=4 * 3600, hourly=6 * 3600, full_snapshots=2)
    with s.engine.begin() as conn:
        ensure_markers(conn, t0)
    for h in range(10):
        for m in range(0, 60, 10):
            t = t0 + h * 3600 + m * 60
            with s.engine.begin() as conn:
                save_snapshot(conn, ClusterSnapshot(time=t, nodes=(), guests=(
                    Guest(100, "a", "qemu", "pve1", "running", 1, 0.5, 1, 1),)))
                insert_raw(conn, [], [guest_sample(t, 100, 1, 1, 1, 1)])
                maintain(conn, t, ret)
    now = t0 + 9 * 3600 + 50 * 60
    with s.engine.connect() as conn:
        assert conn.execute(select(func.min(guest_raw.c.t))).scalar() >= now - 2 * 3600 - 300
        assert conn.execute(select(func.min(guest_5m.c.t))).scalar() >= now - 4 * 3600
        assert conn.execute(select(func.min(guest_1h.c.t))).scalar() >= now - 6 * 3600
        assert conn.execute(select(func.min(snapshots.c.time))).scalar() >= now - 2 * 3600
        assert len({r[0] for r in conn.execute(select(snapshot_guests.c.snapshot_id))}) == 2
        assert _count(conn, node_raw) == 0
    assert latest_snapshot(s.engine).guests[0].vmid == 100
    with s.engine.begin() as conn:
        assert prune_snapshots(conn, keep_detail=1, older_than=now + 1) > 0
    assert latest_snapshot(s.engine) is None
    s.close()


@settings(max_examples=60, deadline=None)
@given(snap=snaps)
def test_plain_writes_the_json_that_asdict_would(snap):
    import json
    from dataclasses import asdict

    from proxbalance.store.plain import plain

    for obj in (*snap.nodes, *snap.guests, *snap.storages, *snap.ha_rules):
        assert json.dumps(plain(obj)) == json.dumps(asdict(obj))


def test_guest_rows_are_versioned_arrays_and_the_newest_version_matches_the_model():
    """A change to Guest or Disk must add a row version (old rows keep decoding with their own field order)."""
    import dataclasses

    from proxbalance.store.snapshots import DISK_ROW_FIELDS, GUEST_ROW_FIELDS, GUEST_ROW_VERSION, guest_row

    assert GUEST_ROW_FIELDS[GUEST_ROW_VERSION] == tuple(f.name for f in dataclasses.fields(Guest))
    assert DISK_ROW_FIELDS[GUEST_ROW_VERSION] == tuple(f.name for f in dataclasses.fields(Disk))
    g = Guest(100, "a", "qemu", "n1", "running", 2.0, 0.5, 2**30, 2**29, tags=("x",),
              disks=(Disk("scsi0", "local-lvm", 2**34),))
    assert guest_row(g)[:3] == [GUEST_ROW_VERSION, 100, "a"]


def test_snapshots_stored_with_object_rows_still_load(mstore):
    """Rows written before the array format (JSON objects of every field) decode to the same guests."""
    import json

    from proxbalance.store.plain import plain

    g = Guest(101, "b", "lxc", "n1", "stopped", 1.0, 0.0, 2**30, 0, tags=("t1", "t2"),
              disks=(Disk("rootfs", "tank", 2**33, True),))
    snap = ClusterSnapshot(time=5.0, nodes=(Node("n1", True, 4, 0.1, 2**34, 2**32),), guests=(g,))
    with mstore.engine.begin() as conn:
        sid = save_snapshot(conn, snap)
        conn.execute(snapshot_guests.update().where(snapshot_guests.c.snapshot_id == sid)
                     .values(data=json.dumps(plain(g))))
    with mstore.engine.connect() as conn:
        assert conn.execute(select(snapshot_guests.c.data).where(snapshot_guests.c.snapshot_id == sid)).scalar()[0] == "{"
        assert load_snapshot(conn, sid) == snap
