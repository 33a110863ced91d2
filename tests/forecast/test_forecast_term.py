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
    assert p.recommendations[0].breakdown["forecast_peak"]["gain"] > 0
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
