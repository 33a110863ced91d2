"""The sparse paths of View.marginal (windows above DENSE_CELLS with a ``zero_below``) equal the dense pass."""

import numpy as np
import pytest

from proxbalance.engine import build_arrays
from proxbalance.engine.arrays import CFG, CNT, CPU, MEM
from proxbalance.engine.state import DENSE_CELLS, State, View

from .builders import random_history, random_snapshot


def _state(seed: int, n_nodes: int = 40, n_guests: int = 600) -> State:
    rng = np.random.default_rng(seed)
    snap = random_snapshot(rng, n_nodes, n_guests)
    st = State(build_arrays(snap, random_history(rng, snap)))
    assert n_nodes * n_guests > DENSE_CELLS  # the sparse path runs
    return st


def _curve(kind: str, r: int, st: State):
    """A curve that is 0 up to the median node utilisation (so some columns are all-zero, others not)."""
    u = st.n[kind][:, r] / st.a.cap[:, r]
    zb = float(np.median(u)) if kind != "slope" else float(np.quantile(u, 0.6))

    def h(x, cols):
        return 7.0 * np.maximum(x - zb, 0.0) + np.where(x > zb, 3.0, 0.0) + 0.0 * cols
    return h, zb


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("kind,r", [("now", CPU), ("blend", MEM), ("now", CNT), ("now", CFG), ("slope", CPU)])
@pytest.mark.parametrize("window", ["all", "subset"])
def test_sparse_marginal_equals_dense(seed, kind, r, window):
    st = _state(seed)
    rows = np.arange(len(st.cur))
    if window == "subset":
        rows = np.sort(np.random.default_rng(seed).permutation(rows)[:500])
    cols = np.arange(st.a.n_nodes)
    h, zb = _curve(kind, r, st)
    sparse = View(st, rows, cols).marginal(h, kind, r, zero_below=zb)
    dense = View(st, rows, cols).marginal(h, kind, r)
    assert np.abs(dense).max() > 0 and (dense == 0).any()  # a case where skipping cells matters
    np.testing.assert_array_equal(sparse, dense)


def test_sparse_marginal_two_columns():
    """The planner's re-score after a move (every row, two columns) takes the sparse path too."""
    st = _state(3, n_nodes=4, n_guests=9000)
    rows, cols = np.arange(len(st.cur)), np.array([1, 3])
    h, zb = _curve("now", CPU, st)
    np.testing.assert_array_equal(View(st, rows, cols).marginal(h, "now", CPU, zero_below=zb),
                                  View(st, rows, cols).marginal(h, "now", CPU))
