"""Compiled cell kernels: the load terms' node-state curves evaluated on a whole View window in one call.

Why compiled (numba): the planner scores small windows (the rows on the hottest node x every node, a few
cells of a candidate step) hundreds of times per plan. In numpy each curve costs a dozen array operations
of 3-10 us overhead each, whatever the window's size, which made the term sum of a 12 x 11 window about 1 ms
(``bench/engine.py`` at 64 x 10,000: about 150 ms of a 350-450 ms plan inside ``View.step_marginal`` and
``View.marginal``). A kernel walks the cells once. The arithmetic is the numpy formulas' own, operation for
operation (no fastmath), so the points are bit-identical to what they replace.

Every kernel takes one window of a :class:`~proxbalance.engine.state.View`:

* ``L``, ``C``: ``(c,)`` load and capacity of the window's nodes (units of the resource);
* ``d``: ``(m,)`` the rows' demand (same units); ``cur``: ``(m,)`` each row's node index; ``cols``: ``(c,)``
  the window's node indices;

and returns the ``(m, c)`` marginal ``h(with the row) - h(without it)``: off-node cells
``h((L_j + d_i) / C_j) - h(L_j / C_j)``, the row's own node ``h(L_j / C_j) - h((L_j - d_i) / C_j)``.
"""

from __future__ import annotations

import numpy as np
from numba import njit


def _jit(fn=None, **kw):
    if fn is None:
        return lambda f: _jit(f, **kw)
    try:
        return njit(cache=True, nogil=True, **kw)(fn)
    except RuntimeError:  # no writable cache location (read-only install without NUMBA_CACHE_DIR): compile per process
        return njit(nogil=True, **kw)(fn)


@_jit(inline="always")
def _count_below(thr, u):
    """``#(thr < u)`` = numpy's ``searchsorted(thr, u, side="left")``, NaN ``u`` counting as above every
    threshold (as numpy sorts NaN last). Written without a separate NaN branch, which made the loop 4x slower."""
    k = 0
    while k < len(thr) and not (thr[k] >= u):
        k += 1
    return k


@_jit(inline="always")
def _tier(u, thr, pen, prop, prop_from):
    """``pen[#(thr < u)] + prop * max(100 u - prop_from, 0)`` (NaN ``u``: the last tier and a NaN
    proportional part, as numpy gives)."""
    out = pen[_count_below(thr, u)]
    if prop != 0.0:
        x = u * 100.0 - prop_from
        out = out + prop * (x if not (x <= 0.0) else 0.0)
    return out


@_jit
def _own_cols(cur, cols):
    """(m,) index into ``cols`` of each row's own node, -1 where it is not in the window (or on no node)."""
    n = 0
    for x in cols:
        n = max(n, x + 1)
    for x in cur:
        n = max(n, x + 1)
    pos = np.full(n, -1, dtype=np.int64)
    for j in range(len(cols)):
        pos[cols[j]] = j
    own = np.full(len(cur), -1, dtype=np.int64)
    for i in range(len(cur)):
        if cur[i] >= 0:
            own[i] = pos[cur[i]]
    return own


@_jit
def step_window(L, C, d, cur, cols, thr, pen, prop, prop_from):
    """Marginal of the tier curve :func:`_tier` (thresholds ``thr`` as fractions, ascending; ``pen``: the
    points below the first and above each). An off-node cell is computed only where the row can reach the
    curve's next change above ``L_j`` (the next tier, or the proportional part once it is active): demand
    above ``lim_j`` = that change x ``C_j`` - ``L_j`` (NaN demand counts as above); every other off-node cell
    is exactly 0. A row whose demand is under every column's ``lim`` costs one comparison."""
    m, c = len(d), len(L)
    out = np.zeros((m, c))
    hL = np.empty(c)
    lim = np.empty(c)  # +inf where no row can change the curve
    lo = prop_from / 100.0
    for j in range(c):
        u = L[j] / C[j]
        hL[j] = _tier(u, thr, pen, prop, prop_from)
        k = _count_below(thr, u)
        nxt = thr[k] if k < len(thr) else np.inf
        if prop != 0.0:
            nxt = min(nxt, max(lo, u))
        x = nxt * C[j] - L[j]
        lim[j] = x if np.isfinite(nxt) and x == x else np.inf
    low = np.inf  # the smallest lim: a row with demand up to it changes no off-node cell
    for j in range(c):
        low = min(low, lim[j])
    own = _own_cols(cur, cols)
    for i in range(m):
        di = d[i]
        if not (di <= low):
            for j in range(c):
                if not (di <= lim[j]) and lim[j] < np.inf:  # NaN demand: every column that can change
                    out[i, j] = _tier((L[j] + di) / C[j], thr, pen, prop, prop_from) - hL[j]
        jo = own[i]
        if jo >= 0:
            out[i, jo] = hL[jo] - _tier((L[jo] - di) / C[jo], thr, pen, prop, prop_from)
    return out


POWER, HINGE, STEP = 0, 1, 2  # the curves of :func:`curve_window`


@_jit(inline="always")
def _curve(curve, u, k, s1, s2, off, nsq):
    """``h(u)`` of one node (coefficient ``k``):

    * POWER: ``max(u, 0) ** (2 ** nsq) * k`` (``nsq`` squarings; the balance curve);
    * HINGE: ``k * max(u * s1 * s2 - off, 0)`` (points per unit above a limit);
    * STEP: ``k`` where ``u * s1 * s2 > off``, else 0.

    NaN ``u`` gives NaN (POWER, HINGE) or 0 (STEP), as the numpy formulas do."""
    if curve == POWER:
        x = u if not (u <= 0.0) else 0.0
        for _ in range(nsq):
            x *= x
        return x * k
    x = u * s1 * s2
    if curve == HINGE:
        x = x - off
        return k * (x if not (x <= 0.0) else 0.0)
    return k if x > off else 0.0


@_jit
def curve_window(L, C, d, cur, cols, curve, k, s1, s2, off, nsq):
    """Marginal of :func:`_curve` on every cell, node ``cols_j`` taking coefficient ``k_j`` (``k`` ``(c,)``)."""
    m, c = len(d), len(L)
    out = np.empty((m, c))
    hL = np.empty(c)
    for j in range(c):
        hL[j] = _curve(curve, L[j] / C[j], k[j], s1, s2, off, nsq)
    own = _own_cols(cur, cols)
    for i in range(m):
        di = d[i]
        for j in range(c):
            out[i, j] = _curve(curve, (L[j] + di) / C[j], k[j], s1, s2, off, nsq) - hL[j]
        jo = own[i]
        if jo >= 0:
            out[i, jo] = hL[jo] - _curve(curve, (L[jo] - di) / C[jo], k[jo], s1, s2, off, nsq)
    return out
