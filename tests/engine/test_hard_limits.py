"""Hard limits are filters: storage, strict anti-affinity, maintenance / offline targets, evacuation."""

import numpy as np

from proxbalance.engine import PenaltyConfig, build_arrays, plan, score_guest
from proxbalance.model import Disk, HARule, Storage

from .builders import GIB, make_guest, make_node, make_snapshot

CFG = PenaltyConfig.from_dict({"min_score_improvement": 1.0})


def _moves(p):
    return {r.vmid: (r.source_node, r.target_node) for r in p.recommendations}


def _lvm(node, sid="local-lvm", type_="lvmthin"):
    return Storage(sid, node, type_, False, 1000 * GIB, 0, content=("images", "rootdir"))


def _hot_a_idle_b(storages):
    """Issue 8's reproducer: a 15.5 of 16 cores busy, b idle, two VMs on a with a disk on local-lvm."""
    nodes = [make_node("a", cores=16), make_node("b", cores=16)]
    disk = (Disk("scsi0", "local-lvm", 32 * GIB),)
    guests = [make_guest(100, "a", cores=8, cpu=0.97, mem_gib=8, disks=disk),
              make_guest(101, "a", cores=8, cpu=0.97, mem_gib=8, disks=disk)]
    return make_snapshot(nodes, guests, storages=storages)


def test_storage_missing_on_target_is_never_planned():
    snap = _hot_a_idle_b((_lvm("a"),))
    a = build_arrays(snap, cfg=CFG)
    p = plan(a, CFG)
    assert _moves(p) == {}, "b lacks local-lvm: PVE would refuse the migration"
    opts = score_guest(a, CFG, 100)
    b = next(n for n in opts["nodes"] if n["node"] == "b")
    assert not b["allowed"] and "storage_available" in b["filtered_by"]
    assert {r for _, r, _ in p.skipped} == {"no_target_fits"}


def test_storage_on_both_nodes_moves_without_mapping():
    p = plan(build_arrays(_hot_a_idle_b((_lvm("a"), _lvm("b"))), cfg=CFG), CFG)
    assert set(_moves(p).values()) == {("a", "b")}
    assert all(r.target_storage is None for r in p.recommendations)


def test_storage_mapped_to_a_local_storage_of_the_same_type():
    snap = _hot_a_idle_b((_lvm("a"), _lvm("b", "data-lvm"), _lvm("b", "b-dir", "dir")))
    p = plan(build_arrays(snap, cfg=CFG), CFG)
    assert set(_moves(p).values()) == {("a", "b")}
    assert all(r.target_storage == {"local-lvm": "data-lvm"} for r in p.recommendations)
    off = CFG.replace(storage_mapping=False)
    assert _moves(plan(build_arrays(snap, cfg=off), off)) == {}


def test_storage_mapping_needs_room_and_the_same_type():
    small = Storage("data-lvm", "b", "lvmthin", False, 10 * GIB, 0, content=("images",))
    for st in (small, _lvm("b", "b-dir", "dir"), Storage("iso", "b", "lvmthin", False, 10**13, 0, content=("iso",))):
        p = plan(build_arrays(_hot_a_idle_b((_lvm("a"), st)), cfg=CFG), CFG)
        assert _moves(p) == {}, st


def _anti(tag_or_rule):
    nodes = [make_node("a"), make_node("b"), make_node("c", cores=64, mem_gib=512)]
    kw = {}
    tags = ("exclude_db",) if tag_or_rule == "tag" else ()
    guests = [make_guest(100, "a", cores=8, cpu=0.95, tags=tags), make_guest(101, "a", cores=8, cpu=0.95),
              make_guest(102, "c", cores=2, cpu=0.1, tags=tags)]
    if tag_or_rule == "rule":
        kw["ha_rules"] = (HARule("keep-apart", "resource-affinity", ("vm:100", "vm:102"), affinity="negative"),)
    return make_snapshot(nodes, guests, **kw)


def test_strict_anti_affinity_is_a_filter():
    for kind in ("tag", "rule"):
        snap = _anti(kind)
        a = build_arrays(snap, cfg=CFG)
        opts = score_guest(a, CFG, 100)
        c = next(n for n in opts["nodes"] if n["node"] == "c")
        assert not c["allowed"] and "anti_affinity_strict" in c["filtered_by"], kind
        p = plan(a, CFG)
        assert _moves(p).get(100, ("a", "b"))[1] != "c", kind


def test_exclude_tags_soft_setting_makes_tags_a_preference():
    soft = CFG.replace(exclude_tags_soft=True, anti_affinity_penalty=0.0)
    opts = score_guest(build_arrays(_anti("tag"), cfg=soft), soft, 100)
    assert next(n for n in opts["nodes"] if n["node"] == "c")["allowed"]
    # an HA rule stays strict whatever the setting
    opts = score_guest(build_arrays(_anti("rule"), cfg=soft), soft, 100)
    assert not next(n for n in opts["nodes"] if n["node"] == "c")["allowed"]


def test_one_guest_evacuation_does_not_oscillate():
    """Issue 8's reproducer: the maintenance node used to stay a target for its own guest (331 iterations)."""
    nodes = [make_node("a", cores=8, maintenance=True), make_node("b", cores=8, cpu=0.9)]
    guests = [make_guest(100, "a", cores=8, cpu=1.0, mem_gib=8)]
    a = build_arrays(make_snapshot(nodes, guests), cfg=CFG)
    p = plan(a, CFG)
    assert _moves(p) == {100: ("a", "b")}
    assert p.stats["iterations"] <= 20 and p.stats["evacuation_iterations"] == 1
    opts = score_guest(a, CFG, 100)
    assert not next(n for n in opts["nodes"] if n["node"] == "a")["allowed"], "maintenance: never a target"


def test_guest_stuck_on_maintenance_node_says_why():
    nodes = [make_node("a", maintenance=True), make_node("b", mem_gib=8)]
    guests = [make_guest(100, "a", mem_gib=16)]
    p = plan(build_arrays(make_snapshot(nodes, guests), cfg=CFG), CFG)
    assert p.recommendations == [] and p.skipped == [(100, "no_target_fits", "no other node passes the hard filters")]


def test_offline_and_maintenance_nodes_never_receive():
    nodes = [make_node("a", cores=8), make_node("b", online=False), make_node("c", maintenance=True)]
    guests = [make_guest(100 + i, "a", cores=4, cpu=0.9) for i in range(4)]
    p = plan(build_arrays(make_snapshot(nodes, guests), cfg=CFG), CFG)
    assert all(r.target_node == "a" for r in p.recommendations) and not p.recommendations
    assert np.all([r for _, r, _ in p.skipped] == np.array(["no_target_fits"] * 4))


def test_evacuation_iterations_are_the_guests_moved():
    """Issue 12: evacuating a maintenance node takes one greedy iteration per guest leaving it (never a return
    trip), whatever the number of guests; the whole plan stays within a few iterations more."""
    for k in (3, 12, 40):
        nodes = [make_node("m", cores=64, mem_gib=512, maintenance=True)] + [
            make_node(f"n{j}", cores=64, mem_gib=512, cpu=0.85) for j in range(4)]
        guests = [make_guest(100 + i, "m", cores=2, cpu=0.5, mem_gib=2) for i in range(k)]
        guests += [make_guest(1000 + i, f"n{i % 4}", cores=2, cpu=0.3, mem_gib=2) for i in range(8)]
        p = plan(build_arrays(make_snapshot(nodes, guests), cfg=CFG), CFG, max_moves=0)
        left = {v for v, (s, _) in _moves(p).items() if s == "m"}
        assert left == set(range(100, 100 + k))
        assert p.stats["evacuation_iterations"] == k
        assert p.stats["iterations"] <= k + 20
