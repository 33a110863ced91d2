"""Turn a search result into Recommendation records, skip reasons and the batch impact.

The moves are replayed in execution order; at each step the moving unit is scored on its source and its
target (one row, two columns), which gives its score improvement, per-term breakdown, suitability and the
predicted loads after the step.
"""

from __future__ import annotations

import dataclasses
import math
import time
from dataclasses import dataclass, field

import numpy as np

from .arrays import CPU, MEM, ClusterArrays
from .config import PenaltyConfig
from .planner import search
from .score import Scorer, suitability
from .state import State
from .steps import cells, valued_steps
from .terms.cost import GIB, migration_seconds
from .units import group_units

PRIORITY_RANK = {"critical": 3, "high": 2, "medium": 1, "low": 0}



@dataclass
class Recommendation:
    vmid: int
    name: str
    type: str  # "VM" | "CT"
    source_node: str
    target_node: str
    reason: str  # maintenance | anti-affinity | affinity | overload | companion | balance
    priority: str  # critical | high | medium | low
    score_improvement: float  # points the cluster total drops by (the whole unit's, on the lead)
    confidence_score: int  # 0-100
    risk_score: float  # 0-1
    suitability: float  # 0-100 of the target for this guest at its step
    predicted: dict  # source/target cpu % and mem % before and after the step
    migration: dict  # bytes, gib, seconds
    breakdown: dict  # term -> {"source", "target", "gain"}
    order: int  # 1-based execution order
    companion_of: int | None = None
    swap_with: int | None = None  # vmid of the other half of a swap (valued, kept and dropped as one)
    ha_managed: bool = False
    guest_type: str = "qemu"
    target_storage: dict | None = None  # {source storage: target storage} PVE's targetstorage; None = same storages

    def to_dict(self) -> dict:
        """Plain dict of every field (as ``dataclasses.asdict``; nested dicts copied, not shared)."""
        d = {f: getattr(self, f) for f in _REC_FIELDS}
        d["predicted"], d["migration"] = dict(self.predicted), dict(self.migration)
        d["breakdown"] = {k: dict(v) for k, v in self.breakdown.items()}
        if self.target_storage is not None:
            d["target_storage"] = dict(self.target_storage)
        return d


_REC_FIELDS = tuple(f.name for f in dataclasses.fields(Recommendation))


@dataclass
class Plan:
    recommendations: list[Recommendation]
    skipped: list[tuple[int, str, str]]  # (vmid, reason, detail)
    batch_impact: dict
    conflicts: list[dict]
    timing_ms: dict
    stats: dict = field(default_factory=dict)

    def to_dict(self) -> dict:
        reasons: dict[str, int] = {}
        for _, r, _ in self.skipped:
            reasons[r] = reasons.get(r, 0) + 1
        return {
            "recommendations": [r.to_dict() for r in self.recommendations],
            "skipped": [{"vmid": v, "reason": r, "detail": d} for v, r, d in self.skipped],
            "skip_reason_breakdown": reasons,
            "batch_impact": self.batch_impact,
            "conflicts": self.conflicts,
            "conflicts_count": len(self.conflicts),
            "timing_ms": self.timing_ms,
            "generation_time_ms": self.timing_ms.get("total", 0.0),
            "stats": self.stats,
        }


def _node_stats(st: State) -> dict:
    cpu = st.n["blend"][:, CPU] / st.a.cap[:, CPU] * 100
    mem = st.n["blend"][:, MEM] / st.a.cap[:, MEM] * 100
    live = st.a.online & ~st.a.maintenance
    live = live if live.any() else np.ones_like(live)
    mem_now = st.n["now"][:, MEM] / st.a.cap[:, MEM] * 100

    def r(x):
        return round(float(x), 2)

    return {
        "peak_pct": r(np.maximum(cpu, mem)[live].max()),
        "cpu_max_pct": r(cpu[live].max()), "cpu_mean_pct": r(cpu[live].mean()), "cpu_std_pct": r(cpu[live].std()),
        "mem_max_pct": r(mem[live].max()), "mem_mean_pct": r(mem[live].mean()), "mem_std_pct": r(mem[live].std()),
        "nodes": {n: {"cpu_pct": r(c), "mem_pct": r(m)} for n, c, m in zip(st.a.node_names, cpu, mem, strict=True)},
        "mem_now_max_pct": r(mem_now.max()),
    }


def _classify(ua, cfg, cpu: float, mem: float, s: int, gain: float, bd: dict) -> tuple[str, str]:
    over = max(cpu - cfg.cpu_threshold, mem - cfg.mem_threshold)
    if ua.maintenance[s]:
        return "maintenance", "critical"
    if bd.get("anti_affinity", {}).get("gain", 0) > 0:
        return "anti-affinity", "high"
    aff = bd.get("affinity", {}).get("gain", 0)
    if aff > 0 and aff > 0.5 * gain:
        return "affinity", "medium"
    if over > 0:
        off1 = min(cfg.cpu_threshold_offset_1, cfg.mem_threshold_offset_1)
        off2 = min(cfg.cpu_threshold_offset_2, cfg.mem_threshold_offset_2)
        return "overload", "critical" if over > off2 else "high" if over > off1 else "medium"
    return "balance", "medium" if gain >= 3 * cfg.min_score_improvement else "low"


def _previous(arrays: ClusterArrays, ua: ClusterArrays, unit_of: np.ndarray, previous) -> tuple:
    """(prev_choice (U,), warm moves [(unit, node)]) from the previous plan's ``(vmid, target_node)`` pairs."""
    choice = ua.placement.copy()
    node = {n: j for j, n in enumerate(ua.node_names)}
    row = {int(v): i for i, v in enumerate(arrays.vmids.tolist())}
    warm = []
    for vmid, target in previous:
        i, j = row.get(int(vmid)), node.get(target)
        if i is None or j is None:
            continue
        u = int(unit_of[i])
        if int(ua.vmids[u]) != int(vmid) or j == ua.placement[u]:
            continue  # companions follow their lead; a guest already on its target needs no move
        choice[u] = j
        warm.append((u, j))
    return choice, warm


def _stability(previous, recs) -> dict:
    prev = {(int(v), t) for v, t in previous}
    now = {(r.vmid, r.target_node) for r in recs}
    pv, nv = {v for v, _ in prev}, {v for v, _ in now}
    union = prev | now
    return {"previous_moves": len(prev), "kept": len(prev & now), "added": len(now - prev),
            "dropped": len(prev - now), "retargeted": len({v for v, _ in now - prev} & pv),
            "new_guests": len(nv - pv), "jaccard": round(len(prev & now) / len(union), 4) if union else 1.0}


def plan(arrays: ClusterArrays, cfg: PenaltyConfig, max_moves: int | None = None,
         previous: list[tuple[int, str]] | None = None) -> Plan:
    """Plan migrations. ``max_moves`` overrides ``cfg.max_moves`` (0 = unlimited).

    ``previous``: the previous run's moves as ``(vmid, target_node)`` pairs (None: no previous run). Its moves
    are re-applied first where they still pay, and the ``stability`` term charges ``stability_margin`` for any
    other choice, so a previous choice is replaced only when the new one is better by the margin.
    ``stats["stability"]`` reports moves kept / added / dropped and the Jaccard index of the two plans.
    """
    t0 = time.perf_counter()
    ua, unit_of = group_units(arrays)
    budget = cfg.max_moves if max_moves is None else int(max_moves)
    warm = None
    if previous is not None:
        previous = [(int(v), str(t)) for v, t in previous]
        choice, warm = _previous(arrays, ua, unit_of, previous)
        ua = dataclasses.replace(ua, prev_choice=choice)
    res = search(ua, cfg, budget, clock=time.perf_counter, warm=warm)
    t1 = time.perf_counter()
    moves = [(u, int(res.state.cur[u])) for u in res.order]
    sc = Scorer(cfg)
    ordered, dropped, worthless, steps, bdw, raw, gains, tg, mate = valued_steps(ua, cfg, sc, moves, pairs=res.pairs)
    t2 = time.perf_counter()

    before = _node_stats(State(ua))
    recs: list[Recommendation] = []
    total_gain = 0.0
    bd_all, gain_all, suit_all, pct = {}, {}, [], {}
    if ordered:
        v = steps.view
        bd_all = {k: np.round(x, 3).tolist() for k, x in raw.items()}
        gain_all = {k: np.round(x, 3).tolist() for k, x in tg.items()}
        step_all = {k: np.round(x[:, 0] - x[:, 1], 3).tolist() for k, x in raw.items()}
        suit_all = cells(suitability(v, bdw, np.ones(v.shape, dtype=bool)))[:, 1].tolist()  # steps are allowed
        caps = ua.cap[np.stack([steps.src, steps.dst], 1)]  # (K, 2, R)
        pct = {w: {kind: (x[:, :, res] / caps[:, :, res] * 100).tolist() for kind, res in (("cpu", CPU), ("mem", MEM))}
               for w, x in (("before", steps.before["blend"]), ("after", steps.after["blend"]))}
    for step, (u, t) in enumerate(ordered):
        s = int(steps.src[step])
        bd = {k: {"source": b[step][0], "target": b[step][1], "gain": gain_all[k][step]} for k, b in bd_all.items()}
        mate_vmid = int(ua.vmids[ordered[mate[step]][0]]) if mate[step] >= 0 else None
        if mate_vmid is not None:  # half of a swap: "gain" is this half's share, "step_gain" its own step
            for k in bd:
                bd[k].update(step_gain=step_all[k][step], share_of_pair=0.5)
        gain = gains[step]
        suit = float(suit_all[step])
        reason, prio = _classify(ua, cfg, pct["before"]["cpu"][step][0], pct["before"]["mem"][step][0], s, gain, bd)
        total_gain += gain
        pred = {}
        for w, suffix in (("before", "_before"), ("after", "")):
            for side, i in (("source", 0), ("target", 1)):
                for rk in ("cpu", "mem"):
                    pred[f"{side}_{rk}_pct{suffix}"] = round(pct[w][rk][step][i], 2)
        members = ua.members[u] if ua.members is not None else np.array([u])
        lead_vmid = int(ua.vmids[u])
        for gi in sorted(members, key=lambda i: arrays.vmids[i] != lead_vmid):
            b = float(arrays.copy_bytes[gi])
            secs = float(migration_seconds(b, cfg.migration_bandwidth))
            ct_run = bool(arrays.ct_running[gi])
            tgt_peak = max(pred["target_cpu_pct"], pred["target_mem_pct"]) / 100.0
            risk = min(1.0, 0.05 + 0.35 * min(1.0, secs / 600.0) + 0.25 * ct_run
                       + 0.35 * min(1.0, max(0.0, tgt_peak - 0.8) / 0.2))
            is_lead = int(arrays.vmids[gi]) == lead_vmid
            g_here = gain if is_lead else 0.0
            if reason == "maintenance":
                conf = 95.0
            else:  # a planned step gains > 0 (valued_steps): at least 1
                conf = 100.0 * (1.0 - math.exp(-max(gain, 0.0) / (2.0 * cfg.min_score_improvement + 10.0)))
                conf = max(1.0, conf * (1.0 if arrays.has_history[gi] else 0.85) * (1.0 - 0.5 * risk))
            recs.append(Recommendation(
                vmid=int(arrays.vmids[gi]), name=arrays.names[gi],
                type="CT" if arrays.types[gi] == "lxc" else "VM",
                source_node=ua.node_names[s], target_node=ua.node_names[t],
                reason=reason if is_lead else "companion", priority=prio,
                score_improvement=round(g_here, 3), confidence_score=int(round(max(0.0, min(100.0, conf)))),
                risk_score=round(risk, 2), suitability=round(suit, 1), predicted=pred,
                migration={"bytes": int(b), "gib": round(b / GIB, 3), "seconds": round(secs, 1)},
                breakdown=bd if is_lead else {}, order=len(recs) + 1,
                companion_of=None if is_lead else lead_vmid, swap_with=mate_vmid if is_lead else None,
                ha_managed=bool(arrays.ha_managed[gi]), guest_type=arrays.types[gi],
                target_storage=arrays.target_storage(int(gi), t),
            ))
    after = _node_stats(steps.final)

    moved_units = {u for u, _ in ordered}
    conflicts = [{"vmid": int(ua.vmids[u]), "target_node": ua.node_names[t], "type": "no_safe_order",
                  "detail": f"dropped: blocked by {', '.join(f) or 'filters'} at every step"} for u, t, f in dropped]
    skipped = _skipped(arrays, ua, unit_of, res, moved_units, {u for u, _, _ in dropped}, cfg, worthless)
    t3 = time.perf_counter()
    timing = {k: round(v, 2) for k, v in res.timing_ms.items()}
    timing.update({"order": round((t2 - t1) * 1e3, 2), "records": round((t3 - t2) * 1e3, 2),
                   "total": round((t3 - t0) * 1e3, 2)})
    impact = {"before": before, "after": after, "score_improvement": round(total_gain, 3),
              "moves": len(recs), "gib_moved": round(sum(r.migration["gib"] for r in recs), 3)}
    stats = {"guests": arrays.n_guests, "nodes": arrays.n_nodes, "units": ua.n_guests,
             "iterations": res.iterations, "evacuation_iterations": res.evac_iterations,
             "peak_steps": res.peak_steps, "swaps": res.swaps, "budget": budget,
             "stability": ({**_stability(previous, recs), "warm_started": res.warm_kept}
                           if previous is not None else None)}
    return Plan(recs, skipped, impact, conflicts, timing, stats)


def _skipped(arrays, ua, unit_of, res, moved_units, dropped_units, cfg, worthless) -> list[tuple[int, str, str]]:
    U = ua.n_guests
    moved = np.zeros(U, dtype=bool)
    moved[list(moved_units)] = True
    dropped = np.zeros(U, dtype=bool)
    dropped[list(dropped_units)] = True
    gain = res.best_gain.tolist()  # Python floats: formatted per skipped guest (same text as numpy's)
    ureason = np.where(ua.skip != "", "companion_not_movable",
                       np.where(dropped, "conflict",
                                np.where(~np.isfinite(res.best_val), "no_target_fits",
                                         np.where(res.budget_blocked, "max_moves_reached",
                                                  np.where(res.peak_blocked, "would_raise_peak",
                                                           "insufficient_improvement"))))).astype(object)
    reason = np.where(arrays.skip != "", arrays.skip, ureason[unit_of])
    keep = np.flatnonzero(~moved[unit_of])
    m = cfg.min_score_improvement
    detail = {
        "insufficient_improvement": lambda u: f"best move gains {gain[u]:.1f} points < min_score_improvement {m:g}",
        "max_moves_reached": lambda u: f"would gain {gain[u]:.1f} points but the move budget is spent",
        "no_target_fits": lambda u: "no other node passes the hard filters",
        "would_raise_peak": lambda u: f"would gain {gain[u]:.1f} points but push a node above the plan's peak "
                                      f"({100 * (res.peak_cap or 0):.1f} %)",
        "conflict": lambda u: "no execution order keeps every node within limits",
        "companion_not_movable": lambda u: f"affinity companion {int(ua.vmids[u])} is {ua.skip[u]}",
    }
    vm = arrays.vmids.tolist()
    uo = unit_of.tolist()
    rs = reason.tolist()
    worth = lambda u: (f"its planned step gains {worthless[u]:.1f} points at its turn in the execution order "  # noqa: E731
                       "(migration cost and peak credit included)")
    return [(vm[gi], rs[gi], worth(uo[gi]) if uo[gi] in worthless and rs[gi] == "insufficient_improvement"
             else detail[rs[gi]](uo[gi]) if rs[gi] in detail else f"{rs[gi]} guests are never moved")
            for gi in keep.tolist()]
