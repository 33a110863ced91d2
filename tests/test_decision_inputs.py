"""The decision's cached snapshot + history decode (store/decision_inputs.py): kept across decisions on the same
collection, never answering from an older collection."""

from __future__ import annotations

import dataclasses

from proxbalance import recommendations as svc
from proxbalance.store.history import guest_sample, insert_raw, node_sample
from proxbalance.store.snapshots import save_snapshot
from tests.test_recommendations_api import imbalanced_snapshot


def _collect(store, snap):
    """What a collection cycle writes that a decision reads: the snapshot and one raw sample per entity."""
    with store.engine.begin() as conn:
        save_snapshot(conn, snap)
        insert_raw(conn, [node_sample(int(snap.time), n.name, n.cpu * n.maxcpu, n.mem, 0.0, 0.0) for n in snap.nodes],
                   [guest_sample(int(snap.time), g.vmid, g.cpu * g.maxcpu, g.mem, 0.0, 0.0) for g in snap.guests])


def test_repeated_decisions_on_one_collection_decode_once(settings, store):
    _collect(store, imbalanced_snapshot())
    first = svc.generate(settings, store)
    second = svc.generate(settings, store)  # its own saved run (a commit) does not drop the kept decode
    assert (store.inputs.misses, store.inputs.hits) == (1, 1)
    moves = [[(r["vmid"], r["target_node"]) for r in x["recommendations"]] for x in (first, second)]
    assert moves[0] == moves[1] and moves[0]


def test_a_new_collection_is_seen_by_the_next_decision(settings, store):
    snap = imbalanced_snapshot()
    _collect(store, snap)
    assert svc.generate(settings, store)["snapshot_time"] == snap.time
    later = dataclasses.replace(snap, time=snap.time + 60,
                                guests=tuple(g for g in snap.guests if g.vmid != 100))  # vm 100 is gone
    _collect(store, later)
    out = svc.generate(settings, store)
    assert out["snapshot_time"] == later.time and out["guests_evaluated"] == len(later.guests)
    assert 100 not in {r["vmid"] for r in out["recommendations"]}
    assert store.inputs.misses == 2


def test_history_written_without_a_new_snapshot_drops_the_kept_decode(settings, store):
    snap = imbalanced_snapshot()
    _collect(store, snap)
    _, before = store.inputs.get(store.engine)
    with store.engine.begin() as conn:  # a sample for vm 200 at a later second, no new snapshot
        insert_raw(conn, [], [guest_sample(int(snap.time) + 30, 200, 8.0, 8 * 1024**3, 0.0, 0.0)])
    _, after = store.inputs.get(store.engine)
    assert store.inputs.misses == 2
    row = after.guest_table.keys.index(200)
    assert after.guest_table.values[row, 0, 0] > before.guest_table.values[before.guest_table.keys.index(200), 0, 0]


def test_kept_history_arrays_are_read_only(store):
    _collect(store, imbalanced_snapshot())
    _, hist = store.inputs.get(store.engine)
    assert not hist.guest_table.values.flags.writeable


def test_no_snapshot_yet_is_not_kept(store):
    assert store.inputs.get(store.engine) == (None, None)
    _collect(store, imbalanced_snapshot())
    snap, _ = store.inputs.get(store.engine)
    assert snap is not None and store.inputs.misses == 2
