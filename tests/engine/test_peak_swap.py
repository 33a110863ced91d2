"""A swap is one decision: both halves valued, kept and dropped together, each naming the other; the memory
limit holds after every single migration (the half that fits first runs first)."""

import numpy as np
import pytest

from proxbalance.engine import PenaltyConfig, build_arrays, load_preset, plan
from proxbalance.engine.planner import execution_order
from proxbalance.engine.score import Scorer
from proxbalance.engine.state import State, View
from proxbalance.engine.steps import valued_steps

from .builders import make_guest, make_node, make_snapshot

CFG = PenaltyConfig.from_dict({}).replace(mem_limit_pct=90.0, mem_safety_margin=0.0)


def _two_node(mem_a, mem_b):
    nodes = [make_node("a", mem_gib=100), make_node("b", mem_gib=100)]
    guests = [make_guest(100, "a", mem_gib=mem_a), make_guest(101, "b", mem_gib=mem_b),
              make_guest(102, "b", mem_gib=30)]
    return build_arrays(make_snapshot(nodes, guests), cfg=CFG)


def test_swap_halves_are_adjacent_and_safe_first():
    # 100 (a, 50 GiB) -> b only fits after 101 (b, 30 GiB) has left b: 101 runs first
    a = _two_node(50, 30)
    done, dropped = execution_order(a, CFG, [(0, 1), (1, 0)], {0: 1, 1: 0})
    assert done == [(1, 0), (0, 1)] and dropped == []


def test_swap_dropped_as_one():
    # neither order fits: both halves are dropped, and so is a paired half whose partner cannot run
    a = _two_node(50, 45)
    done, dropped = execution_order(a, CFG, [(0, 1), (1, 0)], {0: 1, 1: 0})
    assert done == [] and {d[0] for d in dropped} == {0, 1}
    ordered, _, worthless, *_ = valued_steps(a, CFG, Scorer(CFG), [(0, 1), (1, 0)], pairs={0: 1, 1: 0})
    assert ordered == []


def test_swap_pair_value_is_shared():
    """A pair that gains nothing as a whole is dropped whole; a kept pair's halves carry equal shares."""
    a = _two_node(40, 30)
    cfg = CFG.replace(peak_weight=0.0)
    ordered, _, worthless, _, _, _, gains, tg, mate = valued_steps(a, cfg, Scorer(cfg), [(0, 1), (1, 0)],
                                                                   pairs={0: 1, 1: 0})
    if ordered:
        assert sorted(mate.tolist()) == [0, 1] and gains[0] == pytest.approx(gains[1]) and gains[0] > 0
    else:
        assert set(worthless) == {0, 1}


def _replay_is_safe(a, cfg, p):
    st, sc = State(a), Scorer(cfg)
    idx = {n: j for j, n in enumerate(a.node_names)}
    for r in sorted(p.recommendations, key=lambda r: r.order):
        u, t = a.index_of(r.vmid), idx[r.target_node]
        assert sc.allowed(View(st, np.array([u]), np.array([t])))[0, 0], r.vmid  # memory limit included
        st.apply(u, t)
        mem = st.n["now"][t, 1] / a.cap[t, 1] * 100  # the node that received the guest (sources only shrink)
        assert mem <= cfg.mem_limit_pct + 1e-6, (r.vmid, r.target_node, mem)


@pytest.mark.parametrize("seed", [0, 1])
def test_trace_swaps_name_each_other_and_keep_memory(seed):
    """On the trace subset shipped in the repository (so it runs in CI, never skips)."""
    from bench.trace_clusters import SUBSET_TRACE as TRACE
    from bench.trace_clusters import trace_cluster

    cfg = load_preset("balanced").replace(weight_current=1.0, weight_24h=0.0, weight_7d=0.0,
                                          min_score_improvement=1.0)
    snap, _ = trace_cluster(TRACE, 16, 500, seed=seed, history=False)
    a = build_arrays(snap, None, cfg)
    p = plan(a, cfg, max_moves=20)
    by = {r.vmid: r for r in p.recommendations}
    halves = [r for r in p.recommendations if r.swap_with is not None]
    assert halves, "expected at least one swap on this cluster"
    for r in halves:
        m = by[r.swap_with]
        assert m.swap_with == r.vmid and abs(m.order - r.order) == 1
        assert r.score_improvement == pytest.approx(m.score_improvement, abs=1e-3) and r.score_improvement > 0
        assert r.confidence_score >= 1
        assert all(x.get("share_of_pair") == 0.5 for x in r.breakdown.values())
        assert np.isclose(sum(x["gain"] for x in r.breakdown.values()), r.score_improvement, atol=0.05)
    _replay_is_safe(a, cfg, p)
