"""The predicted-load term changes a plan: a node about to peak is not filled (known answer)."""

from proxbalance.engine import PenaltyConfig, build_arrays, plan, score_guest
from tests.engine.builders import make_guest, make_node, make_snapshot

CFG = PenaltyConfig.from_dict({"min_score_improvement": 1.0})


def _cluster():
    nodes = [make_node("a"), make_node("b"), make_node("c")]
    # a: 75 % CPU (one guest should leave); b: 10 %, c: 20 % -> without a forecast b (the coolest) gets it
    guests = ([make_guest(100 + i, "a", cores=4, cpu=1.0, mem_gib=6) for i in range(3)]
              + [make_guest(200, "b", cores=4, cpu=0.4, mem_gib=6), make_guest(300, "c", cores=4, cpu=0.8, mem_gib=6)])
    return make_snapshot(nodes, guests)


def _targets(arrays, cfg=CFG):
    return {r.target_node for r in plan(arrays, cfg).recommendations}


def test_without_forecast_the_coolest_node_is_filled():
    arrays = build_arrays(_cluster(), cfg=CFG)
    p = plan(arrays, CFG)
    assert {r.vmid: r.target_node for r in p.recommendations} == {100: "b", 101: "c"}


def test_forecast_peak_keeps_guests_off_the_node_about_to_peak():
    arrays = build_arrays(_cluster(), cfg=CFG)
    arrays.forecast = {"excess": {"b": (7.0, 0.0)}}  # b: +7 cores (44 % points) at its coming peak
    p = plan(arrays, CFG)
    assert {r.vmid: (r.source_node, r.target_node) for r in p.recommendations} == {100: ("a", "c")}
    assert "forecast_peak" in p.recommendations[0].breakdown
    # the term is what made the difference: with its weight 0 the plan fills b again
    off = PenaltyConfig.from_dict({"min_score_improvement": 1.0, "terms": {"forecast_peak": 0.0}})
    assert "b" in _targets(arrays, off)


def test_forecast_peak_breakdown_and_no_forecast_costs_nothing():
    arrays = build_arrays(_cluster(), cfg=CFG)
    plain = score_guest(arrays, CFG, 100)
    assert all(n["breakdown"]["forecast_peak"] == 0.0 for n in plain["nodes"])
    arrays.forecast = {"excess": {"b": (7.0, 0.0)}}
    scored = {n["node"]: n for n in score_guest(arrays, CFG, 100)["nodes"]}
    assert scored["b"]["breakdown"]["forecast_peak"] > 0.0
    assert scored["c"]["breakdown"]["forecast_peak"] == 0.0
    assert scored["b"]["score"] > scored["c"]["score"]


def test_forecast_peak_equals_the_loop_reference():
    import numpy as np

    from proxbalance.engine import score_matrix
    from tests.engine.builders import random_snapshot
    from tests.engine.reference import ref_scores

    for seed in range(6):
        rng = np.random.default_rng(seed)
        a = build_arrays(random_snapshot(rng, 4, 10), cfg=CFG)
        a.forecast = {"excess": {n: (float(rng.uniform(0, 16)), float(rng.uniform(0, 64 << 30)))
                                 for n in a.node_names[:3]}}
        _, _, parts = score_matrix(a, CFG)
        _, _, ref = ref_scores(a, CFG)
        x = parts["forecast_peak"]
        assert np.abs(x).sum() > 0 or seed  # the excess matters somewhere
        for g in range(a.n_guests):
            for n in range(a.n_nodes):
                assert np.isclose(x[g, n], ref[g][n]["forecast_peak"], atol=1e-6), (seed, g, n)
