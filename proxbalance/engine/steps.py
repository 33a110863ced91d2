"""All steps of a plan scored in one window: a virtual state with one node pair per step.

Recording a plan needs, for each step k (unit ``u_k`` from ``s_k`` to ``t_k``, in execution order), the
per-term points of ``u_k`` on ``s_k`` and ``t_k`` with the loads *at that step*. Instead of one small window
per step (one call per term and step), the steps are replayed once to collect the loads of ``s_k`` / ``t_k``
before each step, and a virtual cluster is built whose node ``2k`` is ``s_k`` and node ``2k + 1`` is ``t_k``
as they were at step k, and whose rows are the moving units (unit k runs on virtual node 2k, its original
node). One ``(K, 2K)`` window then evaluates every term for every step; cells ``(k, 2k)`` and
``(k, 2k + 1)`` are exactly the per-step values (every term depends on a cell's own node only).
"""

from __future__ import annotations

import dataclasses

import numpy as np

from .arrays import CPU, KINDS, MEM, ClusterArrays
from .config import PenaltyConfig
from .planner import execution_order
from .state import State, View, stacked


@dataclasses.dataclass
class Steps:
    view: View  # (K, 2K) window of the virtual state
    src: np.ndarray  # (K,) real source node per step
    dst: np.ndarray  # (K,) real target node per step
    before: dict  # kind -> (K, 2, R) loads of (source, target) before the step
    after: dict  # kind -> (K, 2, R) loads after the step
    final: State  # real state after all steps


def replay(ua: ClusterArrays, ordered: list[tuple[int, int]]) -> Steps:
    st = State(ua)
    K = len(ordered)
    R = ua.cap.shape[1]
    mu = np.array([u for u, _ in ordered], dtype=np.int64)
    src = np.empty(K, dtype=np.int64)
    dst = np.array([t for _, t in ordered], dtype=np.int64)
    before = {k: np.empty((K, 2, R)) for k in KINDS}
    after = {k: np.empty((K, 2, R)) for k in KINDS}
    anti = np.empty((st.anti_count.shape[0], 2 * K))
    aff = np.empty((st.aff_count.shape[0], 2 * K))
    for k, (u, t) in enumerate(ordered):
        s = int(st.cur[u])
        src[k] = s
        pair = [s, t]
        for kind in KINDS:
            before[kind][k] = st.n[kind][pair]
        anti[:, 2 * k:2 * k + 2] = st.anti_count[:, pair]
        aff[:, 2 * k:2 * k + 2] = st.aff_count[:, pair]
        st.apply(u, t)
        for kind in KINDS:
            after[kind][k] = st.n[kind][pair]
    vn = np.empty(2 * K, dtype=np.int64)
    vn[0::2], vn[1::2] = src, dst
    ix = np.ix_(mu, vn)
    pv = None
    if ua.prev_choice is not None:  # the previous choice in virtual node numbers (-2: neither node of the step)
        p, kk = ua.prev_choice[mu], np.arange(K)
        pv = np.where(p == -1, -1, np.where(p == dst, 2 * kk + 1, np.where(p == src, 2 * kk, -2)))
    va = dataclasses.replace(
        ua, node_names=[ua.node_names[j] for j in vn], vmids=ua.vmids[mu], names=[ua.names[i] for i in mu],
        types=[ua.types[i] for i in mu], placement=2 * np.arange(K), g={k: v[mu] for k, v in ua.g.items()},
        n={k: v.reshape(2 * K, R) for k, v in before.items()}, cap=ua.cap[vn], online=ua.online[vn],
        maintenance=ua.maintenance[vn], psi=ua.psi[vn], mem_hard=ua.mem_hard[mu], copy_bytes=ua.copy_bytes[mu],
        running=ua.running[mu], is_ct=ua.is_ct[mu], ct_running=ua.ct_running[mu], ha_managed=ua.ha_managed[mu],
        has_history=ua.has_history[mu], skip=ua.skip[mu], storage_ok=ua.storage_ok[ix],
        ha_allowed=ua.ha_allowed[ix], ha_outside=ua.ha_outside[ix], ha_steps=ua.ha_steps[ix], anti=ua.anti[mu],
        aff=ua.aff[mu], members=None, need_id=None, prev_choice=pv)
    vst = object.__new__(State)
    nall, n = stacked(va.n)
    vst.__dict__.update(a=va, nall=nall, n=n, _gcols={},
                        cur=va.placement.copy(), orig=va.placement.copy(),
                        anti_count=anti, aff_count=aff, aff_tot=st.aff_tot, cap_mean=st.cap_mean,
                        count_mean=st.count_mean)
    return Steps(View(vst, np.arange(K), np.arange(2 * K)), src, dst, before, after, st)


def cells(x: np.ndarray) -> np.ndarray:
    """``(K, 2)``: the (source, target) cells of each step from a ``(K, 2K)`` window array."""
    K = x.shape[0]
    k = np.arange(K)
    return np.stack([x[k, 2 * k], x[k, 2 * k + 1]], axis=1) if K else np.zeros((0, 2))


def peak_points(ua: ClusterArrays, cfg: PenaltyConfig, steps) -> np.ndarray:
    """``(K, 2)`` peak credit of each step: ``peak_weight`` x the utilisation (%, blended, max of CPU and
    memory) of the hotter live node of (source, target) above min(cpu_threshold, mem_threshold), before the
    step and after it (capped at before: a step is credited for lowering the pair's peak, never charged)."""
    K = len(steps.src)
    if not K:
        return np.zeros((0, 2))
    floor = min(cfg.cpu_threshold, cfg.mem_threshold)
    pair = np.stack([steps.src, steps.dst], 1)
    live = (ua.online & ~ua.maintenance)[pair]  # (K, 2)
    caps = ua.cap[pair][:, :, [CPU, MEM]]
    out = np.empty((K, 2))
    for i, w in enumerate(("before", "after")):
        u = (steps.__dict__[w]["blend"][:, :, [CPU, MEM]] / caps).max(axis=2) * 100.0
        out[:, i] = np.maximum(np.where(live, u, -np.inf).max(axis=1), floor) - floor
    out[:, 1] = np.minimum(out[:, 1], out[:, 0])
    return cfg.peak_weight * out


def _pair_credit(ua: ClusterArrays, cfg: PenaltyConfig, steps, k: int) -> float:
    """Peak credit of the swap at steps k, k + 1 (same two nodes): hotter node before k vs after k + 1."""
    floor = min(cfg.cpu_threshold, cfg.mem_threshold)
    nodes = [int(steps.src[k]), int(steps.dst[k])]
    live = (ua.online & ~ua.maintenance)[nodes]
    caps = ua.cap[nodes][:, [CPU, MEM]]

    def hot(load):
        u = (load[:, [CPU, MEM]] / caps).max(axis=1) * 100.0
        return max(float(np.where(live, u, -np.inf).max()), floor) - floor

    b = hot(steps.before["blend"][k])
    return cfg.peak_weight * (b - min(hot(steps.after["blend"][k + 1][::-1]), b))


def share_pairs(ua, cfg, steps, ordered, pairs, raw):
    """``(term -> (K,) gain, (K,) partner step or -1)``: each half of a swap carries half of the pair's
    gain per term (the peak term: half of the pair's credit, see :func:`_pair_credit`)."""
    K = len(ordered)
    tg = {k: x[:, 0] - x[:, 1] for k, x in raw.items()}
    mate = np.full(K, -1)
    for k in range(K - 1):
        if mate[k] < 0 and pairs.get(ordered[k][0]) == ordered[k + 1][0]:
            mate[k], mate[k + 1] = k + 1, k
            for name, g in tg.items():
                g[k] = g[k + 1] = 0.5 * (_pair_credit(ua, cfg, steps, k) if name == "peak" else g[k] + g[k + 1])
    return tg, mate


def valued_steps(ua: ClusterArrays, cfg: PenaltyConfig, sc, moves: list[tuple[int, int]], rounds: int = 8,
                 pairs: dict | None = None):
    """Order the moves (:func:`execution_order`), score every step at its turn, and drop the steps that gain
    nothing there (score gain + peak credit <= 0; maintenance evacuations are kept whatever they gain), then
    order again; a few rounds until every step pays. The halves of a swap (``pairs``) are valued as one
    (:func:`share_pairs`) and kept or dropped together.

    Returns (ordered, dropped by the order, worthless ``{unit: gain}``, steps, breakdown window, ``{term: (K, 2)}``
    with a ``peak`` entry, ``(K,)`` gains, ``{term: (K,)}`` reported gains, ``(K,)`` partner step or -1).
    """
    pairs = dict(pairs or {})
    worthless: dict[int, float] = {}
    deferred: set[int] = set()
    for _ in range(rounds):
        ordered, dropped = execution_order(ua, cfg, moves, pairs)
        steps = replay(ua, ordered)
        bdw = sc.breakdown(steps.view) if ordered else {}
        raw = {k: cells(x) for k, x in bdw.items()}  # term -> (K, 2) source / target points per step
        raw["peak"] = peak_points(ua, cfg, steps)
        tg, mate = share_pairs(ua, cfg, steps, ordered, pairs, raw)
        gains = sum(tg.values(), np.zeros(len(ordered)))
        bad = (gains <= 0) & ~ua.maintenance[steps.src] if ordered else np.zeros(0, dtype=bool)
        if not bad.any():
            break
        late = []  # a bad step is first deferred to the end (its chain may need other steps first), then dropped
        for k in np.flatnonzero(bad).tolist():
            u = ordered[k][0]
            if u in deferred:
                worthless[u] = float(gains[k])
            else:
                deferred.add(u)
                late.append(ordered[k])
        moves = [(u, t) for u, t in moves if u not in worthless and (u, t) not in late] + late
        pairs = {u: w for u, w in pairs.items() if u not in worthless and w not in worthless}
    return ordered, dropped, worthless, steps, bdw, raw, gains.tolist(), tg, mate
