"""The vectorised engine equals the plain-Python reference of the same formulas."""

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from proxbalance.engine import PenaltyConfig, build_arrays, score_matrix
from proxbalance.engine.score import Scorer
from proxbalance.engine.state import State, View

from .builders import random_history, random_snapshot
from .reference import ref_scores

cfg_changes = st.fixed_dictionaries({}, optional={
    "cpu_threshold": st.floats(20, 95), "mem_threshold": st.floats(20, 95),
    "balance_power": st.sampled_from([1.0, 2.0, 3.0, 4.0, 2.5]),
    "max_guests_per_node": st.integers(0, 6), "mem_limit_pct": st.floats(50, 100),
    "cpu_limit_pct": st.sampled_from([0.0, 80.0, 150.0]), "net_balance_weight": st.floats(0, 2),
    "mem_overcommit_ratio": st.floats(0.2, 2), "trend_horizon_days": st.floats(0, 14),
})


def _setup(seed, n_nodes, n_guests, changes, history):
    rng = np.random.default_rng(seed)
    snap = random_snapshot(rng, n_nodes, n_guests)
    hist = random_history(rng, snap) if history else None
    cfg = PenaltyConfig.from_dict(changes)
    return build_arrays(snap, hist, cfg), cfg


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 2**32 - 1), n_nodes=st.integers(1, 12), n_guests=st.integers(0, 12),
       changes=cfg_changes, history=st.booleans())
def test_engine_equals_reference(seed, n_nodes, n_guests, changes, history):
    a, cfg = _setup(seed, n_nodes, n_guests, changes, history)
    total, allowed, parts = score_matrix(a, cfg)
    rt, ra, rp = ref_scores(a, cfg)
    assert total.shape == (n_guests, n_nodes) or n_guests == 0 or total.shape == (a.n_guests, n_nodes)
    for g in range(a.n_guests):
        for n in range(a.n_nodes):
            for name, x in parts.items():
                assert np.isclose(x[g, n], rp[g][n][name], rtol=1e-9, atol=1e-6), (name, g, n)
            assert np.isclose(total[g, n], rt[g][n], rtol=1e-9, atol=1e-6)
            assert allowed[g, n] == ra[g][n], (g, n)


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), n_nodes=st.integers(2, 5), n_guests=st.integers(1, 12))
def test_column_and_row_windows_equal_full_matrix(seed, n_nodes, n_guests):
    """The planner re-scores two columns at a time and single rows: windows must equal the full matrix."""
    a, cfg = _setup(seed, n_nodes, n_guests, {}, True)
    total, allowed, _ = score_matrix(a, cfg)
    st_, sc = State(a), Scorer(cfg)
    rng = np.random.default_rng(seed)
    cols = rng.choice(a.n_nodes, size=min(2, a.n_nodes), replace=False)
    v = View(st_, np.arange(a.n_guests), cols)
    assert np.allclose(sc.total(v), total[:, cols])
    assert (sc.allowed(v) == allowed[:, cols]).all()
    for g in range(a.n_guests):
        v = View(st_, np.array([g]), np.arange(a.n_nodes))
        assert np.allclose(sc.total(v)[0], total[g])


def test_both_evaluation_paths_on_twelve_nodes():
    """View.marginal / step_marginal take a per-column loop up to 8 columns and one broadcast above: a fixed
    12-node cluster (and its 8-column windows) checks both against the reference, own-node cells included."""
    for seed in range(6):
        a, cfg = _setup(seed, 12, 12, {"cpu_threshold": 30.0, "mem_threshold": 30.0, "mem_limit_pct": 60.0}, True)
        total, allowed, parts = score_matrix(a, cfg)
        rt, ra, rp = ref_scores(a, cfg)
        assert np.allclose(total, np.array(rt), rtol=1e-9, atol=1e-6)
        assert (allowed == np.array(ra)).all()
        st_, sc = State(a), Scorer(cfg)
        for cols in (np.arange(8), np.arange(4, 12)):
            v = View(st_, np.arange(a.n_guests), cols)
            assert np.allclose(sc.total(v), np.array(rt)[:, cols], rtol=1e-9, atol=1e-6)
            assert (sc.allowed(v) == np.array(ra)[:, cols]).all()
