"""Planner properties on random clusters (hypothesis)."""

import json

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from proxbalance.engine import PenaltyConfig, build_arrays, plan
from proxbalance.engine.arrays import MEM
from proxbalance.model import ClusterSnapshot

from .builders import random_history, random_snapshot
from .reference import ref_scores

SETTINGS = settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
sizes = dict(seed=st.integers(0, 2**32 - 1), n_nodes=st.integers(2, 6), n_guests=st.integers(1, 16))


def _case(seed, n_nodes, n_guests, **cfg):
    rng = np.random.default_rng(seed)
    snap = random_snapshot(rng, n_nodes, n_guests)
    hist = random_history(rng, snap)
    c = PenaltyConfig.from_dict({"min_score_improvement": 1.0, **cfg})
    return snap, hist, c, build_arrays(snap, hist, c)


def _replay(a, cfg, p):
    """Yield (arrays-before-step, guest row, target index) for each recommendation in execution order."""
    import dataclasses

    place = a.placement.copy()
    n = {k: v.copy() for k, v in a.n.items()}
    idx = {name: j for j, name in enumerate(a.node_names)}
    for r in sorted(p.recommendations, key=lambda r: r.order):
        gi, t = a.index_of(r.vmid), idx[r.target_node]
        assert place[gi] == idx[r.source_node]
        cur = dataclasses.replace(a, placement=place.copy(), n={k: v.copy() for k, v in n.items()})
        yield cur, gi, t
        s = place[gi]
        for k in n:
            n[k][s] -= a.g[k][gi]
            n[k][t] += a.g[k][gi]
        place[gi] = t


@SETTINGS
@given(**sizes, limit=st.floats(60, 100))
def test_every_step_is_allowed_and_never_overpacks(seed, n_nodes, n_guests, limit):
    _, _, cfg, a = _case(seed, n_nodes, n_guests, mem_limit_pct=limit)
    p = plan(a, cfg)
    for cur, gi, t in _replay(a, cfg, p):
        _, allowed, _ = ref_scores(cur, cfg)
        assert allowed[gi][t], "a filtered cell was chosen"
        after = cur.n["now"][t, MEM] + a.mem_hard[gi]
        assert after <= limit / 100 * a.cap[t, MEM] + 1e-6, "node over its memory limit at a step"


@SETTINGS
@given(**sizes, include_stopped=st.booleans(), exclude_ha=st.booleans())
def test_ignored_pinned_stopped_never_move(seed, n_nodes, n_guests, include_stopped, exclude_ha):
    snap, _, cfg, a = _case(seed, n_nodes, n_guests, include_stopped=include_stopped,
                            exclude_ha_managed=exclude_ha, maintenance_score_boost=1000.0)
    p = plan(a, cfg)
    by_id = {g.vmid: g for g in snap.guests}
    moved = {r.vmid for r in p.recommendations}
    for vmid in moved:
        g = by_id[vmid]
        tags = {t.lower() for t in g.tags}
        assert not tags & {"ignore", "pinned", "pin"}
        assert include_stopped or g.status == "running"
        assert not (exclude_ha and g.ha_managed)
    skipped = {v for v, _, _ in p.skipped}
    assert moved.isdisjoint(skipped)
    assert moved | skipped == set(by_id), "every guest is either moved or skipped with a reason"
    json.dumps(p.to_dict())


@SETTINGS
@given(**sizes, budget=st.integers(1, 4))
def test_budget(seed, n_nodes, n_guests, budget):
    _, _, cfg, a = _case(seed, n_nodes, n_guests)
    p = plan(a, cfg, max_moves=budget)
    non_maint = [r for r in p.recommendations if r.reason not in ("maintenance", "companion")]
    assert len(non_maint) <= budget


@SETTINGS
@given(**sizes, perm_seed=st.integers(0, 2**32 - 1))
def test_permuting_nodes_and_guests_permutes_the_plan(seed, n_nodes, n_guests, perm_seed):
    snap, hist, cfg, a = _case(seed, n_nodes, n_guests)
    rng = np.random.default_rng(perm_seed)
    nodes = [snap.nodes[i] for i in rng.permutation(len(snap.nodes))]
    guests = [snap.guests[i] for i in rng.permutation(len(snap.guests))]
    snap2 = ClusterSnapshot(time=0.0, nodes=tuple(nodes), guests=tuple(guests), storages=snap.storages,
                            ha_rules=snap.ha_rules)
    p1 = plan(a, cfg)
    p2 = plan(build_arrays(snap2, hist, cfg), cfg)
    m1 = sorted((r.vmid, r.source_node, r.target_node) for r in p1.recommendations)
    m2 = sorted((r.vmid, r.source_node, r.target_node) for r in p2.recommendations)
    assert m1 == m2
    assert sorted(p1.skipped) == sorted(p2.skipped)


def test_identical_target_nodes_tie_by_name():
    """Regression (found by hypothesis): two identical empty nodes; the greedy's target must not depend on order."""
    snap, hist, cfg, a = _case(108656, 6, 5)
    rng = np.random.default_rng(1)
    snap2 = ClusterSnapshot(time=0.0, nodes=tuple(snap.nodes[i] for i in rng.permutation(len(snap.nodes))),
                            guests=tuple(snap.guests[i] for i in rng.permutation(len(snap.guests))),
                            storages=snap.storages, ha_rules=snap.ha_rules)
    m1 = sorted((r.vmid, r.target_node) for r in plan(a, cfg).recommendations)
    m2 = sorted((r.vmid, r.target_node) for r in plan(build_arrays(snap2, hist, cfg), cfg).recommendations)
    assert m1 == m2
