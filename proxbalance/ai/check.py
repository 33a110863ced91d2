"""The engine judges the AI: every suggested move is checked, scored and compared with the engine's plan.

Moves are taken in the AI's order on one evolving planning state (engine ``State``), so two moves that
each fit but together overfill a node are caught. A move is dropped, with its reason, when:
``unknown_vmid`` (not in the newest snapshot), ``duplicate``, ``wrong_source`` (the guest runs elsewhere),
``unknown_node``, ``same_node``, or a failed validation check.

Validation: :class:`EngineValidator` always runs — the engine's hard filters (``guest_movable``,
``target_online`` (offline / maintenance), ``ha_strict``, ``mem_limit``, ``cpu_limit``) plus what Proxmox
would refuse or the user forbade that the engine scores as a penalty: a disk's storage missing on the
target, and a strict anti-affinity conflict (an ``exclude_*`` tag / negative HA rule mate already on the
target), all on the evolving state. :class:`ExecutorValidator` adds the executor's ``validate_move`` on one
live read of PVE (staleness, guest state, resources, storage, locks, affinity, quorum, target, devices);
its checks come first, the engine's follow with an ``engine:`` prefix.

Each kept move carries the engine's score of it on the state at its turn (``score_improvement`` points,
positive = the cluster total drops; the per-term breakdown; the predicted CPU/memory % of source and target)
and how it compares with the engine's plan (``same_as_engine``, ``engine_moves_elsewhere``,
``engine_does_not_move`` with the engine's skip reason).
"""

from __future__ import annotations

import numpy as np

from proxbalance.engine.arrays import CPU, MEM, ClusterArrays
from proxbalance.engine.config import PenaltyConfig
from proxbalance.engine.score import Scorer
from proxbalance.engine.state import State, View
from proxbalance.model import ClusterSnapshot

FILTER_TEXT = {
    "guest_movable": "the guest may not be moved ({skip})",
    "target_online": "{target} is offline, unreachable or in maintenance",
    "ha_strict": "a strict HA node-affinity rule does not list {target}",
    "mem_limit": "{target} would go above the memory limit ({limit:g} % of its memory)",
    "cpu_limit": "{target} would go above the CPU limit",
}


class EngineValidator:
    """The engine's hard filters and strict placement rules on an evolving :class:`State`."""

    source = "engine"

    def __init__(self, arrays: ClusterArrays, cfg: PenaltyConfig):
        self.a, self.cfg = arrays, cfg
        self.st = State(arrays)
        self.sc = Scorer(cfg)

    def checks(self, row: int, j: int) -> list[dict]:
        a, st = self.a, self.st
        v = View(st, np.array([row]), np.arange(a.n_nodes))
        target = a.node_names[j]
        out = []
        for name, fail in self.sc.failing(v).items():
            bad = bool(fail[0, j])
            detail = FILTER_TEXT.get(name, name).format(skip=a.skip[row] or "-", target=target,
                                                        limit=self.cfg.mem_limit_pct)
            out.append({"name": name, "passed": not bad, "detail": detail if bad else "ok"})
        storage_ok = bool(a.storage_ok[row, j])
        out.append({"name": "storage", "passed": storage_ok,
                    "detail": "ok" if storage_ok else f"{target} lacks a storage that holds one of its disks"})
        out.append(self._anti(row, j))
        return out

    def _anti(self, row: int, j: int) -> dict:
        a, st = self.a, self.st
        mine = np.flatnonzero(a.anti[row] > 0) if a.anti.shape[1] else np.array([], dtype=int)
        if not len(mine) or not (st.anti_count[mine, j] > 0).any():
            return {"name": "anti_affinity", "passed": True, "detail": "ok"}
        mates = np.flatnonzero((a.anti[:, mine] > 0).any(axis=1) & (st.cur == j))
        mates = [int(a.vmids[i]) for i in mates.tolist() if i != row]
        groups = [a.anti_groups[k].split(":", 1)[-1] for k in mine.tolist() if st.anti_count[k, j] > 0]
        return {"name": "anti_affinity", "passed": False,
                "detail": f"{a.node_names[j]} already runs {', '.join(map(str, mates))} of anti-affinity "
                          f"group {', '.join(groups)}"}

    def score(self, row: int, j: int) -> dict:
        """Engine's view of moving ``row`` to node ``j`` now: gain, breakdown and predicted loads."""
        a, st = self.a, self.st
        s = int(st.cur[row])
        cols = np.array([s, j])
        v = View(st, np.array([row]), cols)
        bd = self.sc.breakdown(v)
        total = sum(bd.values(), np.zeros(v.shape))[0]
        gain = float(total[0] - total[1])
        pct = {}
        for rk, r in (("cpu", CPU), ("mem", MEM)):
            load, cap, d = st.n["blend"][cols, r], a.cap[cols, r], a.g["blend"][row, r]
            pct[f"source_{rk}_pct_before"] = round(float(load[0] / cap[0] * 100), 2)
            pct[f"source_{rk}_pct"] = round(float((load[0] - d) / cap[0] * 100), 2)
            pct[f"target_{rk}_pct_before"] = round(float(load[1] / cap[1] * 100), 2)
            pct[f"target_{rk}_pct"] = round(float((load[1] + d) / cap[1] * 100), 2)
        breakdown = {k: round(float(x[0, 0] - x[0, 1]), 3) for k, x in bd.items() if abs(x[0, 0] - x[0, 1]) > 1e-9}
        return {"score_improvement": round(gain, 3), "breakdown": breakdown, "predicted": pct}

    def apply(self, row: int, j: int) -> None:
        self.st.apply(row, j)


class ExecutorValidator:
    """The executor's live ``validate_move`` on one ``LiveView`` read (``live``) for all moves, plus the engine's
    checks on the evolving state."""

    source = "executor"

    def __init__(self, ctx, live, engine: EngineValidator):
        self.ctx, self.live, self.engine = ctx, live, engine

    def checks(self, row: int, j: int) -> list[dict]:
        from proxbalance.errors import NotFoundError
        from proxbalance.executor.validate import validate_move

        a = self.engine.a
        vmid, target = int(a.vmids[row]), a.node_names[j]
        source = a.node_names[int(self.engine.st.cur[row])]
        try:
            v = validate_move(self.ctx, vmid, target, source_node=source, live=self.live)
            out = [c.to_dict() for c in v.checks]
        except NotFoundError as exc:
            out = [{"name": "exists", "passed": False, "detail": exc.message}]
        return out + [{**c, "name": f"engine:{c['name']}"} for c in self.engine.checks(row, j)]

    def apply(self, row: int, j: int) -> None:
        pass  # the engine's state is the one that evolves (check_moves applies it)


def _compare(vmid: int, target: str, engine_moves: dict[int, dict], engine_skips: dict[int, dict]) -> dict:
    mine = engine_moves.get(vmid)
    if mine is not None:
        if mine["target_node"] == target:
            return {"comparison": "same_as_engine", "engine_target": target}
        return {"comparison": "engine_moves_elsewhere", "engine_target": mine["target_node"],
                "engine_score_improvement": mine.get("score_improvement")}
    skip = engine_skips.get(vmid, {})
    return {"comparison": "engine_does_not_move", "engine_target": None, "engine_reason": skip.get("reason"),
            "engine_detail": skip.get("detail")}


def check_moves(snapshot: ClusterSnapshot, arrays: ClusterArrays, cfg: PenaltyConfig, moves: list[dict],
                plan: dict, validator=None) -> tuple[list[dict], list[dict]]:
    """(kept, dropped) for the AI's parsed moves (see :mod:`proxbalance.ai.answer`), in the AI's order.

    ``validator``: None (engine only) or a factory ``engine_validator -> validator`` such as
    ``lambda e: ExecutorValidator(ctx, live, e)``."""
    engine = EngineValidator(arrays, cfg)
    val = validator(engine) if validator is not None else engine  # scoring is always the engine's
    row_of = {int(v): i for i, v in enumerate(arrays.vmids.tolist())}
    col_of = {n: j for j, n in enumerate(arrays.node_names)}
    engine_moves = {r["vmid"]: r for r in plan.get("recommendations", [])}
    engine_skips = {s["vmid"]: s for s in plan.get("skipped", [])}
    kept, dropped, seen = [], [], set()

    def drop(move: dict, reason: str, detail: str, checks: list | None = None) -> None:
        dropped.append({"vmid": move["vmid"], "source_node": move.get("source_node"),
                        "target_node": move["target_node"], "reason": reason, "detail": detail,
                        **({"checks": checks} if checks else {}), "ai_reasoning": move.get("reasoning", "")})

    for m in moves:
        vmid, target = m["vmid"], m["target_node"]
        row = row_of.get(vmid)
        if row is None or snapshot.guest(vmid) is None:
            drop(m, "unknown_vmid", f"guest {vmid} is not in the newest snapshot")
            continue
        if vmid in seen:
            drop(m, "duplicate", f"guest {vmid} was already suggested")
            continue
        seen.add(vmid)
        actual = arrays.node_names[int(engine.st.cur[row])]
        if m.get("source_node") and m["source_node"] != actual:
            drop(m, "wrong_source", f"guest {vmid} runs on {actual}, not {m['source_node']}")
            continue
        j = col_of.get(target)
        if j is None:
            drop(m, "unknown_node", f"node {target!r} is not in the cluster")
            continue
        if target == actual:
            drop(m, "same_node", f"guest {vmid} already runs on {target}")
            continue
        checks = val.checks(row, j)
        failed = [c for c in checks if not c["passed"]]
        if failed:
            drop(m, failed[0]["name"], "; ".join(c["detail"] for c in failed), checks)
            continue
        verdict = engine.score(row, j)
        gain = verdict["score_improvement"]
        verdict["verdict"] = "improves" if gain > 1e-6 else "worsens" if gain < -1e-6 else "neutral"
        warnings = []
        if verdict["breakdown"].get("affinity", 0) < 0:
            warnings.append("splits an affinity group (the engine moves affinity groups together)")
        engine.apply(row, j)
        if val is not engine:
            val.apply(row, j)
        g = snapshot.guest(vmid)
        kept.append({
            "vmid": vmid, "name": g.name, "source_node": actual, "target_node": target,
            "type": "CT" if g.type == "lxc" else "VM", "priority": m["priority"], "reasoning": m["reasoning"],
            "risk_score": m["risk_score"] if m["risk_score"] is not None else 0.5,
            "estimated_impact": m["estimated_impact"], "best_time": m["best_time"],
            "validation": {"passed": True, "source": val.source, "checks": checks},
            "engine": {**verdict, **_compare(vmid, target, engine_moves, engine_skips)},
            "warnings": warnings,
        })
    return kept, dropped
