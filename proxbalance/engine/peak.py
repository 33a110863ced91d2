"""Peak-directed local search: lower the hottest node, one relocation / exchange / swap at a time.

The greedy on the cluster score (a sum of per-node curves and threshold tiers) is myopic under a move budget
and its tiers pin nodes at the configured thresholds when the achievable peak is above them. This phase works
on the peak directly: the max over live nodes of max(CPU %, memory %) of the blended load. Each step takes the
hottest node ``h`` and scores every candidate at once in numpy:

* **relocate** a unit on ``h`` to a node ``t`` (a unit already planned is re-targeted for free; sending a
  planned unit home frees a move);
* **exchange** (budget spent): relocate as above and send one planned unit home, freeing its move;
* **swap** a unit on ``h`` with a unit on one of the coldest nodes.

A step is taken only when the larger of the two new utilisations is at least ``peak_min_step_pct`` below the
current peak and the step pays: its score gain in the current state (all terms: the migration cost of what it
copies, load and balance on the target) plus ``peak_weight`` points per % point of peak lowered (above
min(cpu_threshold, mem_threshold)) reaches ``min_score_improvement`` (swaps and exchanges valued as a whole), and only while the peak is above min(cpu_threshold, mem_threshold) (a cluster whose hottest node
is below both thresholds is left alone). Every step passes the hard filters in the state it is made in (so
the steps are executable in order), respects the move budget, and never raises a unit's placement penalties
(storage, HA node preference, anti-affinity, affinity). Units the warm start kept from the previous plan
(``Search.locked``) are not swapped here, but they may be sent home by an exchange, and a kept move *into the
hot node* may be re-targeted or swapped off it like any unit there: the step's value includes the stability
term, so a kept move is given up only when that pays the stability margin. Otherwise kept moves that fill the
budget could never make room for a node that heated up since the previous plan (``bench/stability.py`` on
``large``: the stable plan's peak drifted from 75.7 % to 85.3 % over 12 snapshots while fresh plans stayed at
75.5 %).

The phase runs on a cheap copy of the search state (node loads, placement, group counts; filters and terms are
evaluated only for the rows on ``h``) with a few tie-breaking variants; the variant with the lowest final peak
(then fewest GiB) is applied to the search, which re-scores its columns exactly.
"""

from __future__ import annotations

import numpy as np

from .arrays import CPU, MEM
from .lexorder import LexOrder
from .state import View

SWAP_NODES = 4  # swap partners are drawn from this many coldest nodes (below BIG one more run draws them from
# every node: a cold-nodes-only search can get stuck on a hot node holding a few large guests)
SWAP_ROWS = 48  # ... for this many of the largest units on the hottest node
SWAP_TRIES = 8  # swap cells (best cheap keys first) whose exact joint value is computed
BIG = 200_000  # units x nodes above which only one variant runs
VARIANTS = ("pair", "target", "spread")  # secondary key after the cluster peak


def _max2(x: np.ndarray) -> np.ndarray:
    """Row max of an ``(m, 2)`` array (faster than ``max(axis=1)`` for two columns)."""
    return np.maximum(x[:, 0], x[:, 1])


class PeakRun:
    def __init__(self, s, step_pct: float, variant: str, swap_nodes: int = SWAP_NODES):
        self.s, self.a, self.variant, self.swap_nodes = s, s.a, variant, swap_nodes
        self.st = s.st.clone()
        self.step = step_pct / 100.0
        a = self.a
        self.live = a.online & ~a.maintenance
        self.cap2 = a.cap[:, [CPU, MEM]]
        self.d2 = s.d2
        self.gib = a.copy_bytes / 1024.0**3
        self.vmid = a.vmids
        self.node_rank = np.argsort(np.argsort(np.array(a.node_names, dtype=object)))
        self.floor = min(s.cfg.cpu_threshold, s.cfg.mem_threshold) / 100.0
        self.w = s.cfg.peak_weight * 100.0  # points per unit of utilisation
        self.min_value = s.min_gain
        self.cols = np.arange(a.n_nodes)
        self.planned = [u for u in s.order]
        self.pairs = dict(getattr(s, "pairs", {}))  # unit -> swap partner (both directions)
        self.steps = 0

    # -- helpers -----------------------------------------------------------------------------------
    def util(self) -> np.ndarray:
        u = _max2(self.st.n["blend"][:, [CPU, MEM]] / self.cap2)
        return np.where(self.live, u, -np.inf)

    def peak(self) -> float:
        u = self.util()
        return float(u.max()) if len(u) else -np.inf

    @staticmethod
    def _others(util: np.ndarray, h: int) -> np.ndarray:
        """(N,) max utilisation over nodes other than h and the column's own node."""
        x = util.copy()
        x[h] = -np.inf
        if len(x) < 2:
            return np.full(len(x), -np.inf)
        top = np.argsort(x)[-2:]
        out = np.full(len(x), x[top[1]])
        out[top[1]] = x[top[0]]
        return out

    def _eval(self, rows: np.ndarray):
        """(allowed, placement points) of rows on every node, ``(m, N)`` each."""
        s = self.s
        v = View(self.st, rows, self.cols)
        ok = s.static_ok_rows[rows] & s.sc.allowed(v, dynamic=True)
        place = s.place_static_rows[rows]
        if self.a.anti.shape[1] or self.a.aff.shape[1]:
            place = place + sum((t.fn(v, a) * w for t, w, a in s.sc.penalties
                                 if t.dynamic and t.family == "placement"), np.zeros(v.shape))
        return ok & ~v.on, place

    def _total(self, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
        """``(m, c)`` points (every term) of rows on cols in the run's state; ``score[h] - score[t]`` is a gain."""
        v = View(self.st, rows, cols)
        return self.s.static[np.ix_(cols, rows)].T + self.s.sc.total(v, dynamic=True)

    def credit(self, P: float, pair: np.ndarray) -> np.ndarray:
        """Points of lowering the hottest node from P to ``pair`` (only the part above the floor counts)."""
        return self.w * (P - np.maximum(pair, self.floor))

    def _cost(self, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
        """Budget cost of sending rows to cols (broadcast): +1 leaving home, -1 returning home, else 0."""
        home = (self.st.cur[rows] == self.st.orig[rows])[:, None]
        back = self.st.orig[rows][:, None] == cols[None, :]
        return home.astype(np.int64) - back.astype(np.int64)

    def _free(self) -> float:
        b = self.s.budget
        return np.inf if not b else b - int((self.st.cur != self.st.orig).sum())

    def move(self, u: int, t: int) -> None:
        w = self.pairs.pop(u, None)  # moving half of a swap again breaks the pair
        if w is not None:
            self.pairs.pop(w, None)
        self.st.apply(u, t)
        if u in self.planned:
            self.planned.remove(u)
        if t != self.st.orig[u]:
            self.planned.append(u)

    def _second(self, pair, new_h, new_t):
        if self.variant == "target":
            return new_t
        if self.variant == "spread":
            return pair - 0.5 * np.minimum(new_h, new_t)
        return pair

    # -- one step ----------------------------------------------------------------------------------
    def step_once(self) -> bool:
        s, st = self.s, self.st
        util = self.util()
        h = int(np.argmax(util))
        P = float(util[h])
        if not np.isfinite(P) or P <= self.floor:
            return False
        rows = np.flatnonzero((st.cur == h) & s.movable)
        if not len(rows):
            return False
        L = st.n["blend"][:, [CPU, MEM]]
        d = self.d2[rows]
        cols = self.cols
        C = self.cap2
        new_h = np.broadcast_to(_max2((L[h] - d) / C[h])[:, None], (len(rows), len(cols)))
        new_t = np.maximum((L[None, :, 0] + d[:, 0, None]) / C[None, :, 0], (L[None, :, 1] + d[:, 1, None]) / C[None, :, 1])
        pair = np.maximum(new_h, new_t)
        glob = np.maximum(pair, self._others(util, h)[None, :])
        allowed, place = self._eval(rows)
        ok = allowed & self.live[None, :] & (place <= place[:, [h]] + 1e-9) & (pair < P - self.step)
        cost = self._cost(rows, cols)
        free = self._free()
        second = self._second(pair, new_h, new_t)
        ids = (np.broadcast_to(self.vmid[rows][:, None], pair.shape),
               np.broadcast_to(self.node_rank[None, :], pair.shape))
        # the step is the first cell in pick order whose value (score gain, migration cost included, + peak
        # credit) pays: values are computed lazily, in pick order, for a few cells at a time
        value = np.full(pair.shape, np.nan)
        best = self._first_paying(self._order(ok & (cost <= free), glob, pair, second, ids, new_t),
                                  value, rows, h, P, pair)
        if free <= 0:
            paid = self._first_paying(self._order(ok & (cost == 1), glob, pair, second, ids, new_t),
                                      value, rows, h, P, pair)
            if paid is not None and (best is None or glob[paid] < glob[best] - 1e-12):
                v = self._undo_for(int(rows[paid[0]]), h, int(paid[1]), float(glob[paid]), P, float(value[paid]))
                if v is not None:
                    self.move(v, int(st.orig[v]))
                    self.move(int(rows[paid[0]]), int(paid[1]))
                    return True
        if best is not None:
            self.move(int(rows[best[0]]), int(best[1]))
            return True
        return self._swap(util, h, P, rows, allowed, place, free)

    @staticmethod
    def _order(mask, glob, pair, second, ids, cooler) -> np.ndarray:
        """Flat indices of the cells in ``mask`` in pick order: (cluster peak, variant key, pair max, cooler
        target, ids), the first three rounded as :meth:`_pick` rounds them."""
        idx = np.flatnonzero(mask.ravel())
        if len(idx) <= 1:
            return idx
        return LexOrder(idx, [(glob, 5), (second, 9), (pair, 9), (cooler, 9)] + [(x, None) for x in ids])

    def _first_paying(self, order: np.ndarray, value: np.ndarray, rows, h: int, P: float, pair):
        """First cell of ``order`` whose value reaches ``min_value`` (``(i, j)``, None if none). ``value``
        ``(m, N)`` caches the values computed so far (NaN: not yet)."""
        flat = value.ravel()
        start, size = 0, 16
        while start < len(order):
            chunk = order[start:start + size]
            todo = chunk[np.isnan(flat[chunk])]
            if len(todo):
                i, j = np.unravel_index(todo, value.shape)
                ri, inv_r = np.unique(i, return_inverse=True)
                cc = np.union1d(j, [h])
                T = self._total(rows[ri], cc)
                hcol = int(np.searchsorted(cc, h))
                flat[todo] = (T[inv_r, hcol] - T[inv_r, np.searchsorted(cc, j)]
                              + self.credit(P, pair[i, j]))
            good = np.flatnonzero(flat[chunk] >= self.min_value)
            if len(good):
                return np.unravel_index(chunk[good[0]], value.shape)
            start, size = start + size, size * 4
        return None

    def _undo_for(self, u: int, h: int, t: int, glob: float, P: float, value: float) -> int | None:
        """A planned unit to send home so that relocating u (h -> t) fits the budget, or None."""
        st = self.st
        planned = np.array([v for v in self.planned if not self.s.required[v] and v != u],
                           dtype=np.int64)
        if not len(planned):
            return None
        o, c = st.orig[planned], st.cur[planned]
        L = st.n["blend"][:, [CPU, MEM]]
        new_o = _max2((L[o] + self.d2[planned]) / self.cap2[o])
        ok = (o != h) & (o != t) & (c != h) & (c != t) & (np.maximum(new_o, glob) < P - self.step)
        if not ok.any():
            return None
        cand = planned[ok]
        allowed, _ = self._eval(cand)
        k = np.arange(len(cand))
        cc = np.union1d(st.cur[cand], st.orig[cand])
        T = self._total(cand, cc)
        home_gain = T[k, np.searchsorted(cc, st.cur[cand])] - T[k, np.searchsorted(cc, st.orig[cand])]
        good = np.flatnonzero(allowed[k, st.orig[cand]] & (value + home_gain >= self.min_value))
        if not len(good):
            return None
        no = new_o[ok][good]
        k = good[np.lexsort((self.vmid[cand[good]], -self.gib[cand[good]], np.round(no, 9)))[0]]
        return int(cand[k])

    def _swap(self, util, h, P, rows, allowed_u, place_u, free) -> bool:
        s, st = self.s, self.st
        if len(rows) > SWAP_ROWS:
            keep = np.argsort(-_max2(self.d2[rows] / self.cap2[h]), kind="stable")[:SWAP_ROWS]
            keep.sort()
            rows, allowed_u, place_u = rows[keep], allowed_u[keep], place_u[keep]
        order = np.lexsort((self.node_rank, np.round(util, 12)))  # ties by node name (permutation-invariant)
        cold = [int(j) for j in order if np.isfinite(util[j]) and j != h][:self.swap_nodes]
        ws = np.flatnonzero(np.isin(st.cur, cold) & s.movable & ~s.locked) if cold else np.zeros(0, dtype=np.int64)
        if not len(ws):
            return False
        L = st.n["blend"][:, [CPU, MEM]]
        du, dw = self.d2[rows], self.d2[ws]
        tw = st.cur[ws]
        C, Ct = self.cap2[h], self.cap2[tw]
        new_h = new_t = None
        for r in range(2):
            delta = dw[None, :, r] - du[:, r, None]  # (m, k): what h gains, t loses
            nh = (L[h, r] + delta) / C[r]
            nt = (L[tw, r][None, :] - delta) / Ct[None, :, r]
            new_h = nh if new_h is None else np.maximum(new_h, nh)
            new_t = nt if new_t is None else np.maximum(new_t, nt)
        pair = np.maximum(new_h, new_t)
        glob = np.maximum(pair, self._others(util, h)[tw][None, :])
        k = np.arange(len(ws))
        allowed_w, place_w = self._eval(ws)
        static = self.s.static_ok[np.ix_(tw, rows)].T & self.s.static_ok[h, ws][None, :]
        ok = (static & (allowed_u[:, tw] | allowed_w[k, h][None, :])  # one half must fit first (checked exactly)
              & (place_u[:, tw] <= place_u[:, [h]] + 1e-9)
              & (place_w[k, h] <= place_w[k, tw] + 1e-9)[None, :]
              & (pair < P - self.step))
        ok &= (self._cost(rows, tw) + self._cost(ws, np.full(1, h)).T) <= free
        if not ok.any():
            return False
        ids = (np.broadcast_to(self.vmid[rows][:, None], pair.shape),
               np.broadcast_to(self.vmid[ws][None, :], pair.shape))
        second = self._second(pair, new_h, new_t)
        # cheap keys first; the exact joint value (all terms) only for the best few cells, in pick order
        cand = np.flatnonzero(ok.ravel())
        keys = [np.round(glob.ravel()[cand], 5), np.round(second.ravel()[cand], 9), np.round(pair.ravel()[cand], 9),
                np.round(new_t.ravel()[cand], 9)] + [x.ravel()[cand] for x in ids]
        for c in cand[np.lexsort(keys[::-1])][:SWAP_TRIES]:
            i, j = np.unravel_index(c, ok.shape)
            u, w = int(rows[i]), int(ws[j])
            t = int(st.cur[w])
            first = self._pair_order(u, w, h, t)
            if first is None:
                continue
            if self._pair_value(u, w, h, t) + float(self.credit(P, pair[i, j])) < self.min_value:
                continue
            a, b = (u, w) if first == u else (w, u)
            self.move(a, t if a == u else h)
            self.move(b, t if b == u else h)
            self.pairs[u], self.pairs[w] = w, u
            return True
        return False

    def _fits(self, u: int, t: int) -> bool:
        """Unit u passes every filter on node t in the run's current state."""
        v = View(self.st, np.array([u]), np.array([t]))
        return bool(self.s.static_ok[t, u] and self.s.sc.allowed(v, dynamic=True)[0, 0])

    def _pair_order(self, u: int, w: int, h: int, t: int) -> int | None:
        """Which half of the swap (u: h -> t, w: t -> h) can run first so that both steps pass the filters
        (memory limit included) in turn; None if neither order is safe."""
        for a, b, ta, tb in ((u, w, t, h), (w, u, h, t)):
            if not self._fits(a, ta):
                continue
            back = int(self.st.cur[a])
            self.st.apply(a, ta)
            ok = self._fits(b, tb)
            self.st.apply(a, back)
            if ok:
                return a
        return None

    def _pair_value(self, u: int, w: int, h: int, t: int) -> float:
        """Exact score gain (every term) of the swap as a whole: w's step, then u's step after it (the sum
        telescopes to the drop of the cluster total, whichever half runs first)."""
        T1 = self._total(np.array([w]), np.array([t, h]))
        self.st.apply(w, h)
        T2 = self._total(np.array([u]), np.array([h, t]))
        self.st.apply(w, t)
        return float(T1[0, 0] - T1[0, 1] + T2[0, 0] - T2[0, 1])


def peak_phase(s, step_pct: float, max_steps: int, variants=VARIANTS) -> int:
    """Run the peak steps (a few tie-breaking variants, one with swap partners from every node), apply the best
    run to the search; returns its steps."""
    best, best_key = None, None
    runs = [(v, SWAP_NODES) for v in variants]
    if s.a.n_guests * s.a.n_nodes > BIG:
        runs = runs[:1]
    elif s.a.n_nodes > SWAP_NODES + 1:
        runs.append((variants[0], s.a.n_nodes))  # swap partners from every node
    for variant, width in runs:
        run = PeakRun(s, step_pct, variant, width)
        while run.steps < max_steps and run.step_once():
            run.steps += 1
        moved = run.st.cur != run.st.orig
        key = (round(run.peak(), 6), float(run.gib[moved].sum()))
        if run.steps and (best_key is None or key < best_key):
            best, best_key = run, key
    if best is None:
        return 0
    # replay: units whose node changed, in the order the run last moved them (sends home first)
    changed = np.flatnonzero(best.st.cur != s.st.cur).tolist()
    rank = {u: i for i, u in enumerate(best.planned)}
    s.apply_many([(u, int(best.st.cur[u])) for u in sorted(changed, key=lambda u: rank.get(u, -1))])
    s.pairs = {u: w for u, w in best.pairs.items() if s.st.cur[u] != s.st.orig[u] and s.st.cur[w] != s.st.orig[w]}
    return best.steps
