"""Mutable planning state over ClusterArrays, and the View terms evaluate on.

:class:`State` holds node loads per kind ``(N, R)``, the current placement ``(G,)`` (``-1`` = a
hypothetical guest that is on no node and counted nowhere) and per-group node counts. ``apply(u, t)``
moves row ``u`` in O(R + K) and never rebuilds anything.

:class:`View` is a rows x cols window (``(m, c)``) on a state: the load of node ``cols[j]`` *with* row
``rows[i]`` on it (``after``) and *without* it (``before``). For a column that is the row's current node,
``after`` is the current load and ``before`` the load minus the row; for other columns ``after`` adds the
row. A node-state penalty ``h`` then costs ``h(after) - h(before)``: exactly what the row adds to the
cluster total on that node, so the gain of a move is ``score[g, src] - score[g, t]``.
"""

from __future__ import annotations

from functools import cached_property

import numpy as np

from . import kernels
from .arrays import KINDS, ClusterArrays


def stacked(per_kind: dict[str, np.ndarray]) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """``(K, ...)`` the arrays of ``per_kind`` stacked in ``KINDS`` order (a copy), and kind -> its slice (views)."""
    whole = np.stack([per_kind[k] for k in KINDS]).astype(float, copy=False)
    return whole, {k: whole[i] for i, k in enumerate(KINDS)}


class State:
    def __init__(self, arrays: ClusterArrays):
        a = self.a = arrays
        self.nall, self.n = stacked(a.n)  # (K, N, R) node load per kind; n[kind] are views of it
        self._gcols: dict = {}
        self.cur = a.placement.copy()
        self.orig = a.placement.copy()
        N = a.n_nodes
        placed = self.cur >= 0
        self.anti_count = self._counts(a.anti, placed, N)  # (Ka, N)
        self.aff_count = self._counts(a.aff, placed, N)  # (Kp, N)
        self.aff_tot = a.aff[placed].sum(axis=0)  # (Kp,)
        live = a.online if a.online.any() else np.ones(N, dtype=bool)
        self.cap_mean = a.cap[live].mean(axis=0)  # (R,)
        total = self.n["now"][live, 5].sum()
        self.count_mean = total / max(int(live.sum()), 1)

    def clone(self) -> State:
        """Independent copy of the mutable parts (loads, placement, group counts); caches are shared."""
        out = object.__new__(State)
        out.__dict__.update(self.__dict__)
        out.nall, out.n = stacked(self.n)
        out.cur, out.anti_count, out.aff_count = self.cur.copy(), self.anti_count.copy(), self.aff_count.copy()
        return out

    def gall(self) -> np.ndarray:
        """(K, G, R) guest demand per kind (``KINDS`` order), stacked once per arrays."""
        hit = self.a.derived.get("gall")
        if hit is None:
            hit = self.a.derived["gall"] = stacked(self.a.g)[0]
        return hit

    def gcol(self, kind: str, r: int) -> np.ndarray:
        """(G,) contiguous copy of guest demand column ``(kind, r)`` (cached)."""
        key = (kind, r)
        col = self._gcols.get(key)
        if col is None:
            col = self._gcols[key] = np.ascontiguousarray(self.a.g[kind][:, r])
        return col

    def sorted_demand(self, kind: str, r: int) -> tuple[np.ndarray, np.ndarray]:
        """(order, sorted values) of guest demand column ``(kind, r)`` (cached; demand never changes)."""
        key = ("sorted", kind, r)
        hit = self._gcols.get(key)
        if hit is None:
            col = self.gcol(kind, r)
            order = np.argsort(col, kind="stable")
            hit = self._gcols[key] = (order, col[order])
        return hit

    def _counts(self, member: np.ndarray, placed: np.ndarray, N: int) -> np.ndarray:
        out = np.zeros((member.shape[1], N))
        if member.shape[1]:
            onehot = np.zeros((len(self.cur), N))
            onehot[np.flatnonzero(placed), self.cur[placed]] = 1.0
            out = member.T @ onehot
        return out

    def apply(self, u: int, t: int) -> int:
        """Move row ``u`` to node ``t``; returns the node it left."""
        s = int(self.cur[u])
        if s == t:
            return s
        for k in KINDS:
            d = self.a.g[k][u]
            self.n[k][s] -= d
            self.n[k][t] += d
        if self.a.anti.shape[1]:
            self.anti_count[:, s] -= self.a.anti[u]
            self.anti_count[:, t] += self.a.anti[u]
        if self.a.aff.shape[1]:
            self.aff_count[:, s] -= self.a.aff[u]
            self.aff_count[:, t] += self.a.aff[u]
        self.cur[u] = t
        return s


DENSE_CELLS = 1 << 14  # marginals with a zero region on windows up to this many cells skip the per-column loop


class View:
    """Window ``rows x cols`` of a state. Penalty arrays are ``(m, c)`` with m = len(rows), c = len(cols)."""

    def __init__(self, state: State, rows: np.ndarray, cols: np.ndarray):
        self.state, self.a = state, state.a
        self.rows = np.asarray(rows, dtype=np.int64)
        self.cols = np.asarray(cols, dtype=np.int64)
        self.full_rows = len(self.rows) == len(state.cur) and (
            len(self.rows) == 0 or (self.rows[0] == 0 and self.rows[-1] == len(self.rows) - 1))
        self.cur = state.cur if self.full_rows else state.cur[self.rows]  # (m,) each row's node
        self._cache: dict = {}

    @cached_property
    def on(self) -> np.ndarray:
        """(m, c) bool: the row's own node (the compiled curves use :attr:`own` instead)."""
        return self.cur[:, None] == self.cols[None, :]

    @cached_property
    def own(self) -> np.ndarray:
        """(m,) the column of each row's own node in the window (-1: not in it, or on no node)."""
        return kernels.own_cols(self.cur, self.cols)

    @cached_property
    def _own_cells(self) -> tuple[np.ndarray, np.ndarray]:
        return np.nonzero(self.on)

    @property
    def on_i(self) -> np.ndarray:
        """Row index (within the window) of each own-node cell."""
        return self._own_cells[0]

    @property
    def on_j(self) -> np.ndarray:
        """Column index (within the window) of each own-node cell."""
        return self._own_cells[1]

    @property
    def shape(self) -> tuple[int, int]:
        return len(self.rows), len(self.cols)

    def demand(self, kind: str, r: int) -> np.ndarray:
        """(m,) row demand (contiguous)."""
        col = self.state.gcol(kind, r)
        return col if self.full_rows else col[self.rows]

    def load(self, kind: str, r: int) -> np.ndarray:
        """(c,) current node load."""
        return self.state.n[kind][self.cols, r]

    def cap(self, r: int) -> np.ndarray:
        """(c,) node capacity."""
        return self.a.cap[self.cols, r]

    def util_added(self, kind: str, r: int) -> np.ndarray:
        """(m, c) utilisation of node ``cols[j]`` with row ``rows[i]`` added (off-node cells are the move)."""
        key = (kind, r)
        if key not in self._cache:
            self._cache[key] = (self.load(kind, r)[None, :] + self.demand(kind, r)[:, None]) / self.cap(r)[None, :]
        return self._cache[key]

    def marginal(self, h, kind: str, r: int, zero_below: float | None = None) -> np.ndarray:
        """``h(with the row) - h(without it)`` per cell, ``(m, c)``.

        ``h(u, cols)`` is a node-state curve of utilisation ``u`` (fraction) on nodes ``cols`` (an index
        array broadcastable against ``u``). Off-node cells: ``h(L + d) - h(L)``; the row's own node:
        ``h(L) - h(L - d)``. ``zero_below``: a utilisation under which ``h`` is known to be 0.
        """
        L, C, cols = self.load(kind, r), self.cap(r), self.cols
        d = self.demand(kind, r)
        if zero_below is not None and len(L) and len(d):
            if float(((L + float(np.abs(d).max())) / C).max()) <= zero_below:
                return np.zeros(self.shape)
        hL = h(L / C, cols)
        if zero_below is not None and len(d) * len(L) > DENSE_CELLS:
            out = self._sparse_marginal(h, kind, r, L, C, cols, d, hL, zero_below)
        elif len(cols) <= 8:  # few columns: one contiguous 1-D pass per column
            out = np.empty(self.shape)
            for j in range(len(cols)):
                out[:, j] = h((L[j] + d) / C[j], cols[j]) - hL[j]
        else:
            out = h(self.util_added(kind, r), cols[None, :])  # h returns a fresh array
            out -= hL[None, :]
        self._fix_own(out, h, L, C, cols, d, hL)
        return out

    def _sparse_marginal(self, h, kind, r, L, C, cols, d, hL, zero_below: float) -> np.ndarray:
        """Off-node cells of :meth:`marginal` (``(m, c)``, own cells left to :meth:`_fix_own`), evaluated only
        where they can be nonzero: in a column with ``h(L) == 0``, a row whose utilisation with it added stays
        at or below ``zero_below`` costs ``0 - 0``. Those rows are found per column in the demand sorted once
        per state (a small relative slack keeps rows at the boundary: evaluating one more row is exact)."""
        out = np.zeros(self.shape)
        order, dsorted = self._demand_order(kind, r, d)
        for j in range(len(cols)):
            if hL[j] != 0:  # every row differs from h(L) here
                out[:, j] = h((L[j] + d) / C[j], cols[j]) - hL[j]
                continue
            lim = zero_below * C[j] - L[j]  # rows with d > lim may rise above zero_below
            start = int(np.searchsorted(dsorted, lim - 1e-7 * (abs(zero_below * C[j]) + abs(L[j])), side="right"))
            if start < len(d):
                act = order[start:]
                out[act, j] = h((L[j] + d[act]) / C[j], cols[j]) - hL[j]
        return out

    def _demand_order(self, kind: str, r: int, d: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """``(order (m,), d[order])``: the view's demand ``d`` sorted ascending (stable); on full-row views the
        state's per-state cache (:meth:`State.sorted_demand`)."""
        if self.full_rows:
            return self.state.sorted_demand(kind, r)
        order = np.argsort(d, kind="stable")
        return order, d[order]

    def _fix_own(self, out, h, L, C, cols, d, hL) -> None:
        if len(self.on_i):
            i, j = self.on_i, self.on_j
            out[i, j] = hL[j] - h((L[j] - d[i]) / C[j], cols[j])
