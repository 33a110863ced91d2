"""Planner: greedy best move on the whole cluster, incremental re-scoring, swap local search, ordering.

Search state, all over units (affinity companions on one node move as one row):

- ``S`` points of unit u on node n (:mod:`score`), ``F`` filters pass; both stored node-major ``(N, U)``.
- ``best_val``/``best_col`` ``(U,)``: cheapest allowed node other than the current one.

A move of u from s to t changes node loads and group counts of s and t only, and every term depends on a
cell's own node only, so exactly columns s and t of ``S`` and ``F`` change: re-scoring is ``O(U)`` per move
(plus a full row minimum for the rows whose best node was s or t). No loop over guests.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .arrays import ClusterArrays
from .config import PenaltyConfig
from .score import Scorer
from .state import State, View

EPS = 1e-9


@dataclass
class SearchResult:
    state: State
    order: list[int]  # units in the order they were (last) moved
    gains: dict[int, float]
    best_val: np.ndarray
    best_gain: np.ndarray  # (U,) best remaining gain per unit at the end
    budget_blocked: np.ndarray  # (U,) bool: would gain enough but the budget is spent
    iterations: int = 0
    swaps: int = 0
    timing_ms: dict = field(default_factory=dict)


class Search:
    def __init__(self, ua: ClusterArrays, cfg: PenaltyConfig, budget: int):
        self.a, self.cfg, self.budget = ua, cfg, budget
        self.st = State(ua)
        self.sc = Scorer(cfg)
        U, N = ua.n_guests, ua.n_nodes
        self.rows, self.cols = np.arange(U), np.arange(N)
        v = View(self.st, self.rows, self.cols)
        # stored node-major, (N, U): a move rewrites two contiguous rows
        self.static = np.ascontiguousarray(self.sc.total(v, dynamic=False).T)
        self.static_ok = np.ascontiguousarray(self.sc.allowed(v, dynamic=False).T)
        self.S = self.static + self.sc.total(v, dynamic=True).T
        self.F = self.static_ok & self.sc.allowed(v, dynamic=True).T
        self.movable = ua.skip == ""
        self.required = self.movable & ua.maintenance[self.st.cur]
        self.min_gain = max(cfg.min_score_improvement, EPS)
        # M: S where a move is allowed (filters pass, not the own node), +inf elsewhere; rows that can't
        # move at all are +inf throughout
        self.M = np.where(self.F & ~v.on.T & self.movable[None, :], self.S, np.inf)
        self.best_val = np.empty(U)
        self.best_col = np.empty(U, dtype=np.int64)
        self._rows_best(self.rows)
        self.S_src = self.S[self.st.cur, self.rows]  # (U,) score on the current node
        self.order: list[int] = []
        self.gains: dict[int, float] = {}

    # -- incremental bookkeeping ------------------------------------------------------------------
    def _rows_best(self, rows: np.ndarray) -> None:
        if not len(rows):
            return
        if len(rows) * 4 > len(self.rows):
            bc = np.argmin(self.M, axis=0)
            self.best_col[:] = bc
            self.best_val[:] = self.M[bc, self.rows]
            return
        sub = self.M[:, rows]
        bc = np.argmin(sub, axis=0)
        self.best_col[rows] = bc
        self.best_val[rows] = sub[bc, np.arange(len(rows))]

    def apply(self, u: int, t: int) -> None:
        s = self.st.apply(u, t)
        cols = np.array([s, t])
        v = View(self.st, self.rows, cols)
        Sc = self.static[cols] + self.sc.total(v, dynamic=True).T  # (2, U)
        Fc = self.static_ok[cols] & self.sc.allowed(v, dynamic=True).T
        self.S[cols] = Sc
        self.F[cols] = Fc
        Mc = np.where(Fc & ~v.on.T & self.movable[None, :], Sc, np.inf)  # (2, U)
        self.M[cols] = Mc
        stale = (self.best_col == s) | (self.best_col == t)
        stale[u] = True
        k = (Mc[1] < Mc[0]).astype(np.int64)
        mv = np.minimum(Mc[0], Mc[1])
        better = (mv < self.best_val) & ~stale
        self.best_val[better] = mv[better]
        self.best_col[better] = cols[k[better]]
        self._rows_best(np.flatnonzero(stale))
        here = np.flatnonzero((self.st.cur == s) | (self.st.cur == t))
        self.S_src[here] = self.S[self.st.cur[here], here]
        if u in self.order:
            self.order.remove(u)
        if t == self.st.orig[u]:
            self.gains.pop(u, None)
        else:
            self.order.append(u)

    def gain(self) -> np.ndarray:
        """(U,) best gain of each unit now (``-inf`` when it can't move)."""
        g = self.S_src - self.best_val
        g[np.isinf(self.best_val)] = -np.inf
        return g

    def n_moved(self) -> int:
        return len(self.order)

    def candidates(self, g: np.ndarray) -> np.ndarray:
        if self.budget and self.n_moved() >= self.budget:
            return np.where(self.st.cur != self.st.orig, g, -np.inf)  # re-targeting a planned move is free
        return g

    # -- search -----------------------------------------------------------------------------------
    def greedy(self, max_iter: int) -> int:
        it = 0
        while it < max_iter:
            g = self.gain()
            req = self.required & (self.a.maintenance[self.st.cur]) & np.isfinite(g)
            if req.any():  # evacuation first, whatever it costs and regardless of the budget
                u = int(np.flatnonzero(req)[np.argmax(g[req])])
            else:
                c = self.candidates(g)
                u = int(np.argmax(c))
                if not c[u] >= self.min_gain:
                    break
            t = int(self.best_col[u])
            self.gains[u] = self.gains.get(u, 0.0) + float(g[u])
            self.apply(u, t)
            it += 1
        return it

    def swap_pass(self) -> int:
        """Try replacing each planned move by the best other move; keep it when the total drops.

        A trial is only made when undoing the move plus the best move available now (an estimate: the
        undo changes two columns) would gain; the real gains are then measured after applying.
        """
        swaps = 0
        for u in list(self.order):
            if u not in self.gains or self.required[u]:
                continue
            home, there = int(self.st.orig[u]), int(self.st.cur[u])
            if not self.F[home, u]:
                continue
            back = float(self.S[there, u] - self.S[home, u])
            est = self.gain()
            est[self.st.cur != self.st.orig] = -np.inf
            if back + float(est.max()) <= self.min_gain * 0.1 + EPS:
                continue
            pos, old_gain = self.order.index(u), self.gains[u]
            self.apply(u, home)
            g = self.candidates(self.gain())
            g[u] = -np.inf
            w = int(np.argmax(g))
            if np.isfinite(g[w]) and back + g[w] > self.min_gain * 0.1 + EPS and g[w] >= self.min_gain:
                self.gains[w] = self.gains.get(w, 0.0) + float(g[w])
                self.apply(w, int(self.best_col[w]))
                swaps += 1
            else:
                self.apply(u, there)
                self.order.remove(u)
                self.order.insert(pos, u)
                self.gains[u] = old_gain
        return swaps


def search(ua: ClusterArrays, cfg: PenaltyConfig, budget: int, clock=None) -> SearchResult:
    """Greedy + swap local search over units. ``clock`` (e.g. time.perf_counter) only for timing."""
    tick = clock or (lambda: 0.0)
    t0 = tick()
    s = Search(ua, cfg, budget)
    t1 = tick()
    max_iter = 10 * ua.n_guests + 100
    it = s.greedy(max_iter)
    t2 = tick()
    swaps = 0
    if cfg.local_search:
        for _ in range(cfg.local_search_rounds):
            k = s.swap_pass()
            k_it = s.greedy(max_iter)
            swaps += k
            it += k_it
            if not k and not k_it:
                break
    t3 = tick()
    g = s.gain()
    blocked = np.zeros(ua.n_guests, dtype=bool)
    if budget and s.n_moved() >= budget:
        blocked = (g >= s.min_gain) & (s.st.cur == s.st.orig)
    return SearchResult(s.st, list(s.order), s.gains, s.best_val.copy(), g, blocked, it, swaps,
                        {"score": (t1 - t0) * 1e3, "greedy": (t2 - t1) * 1e3, "local_search": (t3 - t2) * 1e3})


def execution_order(ua: ClusterArrays, cfg: PenaltyConfig, moves: list[tuple[int, int]]):
    """Order ``(unit, target)`` moves so that every step passes the load filters from the initial state.

    Returns (ordered moves, dropped moves with the blocking filter). A move that fits at no point (a
    cycle of nodes waiting on each other) is dropped, so the plan never over-packs a node at any step.
    """
    st, sc = State(ua), Scorer(cfg)
    pending = list(moves)
    done, dropped = [], []
    while pending:
        for i, (u, t) in enumerate(pending):
            v = View(st, np.array([u]), np.array([t]))
            if sc.allowed(v)[0, 0]:
                st.apply(u, t)
                done.append(pending.pop(i))
                break
        else:
            u, t = pending.pop(0)
            v = View(st, np.array([u]), np.array([t]))
            dropped.append((u, t, [k for k, f in sc.failing(v).items() if f[0, 0]]))
    return done, dropped
