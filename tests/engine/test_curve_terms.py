"""Scorer.total on the planner's hot path (runs of curve terms packed into one kernel call) equals the terms
summed one by one, bit for bit, whatever the window and the config."""

import dataclasses

import numpy as np
import pytest

from proxbalance.engine import build_arrays, load_preset
from proxbalance.engine.curves import Packed
from proxbalance.engine.score import Scorer
from proxbalance.engine.state import State, View
from proxbalance.engine.terms import is_zero

from .builders import random_history, random_snapshot


def _one_by_one(sc: Scorer, v: View) -> np.ndarray:
    """The dynamic terms' weighted sum, each term's ``fn`` on its own, in registry order."""
    out = np.zeros(v.shape)
    for t, w, a in sc.penalties:
        if t.dynamic:
            x = t.fn(v, a)
            if not is_zero(x):
                out += x if w == 1.0 else w * x
    return out


def _arrays(seed: int, forecast: bool):
    rng = np.random.default_rng(seed)
    snap = random_snapshot(rng, 12, 300)
    arrays = build_arrays(snap, random_history(rng, snap))
    if forecast:  # a coming peak on every other node (cores, bytes)
        cap = arrays.cap
        arrays = dataclasses.replace(arrays, forecast={"excess": {
            n: (0.3 * cap[j, 0], 0.2 * cap[j, 1]) for j, n in enumerate(arrays.node_names) if j % 2}})
    return arrays


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("preset,overrides", [("balanced", {}), ("aggressive", {}), ("memory_focus", {}),
                                              ("balanced", {"balance_power": 3.0}),  # balance in numpy, mid-run
                                              ("balanced", {"max_guests_per_node": 20})])
@pytest.mark.parametrize("forecast", [False, True])
def test_packed_total_equals_the_terms_one_by_one(seed, preset, overrides, forecast):
    cfg = load_preset(preset).replace(**overrides)
    arrays = _arrays(seed, forecast)
    st, sc = State(arrays), Scorer(cfg)
    segs = sc._segments(st)
    assert any(isinstance(x, Packed) for x in segs)
    if overrides.get("balance_power") == 3.0:  # balance is evaluated on its own between two packed runs
        assert sum(isinstance(x, Packed) for x in segs) == 2
    rng = np.random.default_rng(seed)
    hot = int(np.argmax(st.n["blend"][:, 0] / arrays.cap[:, 0]))
    windows = [(np.arange(arrays.n_guests), np.arange(arrays.n_nodes)),  # the search's first full pass
               (np.arange(arrays.n_guests), np.array([hot, (hot + 3) % arrays.n_nodes])),  # a move's re-score
               (np.flatnonzero(st.cur == hot), np.arange(arrays.n_nodes)),  # the peak phase's hot rows
               (np.sort(rng.choice(arrays.n_guests, 5, replace=False)), np.sort(rng.choice(12, 4, replace=False)))]
    for _ in range(3):  # after some moves too
        for rows, cols in windows:
            got = sc.total(View(st, rows, cols), dynamic=True)
            want = _one_by_one(sc, View(st, rows, cols))
            assert np.abs(want).max() > 0
            np.testing.assert_array_equal(got, want)
        for u in rng.choice(arrays.n_guests, 20, replace=False):
            st.apply(int(u), int(rng.integers(arrays.n_nodes)))
