"""Faults on demand: the same actions from the admin API and from a scenario's ``[[faults]]`` table.

Actions (parameters): ``node_offline`` / ``node_online`` (node), ``maintenance`` (node, enable),
``quorum_loss`` / ``quorum_restore``, ``api_fault`` (prefix, node, latency_ms, error_rate, status,
message, drop), ``api_clear``, ``fail_migration`` (vmid, count), ``spike`` (vmid, cpu, duration),
``time_jump`` (seconds).
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

ACTIONS = ("node_offline", "node_online", "maintenance", "quorum_loss", "quorum_restore", "api_fault",
           "api_clear", "fail_migration", "spike", "time_jump")


class FaultError(ValueError):
    pass


@dataclass
class ApiFault:
    prefix: str = ""  # path under /api2/json this applies to ("" = every path)
    node: str | None = None  # only /nodes/{node}/... paths
    latency_ms: float = 0.0
    error_rate: float = 0.0
    status: int = 500
    message: str = "simulated failure"
    # "" answers ``status``; "before": the connection is closed without an answer and nothing is done;
    # "after": the call takes effect, then the connection is closed before the answer (the answer is lost)
    drop: str = ""

    def applies(self, path: str) -> bool:
        if self.node and not (path == f"/nodes/{self.node}" or path.startswith(f"/nodes/{self.node}/")):
            return False
        return path.startswith(self.prefix)


@dataclass
class Faults:
    seed: int = 0
    api: list[ApiFault] = field(default_factory=list)
    quorum_lost: bool = False

    def __post_init__(self):
        self.rng = random.Random(self.seed)

    def for_path(self, path: str) -> tuple[float, ApiFault | None]:
        """(seconds of latency to add, the fault to answer with or None) for one API call."""
        latency, err = 0.0, None
        for f in self.api:
            if f.applies(path):
                latency += f.latency_ms / 1000.0
                if err is None and f.error_rate > 0 and self.rng.random() < f.error_rate:
                    err = f
        return latency, err


def _bool(v) -> bool:
    return str(v).lower() in ("1", "true", "yes", "on")


def apply(sim, action: str, params: dict, at: float) -> dict:
    """Apply one fault at sim time ``at``; returns a short description of the new state."""
    c = sim.cluster
    with c.lock:
        if action in ("node_offline", "node_online", "maintenance"):
            n = c.node(str(params.get("node", "")))
            if n is None:
                raise FaultError(f"no such node '{params.get('node')}'")
            if action == "maintenance":
                sim.ha.set_maintenance(n.name, _bool(params.get("enable", True)), at)
                return {"node": n.name, "maintenance": int(n.maintenance)}
            was, n.online = n.online, action == "node_online"
            if was != n.online:
                (sim.ha.node_online if n.online else sim.ha.node_offline)(n.name, at)
            _quorum(sim)
            c.touch()
            return {"node": n.name, "online": int(n.online), "quorate": int(c.quorate)}
        if action in ("quorum_loss", "quorum_restore"):
            sim.faults.quorum_lost = action == "quorum_loss"
            _quorum(sim)
            return {"quorate": int(c.quorate)}
        if action == "api_fault":
            f = ApiFault(prefix=str(params.get("prefix", "")), node=params.get("node"),
                         latency_ms=float(params.get("latency_ms", 0)), error_rate=float(params.get("error_rate", 0)),
                         status=int(params.get("status", 500)), message=str(params.get("message", "simulated failure")),
                         drop=str(params.get("drop", "") or ""))
            if f.drop not in ("", "before", "after"):
                raise FaultError(f"drop must be 'before' or 'after', not '{f.drop}'")
            sim.faults.api.append(f)
            return {"api_faults": len(sim.faults.api)}
        if action == "api_clear":
            sim.faults.api.clear()
            return {"api_faults": 0}
        if action in ("fail_migration", "spike"):
            g = c.guest(int(params.get("vmid", 0)))
            if g is None:
                raise FaultError(f"no such guest '{params.get('vmid')}'")
            if action == "fail_migration":
                c.fail_migrations[g.vmid] = c.fail_migrations.get(g.vmid, 0) + int(params.get("count", 1))
                return {"vmid": g.vmid, "failing": c.fail_migrations[g.vmid]}
            dur = float(params.get("duration", 3600))
            c.spikes.append((c.guest_index[g.vmid], at, at + dur, float(params.get("cpu", 1.0))))
            c.touch()
            return {"vmid": g.vmid, "until": int(at + dur)}
        if action == "time_jump":
            secs = float(params.get("seconds", 0))
            if secs < 0:
                raise FaultError("seconds must be >= 0")
            c.advance(secs)
            return {"time": int(c.now())}
    raise FaultError(f"unknown action '{action}' (one of {', '.join(ACTIONS)})")


def _quorum(sim) -> None:
    c = sim.cluster
    online = sum(n.online for n in c.nodes)
    c.quorate = (not sim.faults.quorum_lost) and online * 2 > len(c.nodes)
    c.touch()
