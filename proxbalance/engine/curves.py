"""Curve terms: a load term described as a list of node-state curves, packed for :func:`kernels.curve_terms`.

A built-in load term registers a ``curves(args, state) -> list[Curve]`` function (``register(...,
curves=...)``): the term's points are the sum of its curves' marginals (see :mod:`kernels`). The term's
``fn`` evaluates them on its own (:func:`term_fn`); :class:`~proxbalance.engine.score.Scorer` packs every
curve term of a config once per cluster and evaluates a window's whole run of them in one kernel call.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import numpy as np

from . import kernels
from .arrays import KINDS
from .registry import zero

SHAPES = {"tier": kernels.TIER, "tier_shifted": kernels.TIER_SHIFTED, "power": kernels.POWER,
          "hinge": kernels.HINGE, "step": kernels.STEP}


@dataclass(frozen=True)
class Curve:
    """One node-state curve ``h(u)`` of utilisation ``u`` = load / capacity of resource ``r`` in ``kind``:

    * ``"tier"``: ``tiers(100 u, levels) + prop * max(100 u - prop_from, 0)`` (``levels``: ``(threshold %,
      points)``);
    * ``"tier_shifted"``: the tier curve on the load shifted by ``node`` (N,) (units of the resource) minus the
      tier curve on the load itself (the forecast term's coming peak);
    * ``"power"``: ``max(u, 0) ** (2 ** squarings) * node`` (``node`` (N,) the coefficient by node);
    * ``"hinge"``: ``coef * max(u * scale[0] * scale[1] - offset, 0)``;
    * ``"step"``: ``coef`` where ``u * scale[0] * scale[1] > offset``, else 0.

    ``zero_below`` (power, hinge, step): a utilisation at or under which ``h`` is 0 (the window is skipped
    when no cell rises above it)."""

    shape: str
    kind: str
    r: int
    levels: tuple[tuple[float, float], ...] = ()
    prop: float = 0.0
    prop_from: float = 0.0
    node: np.ndarray | None = None
    coef: float = 1.0
    scale: tuple[float, float] = (1.0, 1.0)
    offset: float = 0.0
    squarings: int = 0
    zero_below: float | None = None


class Packed(NamedTuple):
    """The arrays of :func:`kernels.curve_terms` for a list of weighted terms."""

    sub_i: np.ndarray  # (S, 5) int64
    sub_f: np.ndarray  # (S, 7) float64
    thr: np.ndarray  # (S, W) float64, +inf padded
    pen: np.ndarray  # (S, W + 1) float64, last value padded
    node: np.ndarray  # (S, N) float64
    term_w: np.ndarray  # (T,) float64


def tier_arrays(levels) -> tuple[np.ndarray, np.ndarray]:
    """(thresholds as fractions, points below / above each) of tiers ``((threshold %, points), ...)``."""
    lv = sorted(levels)
    thr = np.array([t for t, _ in lv], dtype=float) / 100.0
    pen = np.array([0.0] + [p for _, p in lv], dtype=float)
    return thr, pen


def pack(terms: list[tuple[float, list[Curve]]], n_nodes: int) -> Packed:
    """Pack ``(weight, curves)`` per term (terms without curves add nothing and are left out)."""
    terms = [(w, cs) for w, cs in terms if cs]
    subs = [(t, c) for t, (_, cs) in enumerate(terms) for c in cs]
    width = max([len(c.levels) for _, c in subs] + [1])
    S = len(subs)
    sub_i = np.zeros((S, 5), dtype=np.int64)
    sub_f = np.zeros((S, 7))
    thr = np.full((S, width), np.inf)
    pen = np.zeros((S, width + 1))
    node = np.zeros((S, n_nodes))
    for s, (t, c) in enumerate(subs):
        sub_i[s] = (t, SHAPES[c.shape], KINDS.index(c.kind), c.r, c.squarings)
        th, pe = tier_arrays(c.levels)
        thr[s, :len(th)] = th
        pen[s, :len(pe)] = pe
        pen[s, len(pe):] = pe[-1]
        # the tier curve's early exit (as the numpy step terms had it): nothing below the first tier or the
        # proportional part's start changes
        lo = min(th[0] if len(th) else np.inf, c.prop_from / 100.0 if c.prop else np.inf)
        zb = np.nan if c.zero_below is None else float(c.zero_below)
        sub_f[s] = (c.prop, c.prop_from, lo, c.scale[0], c.scale[1], c.offset, zb)
        node[s] = c.coef if c.node is None else c.node
    return Packed(sub_i, sub_f, thr, pen, node, np.array([float(w) for w, _ in terms]))


def evaluate(v, packed: Packed, out: np.ndarray) -> np.ndarray:
    """Add the packed terms' points on view ``v`` to ``out`` (``v.shape``, float64, C order); returns ``out``."""
    st = v.state
    kernels.curve_terms(out, st.nall, st.gall(), v.a.cap, v.rows, v.cols, v.own, *packed)
    return out


def term_fn(curves):
    """A term ``fn(v, args)`` from its ``curves(args, state)``: the sum of the curves' marginals."""
    def fn(v, a):
        cs = curves(a, v.state)
        if not cs:
            return zero(v.shape)
        return evaluate(v, pack([(1.0, cs)], v.a.n_nodes), np.zeros(v.shape))

    fn.curves = curves
    return fn
