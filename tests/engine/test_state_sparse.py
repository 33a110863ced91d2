"""The sparse paths of View.marginal (windows above DENSE_CELLS with a ``zero_below``) equal the dense pass."""

import numpy as np
import pytest

from proxbalance.engine import build_arrays
from proxbalance.engine.arrays import CFG, CNT, CPU, MEM
from proxbalance.engine.curves import Curve, evaluate, pack
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


def _compiled(v: View, *curves: Curve) -> np.ndarray:
    """The curves' summed marginal on ``v`` through the compiled kernel (one term of weight 1)."""
    return evaluate(v, pack([(1.0, list(curves))], v.a.n_nodes), np.zeros(v.shape))


def _numpy_step_curve(levels, prop, prop_from):
    """The tier curve of ``View.step_marginal`` in plain numpy (its definition, evaluated on every cell)."""
    thr = np.array(sorted(t for t, _ in levels)) / 100.0
    pen = np.array([0.0] + [p for _, p in sorted(levels)])

    def h(u, _cols):
        return pen[np.searchsorted(thr, u, side="left")] + prop * np.maximum(u * 100.0 - prop_from, 0.0)
    return h


@pytest.mark.parametrize("seed", [0, 1])
@pytest.mark.parametrize("offset", [False, True])
@pytest.mark.parametrize("window", ["all", "hot rows x 11 nodes"])
def test_step_marginal_equals_the_curve_on_every_cell(seed, offset, window):
    """The compiled tier curve (cells that cannot reach the next tier skipped) gives exactly the numpy
    curve's marginal on every cell, own nodes included; the shifted one (the forecast term's) exactly the
    marginal on the shifted load minus the marginal on the load."""
    st = _state(seed)
    rows, cols = np.arange(len(st.cur)), np.arange(st.a.n_nodes)
    if window != "all":
        rows, cols = np.flatnonzero(st.cur == int(np.argmax(st.n["blend"][:, CPU]))), cols[::4]
    u = st.n["blend"][:, CPU] / st.a.cap[:, CPU] * 100
    levels = [(float(np.quantile(u, q)), p) for q, p in ((0.3, 5.0), (0.6, 20.0), (0.9, 80.0))]
    off = np.linspace(0, 2.0, st.a.n_nodes) if offset else None
    for prop in (0.0, 3.0):
        h = _numpy_step_curve(levels, prop, levels[0][0])
        want = View(st, rows, cols).marginal(h, "blend", CPU)
        if off is None:
            got = _compiled(View(st, rows, cols), Curve("tier", "blend", CPU, tuple(levels), prop, levels[0][0]))
        else:  # the forecast's shifted curve: h on the load + offset minus h on the load
            got = _compiled(View(st, rows, cols), Curve("tier_shifted", "blend", CPU, tuple(levels), prop,
                                                        levels[0][0], node=off))
            shifted = State(st.a)
            shifted.n["blend"][:, CPU] += off
            want = View(shifted, rows, cols).marginal(h, "blend", CPU) - want
        assert np.abs(want).max() > 0 and (want == 0).any()
        np.testing.assert_array_equal(got, want)


def _numpy_curve(curve: str, coef: np.ndarray, zb: float):
    """The compiled curves written as the terms wrote them in numpy (before the kernels)."""
    return {
        "power": lambda x, c: np.maximum(x, 0.0) ** 8 * coef[c],
        "hinge": lambda x, c: coef[c] * np.maximum(x * 100.0 - 100.0 * zb, 0.0),
        "step": lambda x, c: np.where(x * 7.0 * 100.0 > 700.0 * zb, coef[c], 0.0),
    }[curve]


@pytest.mark.parametrize("seed", [0, 1])
@pytest.mark.parametrize("curve", ["power", "hinge", "step"])
@pytest.mark.parametrize("kind,r", [("blend", MEM), ("now", CFG), ("slope", CPU)])
@pytest.mark.parametrize("window", ["all", "hot rows x 11 nodes"])
def test_curve_marginal_equals_the_numpy_curve(seed, curve, kind, r, window):
    """The compiled balance / hinge / step curves equal their numpy formulas' marginal on every cell (own nodes
    included; negative demand in the slope kind)."""
    st = _state(seed)
    rows, cols = np.arange(len(st.cur)), np.arange(st.a.n_nodes)
    if window != "all":  # the hottest node's rows on it and every fourth node
        hot = int(np.argmax(st.n[kind][:, r] / st.a.cap[:, r]))
        rows, cols = np.flatnonzero(st.cur == hot), np.union1d(cols[::4], [hot])
    u = st.n[kind][:, r] / st.a.cap[:, r]
    # a limit the window's cells cross: the median node, or just under the hottest node (its rows leaving it)
    zb = float(np.median(u)) if window == "all" else float(u.max()) * 0.999
    coef = np.linspace(0.5, 2.0, st.a.n_nodes)
    kw = {"power": {"squarings": 3, "node": coef}, "hinge": {"scale": (100.0, 1.0), "offset": 100.0 * zb, "node": coef},
          "step": {"scale": (7.0, 100.0), "offset": 700.0 * zb, "node": coef}}[curve]
    got = _compiled(View(st, rows, cols), Curve(curve, kind, r, **kw))
    want = View(st, rows, cols).marginal(_numpy_curve(curve, coef, zb), kind, r)
    assert np.abs(want).max() > 0
    if curve == "power":  # numpy's x ** 8 is not bit for bit three squarings
        np.testing.assert_allclose(got, want, rtol=1e-12, atol=1e-12)
    else:
        np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize("seed", [0, 1])
def test_a_term_of_several_curves_sums_them_as_numpy_did(seed):
    """A term of several curves (balance: one per resource; a weight != 1) is w x (m1 + m2 + m3), bit for bit."""
    st = _state(seed)
    rows, cols = np.arange(len(st.cur)), np.arange(st.a.n_nodes)
    coefs = [np.linspace(0.5, 2.0, st.a.n_nodes) * (r + 1) for r in range(3)]
    res = (CPU, MEM, 3)
    got = evaluate(View(st, rows, cols), pack([(0.7, [Curve("power", "blend", r, node=k, squarings=3)
                                                      for r, k in zip(res, coefs, strict=True)])], st.a.n_nodes),
                   np.zeros((len(rows), len(cols))))
    parts = [_compiled(View(st, rows, cols), Curve("power", "blend", r, node=k, squarings=3))
             for r, k in zip(res, coefs, strict=True)]
    want = np.zeros_like(got)
    want += 0.7 * (parts[0] + parts[1] + parts[2])
    assert np.abs(want).max() > 0
    np.testing.assert_array_equal(got, want)
