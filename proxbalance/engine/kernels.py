"""Compiled cell kernels: the load terms' node-state curves, every curve term of a window in one call.

Why compiled (numba): the planner scores small windows (the rows on the hottest node x every node, a few
cells of a candidate step) hundreds of times per plan. In numpy each curve costs a dozen array operations
of 3-10 us overhead each, whatever the window's size, which made the term sum of a 12 x 11 window about 1 ms
(``bench/engine.py`` at 64 x 10,000: about 150 ms of a 350-450 ms plan in the numpy ``View.step_marginal`` and
``View.marginal`` they replace). One kernel call walks the window once per curve. The arithmetic is the numpy formulas'
own, operation for operation and in the same order (no fastmath), so the points are bit-identical to what
they replace.

A curve's marginal on one window, with

* ``L``, ``C``: ``(c,)`` load and capacity of the window's nodes (units of the resource);
* ``d``: ``(m,)`` the rows' demand (same units); ``own``: ``(m,)`` the column of each row's own node in
  the window (-1: not in it);

is the ``(m, c)`` ``h(with the row) - h(without it)``: off-node cells ``h((L_j + d_i) / C_j) - h(L_j / C_j)``,
the row's own node ``h(L_j / C_j) - h((L_j - d_i) / C_j)``. :func:`curve_terms` adds, per term, the weighted
sum of its curves to a running total (the packing is :mod:`proxbalance.engine.curves`).
"""

from __future__ import annotations

import numpy as np
from numba import njit

TIER, TIER_SHIFTED, POWER, HINGE, STEP = range(5)  # curve shapes (see curves.Curve)


def jit(fn=None, **kw):
    """``numba.njit`` cached on disk (compiled per process where the cache cannot be written)."""
    if fn is None:
        return lambda f: jit(f, **kw)
    try:
        return njit(cache=True, nogil=True, **kw)(fn)
    except RuntimeError:  # no writable cache location (read-only install without NUMBA_CACHE_DIR): compile per process
        return njit(nogil=True, **kw)(fn)


@jit(inline="always")
def _count_below(thr, u):
    """``#(thr < u)`` = numpy's ``searchsorted(thr, u, side="left")``, NaN ``u`` counting as above every
    threshold (as numpy sorts NaN last). Written without a separate NaN branch, which made the loop 4x slower."""
    k = 0
    while k < len(thr) and not (thr[k] >= u):
        k += 1
    return k


@jit(inline="always")
def _tier(u, thr, pen, prop, prop_from):
    """``pen[#(thr < u)] + prop * max(100 u - prop_from, 0)`` (NaN ``u``: the last tier and a NaN
    proportional part, as numpy gives)."""
    out = pen[_count_below(thr, u)]
    if prop != 0.0:
        x = u * 100.0 - prop_from
        out = out + prop * (x if not (x <= 0.0) else 0.0)
    return out


@jit(inline="always")
def _curve(shape, u, k, s1, s2, off, nsq):
    """``h(u)`` of one node (coefficient ``k``):

    * POWER: ``max(u, 0) ** (2 ** nsq) * k`` (``nsq`` squarings; the balance curve);
    * HINGE: ``k * max(u * s1 * s2 - off, 0)`` (points per unit above a limit);
    * STEP: ``k`` where ``u * s1 * s2 > off``, else 0.

    NaN ``u`` gives NaN (POWER, HINGE) or 0 (STEP), as the numpy formulas do."""
    if shape == POWER:
        x = u if not (u <= 0.0) else 0.0
        for _ in range(nsq):
            x *= x
        return x * k
    x = u * s1 * s2
    if shape == HINGE:
        x = x - off
        return k * (x if not (x <= 0.0) else 0.0)
    return k if x > off else 0.0


@jit
def own_cols(cur, cols):
    """(m,) index into ``cols`` of each row's own node ``cur`` (m,), -1 where it is not in the window (or
    the row is on no node)."""
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


@jit(inline="always")
def _all_below(L, C, d, lim):
    """numpy's ``((L + |d|.max()) / C).max() <= lim``: the window cannot rise above ``lim`` (False with NaN)."""
    if len(d) == 0 or len(L) == 0:
        return True
    dmax = abs(d[0])
    for i in range(1, len(d)):
        a = abs(d[i])
        if a > dmax or a != a:
            dmax = a
    for j in range(len(L)):
        if not ((L[j] + dmax) / C[j] <= lim):
            return False
    return True


@jit(inline="always")
def _add(out, i, j, w, x):
    out[i, j] += x if w == 1.0 else w * x


@jit
def _tier_add(out, w, L, C, d, own, thr, pen, prop, prop_from, lo):
    """Add ``w`` x the marginal of the tier curve :func:`_tier` to ``out`` (m, c) (thresholds ``thr`` as
    fractions, ascending, +inf padded; ``pen``: the points below the first and above each, its last value
    padded). Only the cells where it can be nonzero are touched (adding 0 changes nothing): none when no
    cell can rise above ``lo`` (the first threshold or the proportional part's start); otherwise the own
    cells, and the off-node cells whose row can reach the curve's next change above ``L_j`` (the next tier,
    or the proportional part once it is active): demand above ``lim_j`` = that change x ``C_j`` - ``L_j`` (NaN
    demand counts as above). A row whose demand is under every column's ``lim`` costs one comparison."""
    m, c = len(d), len(L)
    if _all_below(L, C, d, lo):
        return
    hL = np.empty(c)
    lim = np.empty(c)  # +inf where no row can change the curve
    start = prop_from / 100.0
    for j in range(c):
        u = L[j] / C[j]
        hL[j] = _tier(u, thr, pen, prop, prop_from)
        k = _count_below(thr, u)
        nxt = thr[k] if k < len(thr) else np.inf
        if prop != 0.0:
            nxt = min(nxt, max(start, u))
        x = nxt * C[j] - L[j]
        lim[j] = x if np.isfinite(nxt) and x == x else np.inf
    low = np.inf  # the smallest lim: a row with demand up to it changes no off-node cell
    for j in range(c):
        low = min(low, lim[j])
    for i in range(m):
        di = d[i]
        jo = own[i]
        if not (di <= low):
            for j in range(c):
                if j != jo and not (di <= lim[j]) and lim[j] < np.inf:  # NaN demand: every column that can change
                    _add(out, i, j, w, _tier((L[j] + di) / C[j], thr, pen, prop, prop_from) - hL[j])
        if jo >= 0:
            _add(out, i, jo, w, hL[jo] - _tier((L[jo] - di) / C[jo], thr, pen, prop, prop_from))


@jit
def _curve_add(out, w, L, C, d, own, shape, k, s1, s2, off, nsq, zero_below):
    """Add ``w`` x the marginal of :func:`_curve` (node ``j`` taking coefficient ``k_j``, ``k`` ``(c,)``) to
    every cell of ``out`` (m, c); nothing when no cell can rise above ``zero_below`` (NaN: no such bound)."""
    m, c = len(d), len(L)
    if _all_below(L, C, d, zero_below):
        return
    hL = np.empty(c)
    for j in range(c):
        hL[j] = _curve(shape, L[j] / C[j], k[j], s1, s2, off, nsq)
    for i in range(m):
        di = d[i]
        jo = own[i]
        for j in range(c):
            if j != jo:
                _add(out, i, j, w, _curve(shape, (L[j] + di) / C[j], k[j], s1, s2, off, nsq) - hL[j])
        if jo >= 0:
            _add(out, i, jo, w, hL[jo] - _curve(shape, (L[jo] - di) / C[jo], k[jo], s1, s2, off, nsq))


@jit
def curve_terms(out, nall, gall, cap, rows, cols, own, sub_i, sub_f, thr, pen, node, term_w):
    """Add to ``out`` (m, c), term after term, ``w_t`` x the sum of term t's curves (in their order, as the
    numpy terms summed them), with

    * ``nall`` (K, N, R) node loads per kind, ``gall`` (K, G, R) guest demand per kind, ``cap`` (N, R);
    * ``rows`` (m,), ``cols`` (c,) the window, ``own`` (m,) from :func:`own_cols`;
    * per curve s: ``sub_i[s]`` = (term, shape, kind, resource, squarings), ``sub_f[s]`` = (prop,
      prop_from, lo, s1, s2, offset, zero_below), ``thr[s]`` / ``pen[s]`` the padded tiers, ``node[s]`` (N,)
      the coefficient (POWER, HINGE, STEP) or the load shift (TIER_SHIFTED) by node;
    * ``term_w`` (T,) the terms' weights.

    A term of one curve is added straight to ``out``; a term of several (or a shifted tier: ``h(L + shift)
    - h(L)``) is summed in a buffer first, so every cell gets the sums the numpy terms made."""
    m, c = len(rows), len(cols)
    tv = np.empty((m, c))
    buf = np.empty((m, c))
    buf2 = np.empty((m, c))
    d = np.empty(m)
    L = np.empty(c)
    L2 = np.empty(c)
    C = np.empty(c)
    k = np.empty(c)
    n_sub = sub_i.shape[0]
    s = 0
    while s < n_sub:
        t = sub_i[s, 0]
        e = s
        while e < n_sub and sub_i[e, 0] == t:
            e += 1
        w = term_w[t]
        direct = e - s == 1 and sub_i[s, 1] != TIER_SHIFTED
        if not direct:
            tv[:, :] = 0.0
        for q in range(s, e):
            shape, kind, r, nsq = sub_i[q, 1], sub_i[q, 2], sub_i[q, 3], sub_i[q, 4]
            prop, prop_from, lo, s1, s2, off, zb = (sub_f[q, 0], sub_f[q, 1], sub_f[q, 2], sub_f[q, 3],
                                                    sub_f[q, 4], sub_f[q, 5], sub_f[q, 6])
            for i in range(m):
                d[i] = gall[kind, rows[i], r]
            for j in range(c):
                L[j] = nall[kind, cols[j], r]
                C[j] = cap[cols[j], r]
            acc, wq = (out, w) if direct else (tv, 1.0)
            if shape == TIER:
                _tier_add(acc, wq, L, C, d, own, thr[q], pen[q], prop, prop_from, lo)
            elif shape == TIER_SHIFTED:  # h(L + shift) - h(L), each marginal on its own load
                for j in range(c):
                    L2[j] = L[j] + node[q, cols[j]]
                buf[:, :] = 0.0
                buf2[:, :] = 0.0
                _tier_add(buf, 1.0, L2, C, d, own, thr[q], pen[q], prop, prop_from, lo)
                _tier_add(buf2, 1.0, L, C, d, own, thr[q], pen[q], prop, prop_from, lo)
                for i in range(m):
                    for j in range(c):
                        tv[i, j] += buf[i, j] - buf2[i, j]
            else:
                for j in range(c):
                    k[j] = node[q, cols[j]]
                _curve_add(acc, wq, L, C, d, own, shape, k, s1, s2, off, nsq, zb)
        if not direct:
            for i in range(m):
                for j in range(c):
                    _add(out, i, j, w, tv[i, j])
        s = e
