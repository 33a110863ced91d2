"""Evaluate the enabled terms of a config: total ``(n_guests, n_nodes)`` points, filters, breakdown.

``score[g, n]`` is what guest g costs the cluster if it runs on node n (node-state terms are charged on
the node's load *with* g on it minus *without* it, see :class:`~proxbalance.engine.state.View`), so
``score[g, src] - score[g, n]`` is the drop of the cluster total when g moves from src to n.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from ..errors import NotFoundError, ValidationError
from .arrays import CPU, MEM, ClusterArrays
from .config import PenaltyConfig
from .curves import Packed, evaluate, pack
from .state import State, View
from .terms import REGISTRY, filters, is_zero, penalties

# terms left out of the 0-100 suitability (relative, not "how good is this node")
NOT_IN_SUITABILITY = ("balance", "migration_cost")


class Scorer:
    """The enabled terms of a config with their weights and validated args."""

    def __init__(self, cfg: PenaltyConfig):
        unknown = [t for t in cfg.terms if t not in REGISTRY]
        if unknown:
            raise ValidationError(f"unknown terms {unknown}", details={"key": "terms"})
        self.penalties = [(t, float(cfg.terms[t.name]), t.args(cfg)) for t in penalties()
                          if cfg.terms.get(t.name, 0.0) > 0]
        self.filters = [(t, t.args(cfg)) for t in filters()]
        self.family = {t.name: t.family for t, _, _ in self.penalties}
        self._dynamic: dict[int, tuple] = {}  # id(arrays) -> (arrays, segments of dynamic terms)

    def _segments(self, state: State) -> list:
        """The enabled dynamic terms in order, each run of curve terms packed into one :class:`curves.Packed`
        (evaluated in one kernel call), the others as ``(term, weight, args)``; once per arrays."""
        hit = self._dynamic.get(id(state.a))
        if hit is not None and hit[0] is state.a:
            return hit[1]
        segs, run = [], []
        for t, w, a in self.penalties:
            if not t.dynamic:
                continue
            cs = t.curves(a, state) if t.curves is not None else None
            if cs is not None:
                run.append((w, cs))
                continue
            if run:
                segs.append(pack(run, state.a.n_nodes))
                run = []
            segs.append((t, w, a))
        if run:
            segs.append(pack(run, state.a.n_nodes))
        segs = [x for x in segs if not isinstance(x, Packed) or len(x.sub_i)]
        self._dynamic[id(state.a)] = (state.a, segs)
        return segs

    def breakdown(self, v: View, dynamic: bool | None = None) -> dict[str, np.ndarray]:
        """Weighted points per enabled penalty term, each ``(m, c)``."""
        return {t.name: w * t.fn(v, a) for t, w, a in self.penalties if dynamic is None or t.dynamic == dynamic}

    def total(self, v: View, dynamic: bool | None = None) -> np.ndarray:
        """``(m, c)`` weighted sum of the enabled terms (only the dynamic or static ones if ``dynamic`` is set)."""
        out = np.zeros(v.shape)
        if dynamic:  # the planner's hot path: runs of curve terms in one kernel call each, same sums
            for seg in self._segments(v.state):
                if isinstance(seg, Packed):
                    evaluate(v, seg, out)
                    continue
                t, w, a = seg
                x = t.fn(v, a)
                if not is_zero(x):
                    out += x if w == 1.0 else w * x
            return out
        for t, w, a in self.penalties:
            if dynamic is None or t.dynamic == dynamic:
                x = t.fn(v, a)
                if not is_zero(x):
                    out += x if w == 1.0 else w * x
        return out

    def allowed(self, v: View, dynamic: bool | None = None) -> np.ndarray:
        """``(m, c)`` True where every filter passes. A row's own node passes while it is live (staying is
        possible); a node in maintenance or offline never passes, not even for its own guests (so a guest
        that left it can never be sent back)."""
        ok = np.ones(v.shape, dtype=bool)
        for t, a in self.filters:
            if dynamic is None or t.dynamic == dynamic:
                ok &= t.fn(v, a)
        return ok | self.stays(v)

    @staticmethod
    def stays(v: View) -> np.ndarray:
        """``(m, c)`` the row's own node, where that node is live (online, reachable, not in maintenance)."""
        live = v.a.online[v.cols] & ~v.a.maintenance[v.cols]
        return v.on & live[None, :]

    def failing(self, v: View) -> dict[str, np.ndarray]:
        """Per filter, ``(m, c)`` True where it blocks."""
        stay = self.stays(v)
        return {t.name: ~t.fn(v, a) & ~stay for t, a in self.filters}


def score_matrix(arrays: ClusterArrays, cfg: PenaltyConfig) -> tuple[np.ndarray, np.ndarray, dict]:
    """Full ``(G, N)`` total, allowed mask and per-term breakdown for the arrays as they are."""
    st = State(arrays)
    v = View(st, np.arange(arrays.n_guests), np.arange(arrays.n_nodes))
    sc = Scorer(cfg)
    bd = sc.breakdown(v)
    total = np.zeros(v.shape)
    for x in bd.values():
        total += x
    return total, sc.allowed(v), bd


def suitability(v: View, breakdown: dict[str, np.ndarray], allowed: np.ndarray) -> np.ndarray:
    """0-100, higher is better: 100 - max(CPU %, memory %) of the node with the guest (blended)
    - the guest's penalty points on it (all terms but balance and migration cost); 0 where filtered."""
    peak = np.maximum(v.util_added("blend", CPU), v.util_added("blend", MEM)) * 100.0
    own = v.on
    if own.any():  # on its own node the guest is already counted in the load
        i, j = v.on_i, v.on_j
        peak[i, j] = np.maximum(v.load("blend", CPU)[j] / v.cap(CPU)[j], v.load("blend", MEM)[j] / v.cap(MEM)[j]) * 100
    pen = sum((x for k, x in breakdown.items() if k not in NOT_IN_SUITABILITY), np.zeros(v.shape))
    return np.where(allowed, np.clip(100.0 - peak - pen, 0.0, 100.0), 0.0)


def with_hypothetical(arrays: ClusterArrays, cpu_cores: float, mem_bytes: float, maxmem_bytes: float | None = None,
                      vmid: int = -1) -> ClusterArrays:
    """Arrays plus one guest that is on no node (placement -1, counted nowhere)."""
    if cpu_cores < 0 or mem_bytes < 0:
        raise ValidationError("hypothetical cpu_cores and mem_bytes must be >= 0", details={"key": "hypothetical"})
    maxmem = float(maxmem_bytes if maxmem_bytes is not None else mem_bytes)
    row = np.zeros(arrays.g["now"].shape[1])
    row[0], row[1], row[4], row[5] = cpu_cores, mem_bytes, maxmem, 1.0
    g = {k: np.vstack([v, row if k != "slope" else np.zeros_like(row)]) for k, v in arrays.g.items()}

    def add(x, val):
        return np.concatenate([x, np.array([val], dtype=x.dtype)])

    def addrow(x, val):
        return np.vstack([x, np.full((1,) + x.shape[1:], val, dtype=x.dtype)])

    return dataclasses.replace(
        arrays, vmids=add(arrays.vmids, vmid), names=arrays.names + ["(hypothetical)"],
        types=arrays.types + ["qemu"], placement=add(arrays.placement, -1), g=g,
        mem_hard=add(arrays.mem_hard, mem_bytes), copy_bytes=add(arrays.copy_bytes, mem_bytes),
        running=add(arrays.running, True), is_ct=add(arrays.is_ct, False), ct_running=add(arrays.ct_running, 0.0),
        ha_managed=add(arrays.ha_managed, False), has_history=add(arrays.has_history, False),
        skip=add(arrays.skip, ""), storage_ok=addrow(arrays.storage_ok, True),
        ha_allowed=addrow(arrays.ha_allowed, True), ha_outside=addrow(arrays.ha_outside, False),
        ha_steps=addrow(arrays.ha_steps, 0.0), anti=addrow(arrays.anti, 0.0), aff=addrow(arrays.aff, 0.0),
        members=None, need_id=None, prev_choice=None,
    )


def score_guest(arrays: ClusterArrays, cfg: PenaltyConfig, vmid: int | None = None,
                hypothetical: dict | None = None) -> dict:
    """Score one guest (or a hypothetical size) on every node: JSON-ready dict.

    ``hypothetical`` = ``{"cpu_cores": float, "mem_bytes": int, "maxmem_bytes"?: int}``.
    Each node entry: ``node, score, suitability, allowed, filtered_by, improvement`` (points gained vs the
    current node), ``predicted_cpu_pct, predicted_mem_pct, current, breakdown``. Sorted best first.
    """
    if hypothetical is not None:
        extra = set(hypothetical) - {"cpu_cores", "mem_bytes", "maxmem_bytes"}
        if extra or "cpu_cores" not in hypothetical or "mem_bytes" not in hypothetical:
            raise ValidationError("hypothetical needs cpu_cores and mem_bytes only", details={"key": "hypothetical"})
        arrays = with_hypothetical(arrays, float(hypothetical["cpu_cores"]), float(hypothetical["mem_bytes"]),
                                   hypothetical.get("maxmem_bytes"), vmid if vmid is not None else -1)
        row = arrays.n_guests - 1
    else:
        try:
            row = arrays.index_of(int(vmid))
        except (KeyError, TypeError, ValueError):
            raise NotFoundError(f"guest {vmid} not found", details={"vmid": vmid}) from None
    st, sc = State(arrays), Scorer(cfg)
    v = View(st, np.array([row]), np.arange(arrays.n_nodes))
    bd = sc.breakdown(v)
    total = sum(bd.values(), np.zeros(v.shape))[0]
    allowed = sc.allowed(v)
    fails = sc.failing(v)
    suit = suitability(v, bd, allowed)[0]
    src = int(st.cur[row])
    here = total[src] if src >= 0 else np.nan
    pcpu = v.util_added("blend", CPU)[0] * 100.0
    pmem = v.util_added("blend", MEM)[0] * 100.0
    if src >= 0:
        pcpu[src] = v.load("blend", CPU)[src] / v.cap(CPU)[src] * 100
        pmem[src] = v.load("blend", MEM)[src] / v.cap(MEM)[src] * 100
    nodes = []
    for j, name in enumerate(arrays.node_names):
        nodes.append({
            "node": name,
            "score": round(float(total[j]), 3),
            "suitability": round(float(suit[j]), 1),
            "allowed": bool(allowed[0, j]),
            "filtered_by": [k for k, f in fails.items() if f[0, j]],
            "improvement": None if src < 0 else round(float(here - total[j]), 3),
            "predicted_cpu_pct": round(float(pcpu[j]), 2),
            "predicted_mem_pct": round(float(pmem[j]), 2),
            "current": j == src,
            "breakdown": {k: round(float(x[0, j]), 3) for k, x in bd.items()},
        })
    nodes.sort(key=lambda e: (not e["allowed"], e["score"]))
    best = next((e["node"] for e in nodes if e["allowed"] and not e["current"]), None)
    return {
        "vmid": int(arrays.vmids[row]) if hypothetical is None else vmid,
        "name": arrays.names[row],
        "current_node": arrays.node_names[src] if src >= 0 else None,
        "hypothetical": hypothetical is not None,
        "best_node": best,
        "nodes": nodes,
    }
