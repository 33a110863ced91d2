"""Hysteresis against the previous plan (``plan(previous=...)``, the ``stability`` term)."""

import dataclasses

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


def test_a_rule_fix_is_planned_before_peak_steps_fill_the_budget():
    # a is hot (peak steps would lower it), and two exclude_db guests share c: with one move allowed, the
    # plan fixes the rule (worth far more points), and the next run on the same cluster keeps that move
    nodes = [make_node("a"), make_node("b"), make_node("c")]
    guests = [make_guest(100 + i, "a", cores=4, cpu=0.95, mem_gib=10) for i in range(4)] + [
        make_guest(200, "c", cpu=0.1, tags=("exclude_db",)), make_guest(201, "c", cpu=0.1, tags=("exclude_db",))]
    a = build_arrays(make_snapshot(nodes, guests), cfg=CFG)
    first = plan(a, CFG, max_moves=1)
    assert [(r.vmid in (200, 201), r.reason) for r in first.recommendations] == [(True, "anti-affinity")]
    again = plan(a, CFG, max_moves=1, previous=sorted(_moves(first)))
    assert _moves(again) == _moves(first)



def test_the_peak_phase_may_send_a_kept_move_home_to_free_the_budget():
    # the previous plan spent the one move on 200: c -> b; now a is the hot node. The peak phase, which runs
    # with the budget spent by the kept move, may exchange it (send 200 home, move a guest off a) when that
    # pays the stability margin; before, kept moves were never sent home there and the peak stayed on a
    import numpy as np

    from proxbalance.engine.peak import peak_phase
    from proxbalance.engine.planner import Search

    nodes = [make_node("a"), make_node("b"), make_node("c"), make_node("d")]
    guests = [make_guest(100 + i, "a", cores=4, cpu=0.95, mem_gib=10) for i in range(5)] + [
        make_guest(200, "c", cores=4, cpu=0.5, mem_gib=4), make_guest(201, "c", cores=4, cpu=0.5, mem_gib=4)]
    a = build_arrays(make_snapshot(nodes, guests), cfg=CFG)
    b, u200 = a.node_names.index("b"), int(np.flatnonzero(a.vmids == 200)[0])
    choice = a.placement.copy()
    choice[u200] = b
    s = Search(dataclasses.replace(a, prev_choice=choice), CFG, budget=1)
    assert s.warm_start([(u200, b)]) == 1 and s.locked[u200]
    assert peak_phase(s, CFG.peak_min_step_pct, 10) > 0
    moved = {int(a.vmids[u]): a.node_names[int(s.st.cur[u])] for u in np.flatnonzero(s.st.cur != s.st.orig)}
    assert len(moved) == 1 and min(moved) < 200 and moved[min(moved)] != "a"
