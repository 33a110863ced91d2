"""Hand-built clusters with known answers."""

import json

import numpy as np
import pytest

from proxbalance.engine import PenaltyConfig, build_arrays, plan, score_guest
from proxbalance.engine.planner import execution_order
from proxbalance.engine.units import group_units
from proxbalance.errors import NotFoundError
from proxbalance.model import HARule

from .builders import make_guest, make_node, make_snapshot

CFG = PenaltyConfig.from_dict({"min_score_improvement": 1.0})


def _plan(nodes, guests, cfg=CFG, **kw):
    a = build_arrays(make_snapshot(nodes, guests, **kw), cfg=cfg)
    return a, plan(a, cfg)


def _moves(p):
    return {r.vmid: (r.source_node, r.target_node) for r in p.recommendations}


def test_hot_node_sheds_load_to_cold_node():
    nodes = [make_node("a"), make_node("b")]
    guests = [make_guest(100 + i, "a", cores=4, cpu=0.9, mem_gib=10) for i in range(4)]
    _, p = _plan(nodes, guests)
    moves = _moves(p)
    assert 1 <= len(moves) <= 2 and all(m == ("a", "b") for m in moves.values())
    r = p.recommendations[0]
    assert r.reason == "overload" and r.priority in ("critical", "high", "medium")
    assert p.batch_impact["after"]["peak_pct"] < p.batch_impact["before"]["peak_pct"]
    assert 0 <= r.confidence_score <= 100 and 0 <= r.suitability <= 100 and 0 <= r.risk_score <= 1
    json.dumps(p.to_dict())


def test_balanced_cluster_stays_put():
    nodes = [make_node("a"), make_node("b")]
    guests = [make_guest(100, "a", cpu=0.3), make_guest(101, "b", cpu=0.3)]
    _, p = _plan(nodes, guests)
    assert p.recommendations == []
    assert {r for _, r, _ in p.skipped} == {"insufficient_improvement"}


def test_maintenance_evacuates_all_but_pinned():
    nodes = [make_node("a", maintenance=True), make_node("b"), make_node("c")]
    guests = [make_guest(100, "a"), make_guest(101, "a"), make_guest(102, "a", tags=("pinned",)),
              make_guest(103, "b")]
    _, p = _plan(nodes, guests, cfg=CFG.replace(max_moves=1))
    moves = _moves(p)
    assert set(moves) == {100, 101}, "evacuation ignores the move budget"
    assert all(src == "a" and dst in ("b", "c") for src, dst in moves.values())
    assert all(r.reason == "maintenance" and r.priority == "critical" for r in p.recommendations)
    assert (102, "pinned") in {(v, r) for v, r, _ in p.skipped}


def test_offline_and_maintenance_nodes_are_never_targets():
    nodes = [make_node("a"), make_node("b", online=False), make_node("c", maintenance=True), make_node("d")]
    guests = [make_guest(100 + i, "a", cores=4, cpu=0.9, mem_gib=8) for i in range(4)]
    _, p = _plan(nodes, guests)
    assert p.recommendations and all(r.target_node == "d" for r in p.recommendations)


def test_anti_affinity_splits_exclude_tag():
    nodes = [make_node("a"), make_node("b")]
    guests = [make_guest(100, "a", cpu=0.1, tags=("exclude_db",)), make_guest(101, "a", cpu=0.1, tags=("exclude_db",)),
              make_guest(102, "b", cpu=0.1)]
    _, p = _plan(nodes, guests)
    assert len(p.recommendations) == 1
    r = p.recommendations[0]
    assert r.vmid in (100, 101) and r.target_node == "b" and r.reason == "anti-affinity"


def test_ha_negative_rule_is_anti_affinity():
    nodes = [make_node("a"), make_node("b")]
    guests = [make_guest(100, "a", cpu=0.1), make_guest(101, "a", cpu=0.1), make_guest(102, "b", cpu=0.1)]
    rule = HARule("keep-apart", "resource-affinity", ("vm:100", "vm:101"), affinity="negative")
    _, p = _plan(nodes, guests, ha_rules=(rule,))
    assert [r.reason for r in p.recommendations] == ["anti-affinity"]


def test_affinity_companions_move_together():
    nodes = [make_node("a"), make_node("b")]
    guests = [make_guest(100, "a", cores=4, cpu=0.9, mem_gib=12, tags=("affinity_web",)),
              make_guest(101, "a", cores=4, cpu=0.9, mem_gib=2, tags=("affinity_web",)),
              make_guest(102, "a", cores=8, cpu=0.9, mem_gib=20)]
    a, p = _plan(nodes, guests)
    ua, unit_of = group_units(a)
    assert ua.n_guests == 2 and unit_of[0] == unit_of[1]
    moves = _moves(p)
    assert (100 in moves) == (101 in moves)
    if 100 in moves:
        comp = next(r for r in p.recommendations if r.vmid == 101)
        assert comp.reason == "companion" and comp.companion_of == 100
        assert moves[100] == moves[101]


def test_strict_ha_node_rule_filters_targets():
    nodes = [make_node("a"), make_node("b"), make_node("c", cores=64, mem_gib=256)]
    guests = [make_guest(100 + i, "a", cores=4, cpu=0.9, mem_gib=8) for i in range(4)]
    rules = tuple(HARule(f"r{i}", "node-affinity", (f"vm:{100 + i}",), nodes=(("a", 1), ("b", 1)), strict=True)
                  for i in range(4))
    a, p = _plan(nodes, guests, ha_rules=rules)
    assert p.recommendations and all(r.target_node == "b" for r in p.recommendations)
    opts = score_guest(a, CFG, 100)
    c = next(e for e in opts["nodes"] if e["node"] == "c")
    assert not c["allowed"] and "ha_strict" in c["filtered_by"] and c["suitability"] == 0


def test_memory_limit_no_target_fits():
    nodes = [make_node("a", mem_gib=64), make_node("b", mem_gib=64, mem_used_gib=50)]
    guests = [make_guest(100, "a", mem_gib=40, cpu=0.9, cores=16)]
    _, p = _plan(nodes, guests, cfg=CFG.replace(mem_limit_pct=90.0))
    assert p.recommendations == []
    assert p.skipped == [(100, "no_target_fits", "no other node passes the hard filters")]


def test_safety_margin_counts_configured_memory():
    nodes = [make_node("a", mem_gib=64), make_node("b", mem_gib=64, mem_used_gib=40)]
    guests = [make_guest(100, "a", mem_gib=10, maxmem_gib=40, cpu=1.0, cores=16)]
    for margin, fits in ((0.0, True), (0.5, False)):
        a = build_arrays(make_snapshot(nodes, guests), cfg=CFG.replace(mem_safety_margin=margin))
        opts = score_guest(a, CFG.replace(mem_safety_margin=margin), 100)
        b = next(e for e in opts["nodes"] if e["node"] == "b")
        assert b["allowed"] is fits


@pytest.mark.parametrize("kw,reason", [
    ({"tags": ("ignore",)}, "ignored"), ({"tags": ("pin",)}, "pinned"), ({"status": "stopped"}, "stopped"),
    ({"passthrough": True}, "passthrough"), ({"bind_mounts": True}, "passthrough"),
    ({"template": True}, "template"), ({"lock": "backup"}, "locked"),
])
def test_skip_reasons(kw, reason):
    nodes = [make_node("a"), make_node("b")]
    guests = [make_guest(100, "a", cores=8, cpu=1.0, mem_gib=30, **kw)]
    _, p = _plan(nodes, guests)
    assert p.recommendations == [] and p.skipped[0][:2] == (100, reason)


def test_ha_managed_excluded_by_policy_only():
    nodes = [make_node("a"), make_node("b")]
    guests = [make_guest(100 + i, "a", cores=4, cpu=0.9, mem_gib=8, ha_managed=True) for i in range(4)]
    _, p = _plan(nodes, guests)
    assert p.recommendations and all(r.ha_managed for r in p.recommendations)
    _, p = _plan(nodes, guests, cfg=CFG.replace(exclude_ha_managed=True))
    assert p.recommendations == [] and {r for _, r, _ in p.skipped} == {"ha_managed"}


def test_execution_order_frees_memory_first():
    cfg = CFG.replace(mem_limit_pct=90.0, mem_safety_margin=0.0)
    nodes = [make_node("a", mem_gib=100), make_node("b", mem_gib=100), make_node("c", mem_gib=100)]
    guests = [make_guest(100, "a", mem_gib=45), make_guest(101, "b", mem_gib=10), make_guest(102, "b", mem_gib=40)]
    a = build_arrays(make_snapshot(nodes, guests), cfg=cfg)
    # 100 -> b only fits once 102 has left b
    done, dropped = execution_order(a, cfg, [(0, 1), (2, 2)])
    assert done == [(2, 2), (0, 1)] and dropped == []


def test_unorderable_swap_is_dropped_not_overpacked():
    cfg = CFG.replace(mem_limit_pct=90.0, mem_safety_margin=0.0)
    nodes = [make_node("a", mem_gib=100), make_node("b", mem_gib=100)]
    guests = [make_guest(100, "a", mem_gib=50), make_guest(101, "b", mem_gib=45)]
    a = build_arrays(make_snapshot(nodes, guests), cfg=cfg)
    done, dropped = execution_order(a, cfg, [(0, 1), (1, 0)])
    assert done == [] and [d[:2] for d in dropped] == [(0, 1), (1, 0)]
    assert all("mem_limit" in d[2] for d in dropped)


def test_score_guest_and_hypothetical():
    nodes = [make_node("a"), make_node("b", cores=32, mem_gib=128)]
    guests = [make_guest(100, "a", cores=4, cpu=0.9, mem_gib=30)]
    a = build_arrays(make_snapshot(nodes, guests), cfg=CFG)
    o = score_guest(a, CFG, 100)
    assert o["current_node"] == "a" and o["best_node"] == "b"
    # staying beats paying 30 GiB of migration for a small balance gain
    assert [e["node"] for e in o["nodes"]] == ["a", "b"] and o["nodes"][1]["improvement"] < 0
    cur = next(e for e in o["nodes"] if e["current"])
    assert cur["improvement"] == 0.0
    h = score_guest(a, CFG, None, hypothetical={"cpu_cores": 2, "mem_bytes": 8 * 2**30})
    assert h["hypothetical"] and h["current_node"] is None and h["best_node"] == "b"
    assert all(e["improvement"] is None for e in h["nodes"])
    with pytest.raises(NotFoundError):
        score_guest(a, CFG, 999)
    json.dumps(o), json.dumps(h)


def test_storage_incompatibility_is_a_penalty():
    from proxbalance.model import Disk, Storage

    nodes = [make_node("a"), make_node("b"), make_node("c")]
    guests = [make_guest(100 + i, "a", cores=4, cpu=0.9, mem_gib=8, disks=(Disk("scsi0", "local-zfs", 2**30),))
              for i in range(4)]
    st = tuple(Storage("local-zfs", n, "zfspool", False, 10**12, 0) for n in ("a", "c"))
    _, p = _plan(nodes, guests, storages=st)
    assert p.recommendations and all(r.target_node == "c" for r in p.recommendations)


def test_suitability_range_and_breakdown_sum():
    nodes = [make_node("a"), make_node("b")]
    guests = [make_guest(100 + i, "a", cores=4, cpu=0.9, mem_gib=10) for i in range(4)]
    _, p = _plan(nodes, guests)
    r = p.recommendations[0]
    assert np.isclose(sum(x["gain"] for x in r.breakdown.values()), r.score_improvement, atol=0.05)
    assert r.migration["bytes"] == 10 * 2**30 and r.migration["seconds"] > 0


def test_recommendation_to_dict_is_asdict_with_nothing_shared():
    import dataclasses

    from proxbalance.engine.recommend import Recommendation

    r = Recommendation(vmid=1, name="a", type="VM", source_node="n1", target_node="n2", reason="balance",
                       priority="low", score_improvement=1.0, confidence_score=50, risk_score=0.1, suitability=60.0,
                       predicted={"source_cpu_pct": 1.0}, migration={"bytes": 1}, breakdown={"t": {"gain": 1.0}},
                       order=1, target_storage={"local": "tank"})
    d = r.to_dict()
    assert d == dataclasses.asdict(r) and list(d) == list(dataclasses.asdict(r))
    d["breakdown"]["t"]["gain"] = 2.0
    d["predicted"]["x"] = d["target_storage"]["y"] = 0
    assert r.breakdown["t"]["gain"] == 1.0 and "x" not in r.predicted and "y" not in r.target_storage
