"""The admin/fault API (under ``/admin``, not ``/api2/json``), same auth as the PVE API.

GET  /admin/state                      sim time, speed, scenario, faults
POST /admin/advance        seconds     move sim time forward (stepped mode, or a jump in speed mode)
POST /admin/fault          action=...  any action of :mod:`proxbalance.sim.faults` with its parameters
POST /admin/nodes/{node}/offline | online | maintenance (enable=1|0)
POST /admin/quorum         quorate=0|1
POST /admin/api-faults     prefix, node, latency_ms, error_rate, status, message;  DELETE clears them
POST /admin/guests/{vmid}/fail-migration  count;  POST /admin/guests/{vmid}/spike  cpu, duration
"""

from __future__ import annotations

from proxbalance.sim import faults

ADMIN: list[tuple[str, str]] = [
    ("GET", "/admin/state"), ("POST", "/admin/advance"), ("POST", "/admin/fault"),
    ("POST", "/admin/nodes/{node}/offline"), ("POST", "/admin/nodes/{node}/online"),
    ("POST", "/admin/nodes/{node}/maintenance"), ("POST", "/admin/quorum"), ("POST", "/admin/api-faults"),
    ("DELETE", "/admin/api-faults"), ("POST", "/admin/guests/{vmid}/fail-migration"),
    ("POST", "/admin/guests/{vmid}/spike"),
]


def handle(sim, method: str, path: str, params: dict) -> tuple[int, object]:
    """(HTTP status, data) for one admin call."""
    parts = path.strip("/").split("/")
    c = sim.cluster
    try:
        if method == "GET" and path == "/admin/state":
            return 200, sim.state()
        if method == "POST" and path == "/admin/advance":
            secs = float(params.get("seconds", 0))
            if secs < 0:
                return 400, {"error": "seconds must be >= 0"}
            c.advance(secs)
            return 200, sim.state()
        now = c.sync()
        if method == "POST" and path == "/admin/fault":
            return 200, faults.apply(sim, str(params.get("action", "")), params, now)
        if len(parts) == 4 and parts[1] == "nodes" and method == "POST":
            action = {"offline": "node_offline", "online": "node_online", "maintenance": "maintenance"}.get(parts[3])
            if action:
                return 200, faults.apply(sim, action, {**params, "node": parts[2]}, now)
        if path == "/admin/quorum" and method == "POST":
            ok = str(params.get("quorate", "1")).lower() in ("1", "true", "yes")
            return 200, faults.apply(sim, "quorum_restore" if ok else "quorum_loss", params, now)
        if path == "/admin/api-faults":
            return 200, faults.apply(sim, "api_fault" if method == "POST" else "api_clear", params, now)
        if len(parts) == 4 and parts[1] == "guests" and method == "POST":
            action = {"fail-migration": "fail_migration", "spike": "spike"}.get(parts[3])
            if action:
                return 200, faults.apply(sim, action, {**params, "vmid": parts[2]}, now)
    except (faults.FaultError, ValueError) as exc:
        return 400, {"error": str(exc)}
    return 404, {"error": f"no admin endpoint {method} {path}"}
