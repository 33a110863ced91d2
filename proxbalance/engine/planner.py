"""Planner: greedy best move on the whole cluster, incremental re-scoring, swap local search, ordering.

Search state, all over units (affinity companions on one node move as one row):

- ``S`` points of unit u on node n (:mod:`score`), ``F`` filters pass; both stored node-major ``(N, U)``.
- ``M`` = ``S`` where a move is allowed (and, after the peak phase, keeps the target under the peak cap), else inf;
  ``best_val`` ``(U,)`` its column minimum; the best node itself is looked up only for the chosen unit.

A move of u from s to t changes node loads and group counts of s and t only, and every term depends on a
cell's own node only, so exactly columns s and t of ``S`` and ``F`` change: re-scoring is ``O(U)`` per move
(plus a full row minimum for the rows whose best node was s or t). No loop over guests.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from .arrays import CPU, MEM, ClusterArrays
from .config import PenaltyConfig
from .peak import peak_phase
from .score import Scorer
from .state import State, View

EPS = 1e-9


def _sum(parts, shape) -> np.ndarray:
    out = np.zeros(shape)
    for x in parts:
        out += x
    return out


@dataclass
class SearchResult:
    state: State
    order: list[int]  # units in the order they were (last) moved
    gains: dict[int, float]
    best_val: np.ndarray
    best_gain: np.ndarray  # (U,) best remaining gain per unit at the end
    budget_blocked: np.ndarray  # (U,) bool: would gain enough but the budget is spent
    peak_blocked: np.ndarray  # (U,) bool: would gain enough but would push a node above the peak cap
    peak_cap: float | None
    iterations: int = 0
    swaps: int = 0
    timing_ms: dict = field(default_factory=dict)
    peak_steps: int = 0
    pairs: dict = field(default_factory=dict)  # unit -> swap partner (both directions)
    evac_iterations: int = 0  # greedy iterations of the evacuation phase (one per required unit)
    warm_kept: int = 0  # previous plan's moves re-applied by the warm start


class Search:
    def __init__(self, ua: ClusterArrays, cfg: PenaltyConfig, budget: int):
        self.a, self.cfg, self.budget = ua, cfg, budget
        self.st = State(ua)
        self.sc = Scorer(cfg)
        U, N = ua.n_guests, ua.n_nodes
        self.rows, self.cols = np.arange(U), np.arange(N)
        v = View(self.st, self.rows, self.cols)
        # stored node-major, (N, U): a move rewrites two contiguous rows
        sbd = self.sc.breakdown(v, dynamic=False)
        self.static = np.ascontiguousarray(_sum(sbd.values(), v.shape).T)
        # row-major (U, N): the peak phase gathers rows of these
        self.place_static_rows = _sum((x for k, x in sbd.items() if self.sc.family[k] == "placement"), v.shape)
        self.static_ok_rows = self.sc.allowed(v, dynamic=False)
        self.static_ok = np.ascontiguousarray(self.static_ok_rows.T)
        self.S = self.static + self.sc.total(v, dynamic=True).T
        self.F = self.static_ok & self.sc.allowed(v, dynamic=True).T
        self.movable = ua.skip == ""
        self.required = self.movable & ua.maintenance[self.st.cur]
        self.locked = np.zeros(U, dtype=bool)  # kept from the previous plan by warm_start (see peak.py)
        self.min_gain = max(cfg.min_score_improvement, EPS)
        self.peak_cap: float | None = None  # after the peak phase: no move may push a node above this
        self.d2 = np.ascontiguousarray(ua.g["blend"][:, [CPU, MEM]])
        # M: S where a move is allowed (filters pass, not the own node), +inf elsewhere; rows that can't
        # move at all are +inf throughout
        self.M = self._mask(self.cols, self.S, self.F)
        self.best_val = self.M.min(axis=0) if N else np.full(U, np.inf)
        self.S_src = self.S[self.st.cur, self.rows]  # (U,) score on the current node
        self.order: list[int] = []
        self.gains: dict[int, float] = {}
        self.pairs: dict[int, int] = {}  # swap halves (both directions), set by the peak phase
        self.node_rank = np.argsort(np.argsort(np.array(ua.node_names, dtype=object)))

    # -- incremental bookkeeping ------------------------------------------------------------------
    def _mask(self, cols: np.ndarray, Sc: np.ndarray, Fc: np.ndarray) -> np.ndarray:
        ok = Fc & (self.st.cur[None, :] != cols[:, None]) & self.movable[None, :]
        if self.peak_cap is not None:
            L = self.st.n["blend"][cols][:, [CPU, MEM]]
            C = self.a.cap[cols][:, [CPU, MEM]]
            for r in range(2):
                ok &= (L[:, r, None] + self.d2[None, :, r]) <= self.peak_cap * C[:, r, None]
        return np.where(ok, Sc, np.inf)

    def set_peak_cap(self, cap: float | None) -> None:
        self.peak_cap = cap
        self.M = self._mask(self.cols, self.S, self.F)
        self.best_val = self.M.min(axis=0)

    def under_cap(self, u: int, t: int) -> bool:
        """Would node t stay at or under the peak cap with unit u added (True without a cap)?"""
        if self.peak_cap is None:
            return True
        return bool(((self.st.n["blend"][t, [CPU, MEM]] + self.d2[u]) <= self.peak_cap * self.a.cap[t, [CPU, MEM]]).all())

    def best_target(self, u: int) -> int:
        """Node with the lowest masked score for u; exact ties go to the first node name (permutation-invariant)."""
        m = self.M[:, u]
        j = int(np.argmin(m))
        if np.isfinite(m[j]):
            tie = np.flatnonzero(m <= m[j] + 1e-9)
            if len(tie) > 1:
                j = int(tie[np.argmin(self.node_rank[tie])])
        return j

    def partial(self, rows: np.ndarray, family: str) -> np.ndarray:
        """(m, N) dynamic points of one term family for some rows on every node."""
        v = View(self.st, rows, self.cols)
        return _sum((t.fn(v, a) * w for t, w, a in self.sc.penalties if t.dynamic and t.family == family),
                    v.shape)

    def _unpair(self, u: int) -> None:
        w = self.pairs.pop(u, None)
        if w is not None:
            self.pairs.pop(w, None)

    def apply(self, u: int, t: int) -> None:
        self._unpair(u)
        s = self.st.apply(u, t)
        if s == t:
            return
        cols = np.array([s, t])
        v = View(self.st, self.rows, cols)
        Sc = self.static[cols] + self.sc.total(v, dynamic=True).T  # (2, U)
        Fc = self.static_ok[cols] & self.sc.allowed(v, dynamic=True).T
        old = self.M[cols]
        self.S[cols] = Sc
        self.F[cols] = Fc
        Mc = self._mask(cols, Sc, Fc)
        self.M[cols] = Mc
        # rows whose best was on s or t and got worse there need a full minimum; the rest only improve
        bv = self.best_val
        stale = ((bv == old[0]) & (Mc[0] > old[0])) | ((bv == old[1]) & (Mc[1] > old[1]))
        np.minimum(bv, np.minimum(Mc[0], Mc[1]), out=bv)
        rows = np.flatnonzero(stale)
        if len(rows) * 8 > len(bv):
            self.best_val = self.M.min(axis=0)
        elif len(rows):
            bv[rows] = self.M[:, rows].min(axis=0)
        here = np.flatnonzero((self.st.cur == s) | (self.st.cur == t))
        self.S_src[here] = self.S[self.st.cur[here], here]
        if u in self.order:
            self.order.remove(u)
        if t == self.st.orig[u]:
            self.gains.pop(u, None)
        else:
            self.order.append(u)

    def apply_many(self, moves: list[tuple[int, int]]) -> None:
        """Apply several moves, then re-score every touched column once (cheaper than one apply each)."""
        touched = set()
        for u, t in moves:
            self._unpair(u)
            s = self.st.apply(u, t)
            if s == t:
                continue
            touched.update((s, t))
            if u in self.order:
                self.order.remove(u)
            if t != self.st.orig[u]:
                self.order.append(u)
            else:
                self.gains.pop(u, None)
        if not touched:
            return
        cols = np.array(sorted(touched))
        v = View(self.st, self.rows, cols)
        Sc = self.static[cols] + self.sc.total(v, dynamic=True).T
        Fc = self.static_ok[cols] & self.sc.allowed(v, dynamic=True).T
        self.S[cols], self.F[cols] = Sc, Fc
        self.M[cols] = self._mask(cols, Sc, Fc)
        self.best_val = self.M.min(axis=0)
        self.S_src = self.S[self.st.cur, self.rows]

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
    def greedy(self, max_iter: int, required_only: bool = False) -> int:
        it = 0
        while it < max_iter:
            g = self.gain()
            req = self.required & (self.a.maintenance[self.st.cur]) & np.isfinite(g)
            if req.any():  # evacuation first, whatever it costs and regardless of the budget
                u = int(np.flatnonzero(req)[np.argmax(g[req])])
            elif required_only:
                break
            else:
                c = self.candidates(g)
                u = int(np.argmax(c))
                if not c[u] >= self.min_gain:
                    break
            t = self.best_target(u)
            self.gains[u] = self.gains.get(u, 0.0) + float(g[u])
            self.apply(u, t)
            it += 1
        return it

    def placement_units(self) -> np.ndarray:
        """Units whose placement penalties (affinity, anti-affinity, HA node preference, storage) can differ
        between nodes: members of a group, or with static placement points that vary over the nodes."""
        a, ps = self.a, self.place_static_rows
        grouped = np.zeros(a.n_guests, dtype=bool)
        for m in (a.anti, a.aff):
            if m.shape[1]:
                grouped |= m.any(axis=1)
        varies = (ps.max(axis=1) > ps.min(axis=1)) if ps.shape[1] else grouped
        return np.flatnonzero((grouped | varies) & self.movable)

    def fix_placement(self, max_iter: int) -> int:
        """Moves that resolve a placement rule violation first, best gain first, within the budget: a unit
        whose placement points on its node exceed those on its best target by at least ``min_score_improvement``
        and whose whole move gains that much. Run before the peak phase, so rule fixes (worth hundreds of
        points) are not crowded out of the move budget by peak steps, and so the first plan already holds
        them (otherwise the next run's hysteresis swaps them in, and consecutive plans differ)."""
        rows = self.placement_units()
        it = 0
        while len(rows) and it < max_iter:
            if self.budget and self.n_moved() >= self.budget:
                break
            g = self.gain()[rows]
            g[self.st.cur[rows] != self.st.orig[rows]] = -np.inf  # planned already
            cand = np.flatnonzero(g >= self.min_gain)
            if not len(cand):
                break
            r = rows[cand]
            place = self.place_static_rows[r] + self.partial(r, "placement")  # (m, N)
            tgt = np.array([self.best_target(int(u)) for u in r])
            k = np.arange(len(r))
            fix = place[k, self.st.cur[r]] - place[k, tgt]
            ok = np.flatnonzero(fix >= self.min_gain)
            if not len(ok):
                break
            i = ok[np.argmax(g[cand][ok])]
            u = int(r[i])
            self.gains[u] = self.gains.get(u, 0.0) + float(g[cand][i])
            self.apply(u, int(tgt[i]))
            it += 1
        return it

    def warm_start(self, moves: list[tuple[int, int]]) -> int:
        """Re-apply the previous plan's moves ``(unit, target)`` that are still allowed, within the budget, and
        still gain at least ``min_score_improvement`` (the stability term counts: staying costs the margin).
        Two passes, so a move that only fits after another one's departure is kept too. Returns how many."""
        done = 0
        for _ in range(2):
            for u, t in moves:
                if self.st.cur[u] != self.st.orig[u] or not self.movable[u] or self.required[u]:
                    continue
                if self.budget and self.n_moved() >= self.budget:
                    return done
                g = float(self.S_src[u] - self.M[t, u])
                if np.isfinite(g) and g >= self.min_gain:
                    self.gains[u] = g
                    self.apply(u, t)
                    self.locked[u] = True
                    done += 1
        return done

    def swap_pass(self) -> int:
        """Try replacing each planned move by the best other move; keep it when the total drops.

        A trial is only made when undoing the move plus the best move available now (an estimate: the
        undo changes two columns) would gain; the real gains are then measured after applying.
        """
        swaps = 0
        for u in list(self.order):
            # a move kept from the previous plan is undone here only when its replacement beats it by the
            # stability margin (the stability term charges its going home)
            if u not in self.gains or self.required[u]:
                continue
            home, there = int(self.st.orig[u]), int(self.st.cur[u])
            if not self.F[home, u] or not self.under_cap(u, home):
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
                self.apply(w, self.best_target(w))
                swaps += 1
            else:
                self.apply(u, there)
                self.order.remove(u)
                self.order.insert(pos, u)
                self.gains[u] = old_gain
        return swaps


def search(ua: ClusterArrays, cfg: PenaltyConfig, budget: int, clock=None,
           warm: list[tuple[int, int]] | None = None) -> SearchResult:
    """Greedy + swap local search over units. ``clock`` (e.g. time.perf_counter) only for timing; ``warm``:
    the previous plan's ``(unit, target)`` moves, re-applied first where they still pay (hysteresis)."""
    tick = clock or (lambda: 0.0)
    t0 = tick()
    s = Search(ua, cfg, budget)
    t1 = tick()
    max_iter = 10 * ua.n_guests + 100
    it = s.greedy(max_iter, required_only=True)  # maintenance evacuations first
    evac_iterations = it
    warm_kept = s.warm_start(warm) if warm else 0
    it += s.fix_placement(max_iter)
    peak_steps = 0
    if cfg.peak_search:
        peak_steps = peak_phase(s, cfg.peak_min_step_pct, 2 * max(budget, 25) + ua.n_nodes)
        s.set_peak_cap(_peak(s) + EPS)
    t2 = tick()
    it += s.greedy(max_iter)
    t3 = tick()
    swaps = 0
    if cfg.local_search:
        for _ in range(cfg.local_search_rounds):
            k = s.swap_pass()
            k_it = s.greedy(max_iter)
            swaps += k
            it += k_it
            if not k and not k_it:
                break
    if cfg.peak_search:  # recycle small late moves for the peak (exchange steps)
        peak_steps += peak_phase(s, cfg.peak_min_step_pct, max(budget, 25) + ua.n_nodes, ("pair",))
        s.set_peak_cap(_peak(s) + EPS)
    t4 = tick()
    g_cap = s.gain()
    cap = s.peak_cap
    if cap is not None:  # report against the hard filters; the cap becomes its own skip reason
        s.set_peak_cap(None)
    g = s.gain()
    blocked = np.zeros(ua.n_guests, dtype=bool)
    if budget and s.n_moved() >= budget:
        blocked = (g >= s.min_gain) & (s.st.cur == s.st.orig)
    peak_blocked = (g >= s.min_gain) & ~(g_cap >= s.min_gain) & ~blocked
    return SearchResult(s.st, list(s.order), s.gains, s.best_val.copy(), g, blocked, peak_blocked, cap, it, swaps,
                        {"score": (t1 - t0) * 1e3, "peak_search": (t2 - t1) * 1e3, "greedy": (t3 - t2) * 1e3,
                         "local_search": (t4 - t3) * 1e3}, peak_steps, dict(s.pairs), evac_iterations, warm_kept)


def _peak(s: Search) -> float:
    live = s.a.online & ~s.a.maintenance
    if not live.any():
        return np.inf
    return float((s.st.n["blend"][live][:, [CPU, MEM]] / s.a.cap[live][:, [CPU, MEM]]).max())


def execution_order(ua: ClusterArrays, cfg: PenaltyConfig, moves: list[tuple[int, int]], pairs: dict | None = None):
    """Order ``(unit, target)`` moves so that every step passes the load filters from the initial state.

    Returns (ordered moves, dropped moves with the blocking filter). A move that fits at no point (a
    cycle of nodes waiting on each other) is dropped, so the plan never over-packs a node at any step.
    The two halves of a swap (``pairs``: unit -> partner) are placed next to each other, the half that
    fits first first, and are dropped together.
    """
    st, sc = State(ua), Scorer(cfg)
    pairs = pairs or {}
    pending = list(moves)
    done, dropped = [], []

    def fits(u, t):
        return bool(sc.allowed(View(st, np.array([u]), np.array([t])))[0, 0])

    while pending:
        for i, (u, t) in enumerate(pending):
            w = pairs.get(u)
            j = next((k for k, m in enumerate(pending) if m[0] == w), None) if w is not None else None
            if j is None:
                if fits(u, t):
                    st.apply(u, t)
                    done.append(pending.pop(i))
                    break
                continue
            if not fits(u, t):
                continue
            back = int(st.cur[u])
            st.apply(u, t)
            if fits(*pending[j]):
                st.apply(*pending[j])
                done += [pending[i], pending[j]]
                for k in sorted((i, j), reverse=True):
                    pending.pop(k)
                break
            st.apply(u, back)
        else:
            u, t = pending.pop(0)
            out = [(u, t)] + [m for m in pending if m[0] == pairs.get(u)]
            pending = [m for m in pending if m not in out]
            for u, t in out:
                v = View(st, np.array([u]), np.array([t]))
                dropped.append((u, t, [k for k, f in sc.failing(v).items() if f[0, 0]] or ["swap_partner"]))
    return done, dropped
