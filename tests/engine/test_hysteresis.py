"""Hysteresis against the previous plan (``plan(previous=...)``, the ``stability`` term)."""

from proxbalance.engine import PenaltyConfig, build_arrays, plan

from .builders import make_guest, make_node, make_snapshot

CFG = PenaltyConfig.from_dict({"min_score_improvement": 1.0, "stability_margin": 50.0})


def _hot_a_and_two_equal_cold_nodes():
    nodes = [make_node("a"), make_node("b"), make_node("c")]
    guests = [make_guest(100 + i, "a", cores=4, cpu=0.9, mem_gib=10) for i in range(4)]
    return build_arrays(make_snapshot(nodes, guests), cfg=CFG)


def _moves(p):
    return {(r.vmid, r.target_node) for r in p.recommendations}


def test_a_previous_choice_between_equal_targets_is_kept():
    a = _hot_a_and_two_equal_cold_nodes()
    fresh = _moves(plan(a, CFG))
    assert fresh
    # the previous plan sent every guest the fresh plan moves to the other cold node: an equal choice
    flipped = [(v, "c" if t == "b" else "b") for v, t in fresh]
    again = plan(a, CFG, previous=flipped)
    assert _moves(again) == set(flipped)
    assert again.stats["stability"]["kept"] == len(flipped)


def test_a_previous_move_that_no_longer_pays_is_dropped():
    nodes = [make_node("a"), make_node("b"), make_node("c")]
    # b is now the hot node: the previous plan's move of 200 from c to b would overload it
    guests = [make_guest(100 + i, "b", cores=4, cpu=0.95, mem_gib=10) for i in range(4)] + [
        make_guest(200, "c", cores=4, cpu=0.9, mem_gib=10)]
    a = build_arrays(make_snapshot(nodes, guests), cfg=CFG)
    p = plan(a, CFG, previous=[(200, "b")])
    assert (200, "b") not in _moves(p)
    assert p.stats["stability"]["kept"] == 0
