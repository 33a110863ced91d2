"""Shape snapshots into the JSON answers of routes_cluster. Pure functions: model objects in, dicts out.

Percentages appear only here (API edge). Guest ``type`` is PVE's ``qemu``/``lxc``; ``kind`` is ``VM``/``CT``
(the affinity-groups answer uses ``type: VM|CT`` as the API contract shows).
"""

from __future__ import annotations

from dataclasses import asdict
from datetime import UTC, datetime
from typing import Any

from proxbalance.model import ClusterSnapshot, Guest, Node, Storage

PIN_TAGS = {"pinned", "pin"}


def iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat().replace("+00:00", "Z")


def _pct(part: float, whole: float) -> float:
    return round(100.0 * part / whole, 2) if whole else 0.0


def node_status(n: Node) -> str:
    if not n.online:
        return "offline"
    if not n.reachable:
        return "unreachable"
    return "maintenance" if n.maintenance else "online"


def node_dict(n: Node, snap: ClusterSnapshot) -> dict[str, Any]:
    guests = [g.vmid for g in snap.guests if g.node == n.name]
    return {**asdict(n), "status": node_status(n), "cpu_percent": round(n.cpu * 100, 2),
            "cpu_cores_used": round(n.cpu * n.maxcpu, 3), "mem_percent": _pct(n.mem, n.maxmem),
            "guest_count": len(guests), "guests": guests}


def guest_dict(g: Guest) -> dict[str, Any]:
    data = asdict(g)
    data["tags"] = list(g.tags)
    data["disks"] = [asdict(d) for d in g.disks]
    return {**data, "kind": "VM" if g.type == "qemu" else "CT", "sid": g.sid,
            "cpu_percent": round(g.cpu * 100, 2), "cpu_cores_used": round(g.cpu * g.maxcpu, 3),
            "mem_percent": _pct(g.mem, g.maxmem), "local_disk_bytes": g.local_disk_bytes}


def storage_dict(s: Storage) -> dict[str, Any]:
    return {**asdict(s), "content": list(s.content), "avail": max(0, s.total - s.used),
            "used_percent": _pct(s.used, s.total)}


def summary(snap: ClusterSnapshot) -> dict[str, Any]:
    online = [n for n in snap.nodes if n.online and n.reachable]
    cores = sum(n.maxcpu for n in online)
    used = sum(n.cpu * n.maxcpu for n in online)
    mem_total = sum(n.maxmem for n in online)
    mem_used = sum(n.mem for n in online)
    running = [g for g in snap.guests if g.status == "running"]
    return {
        "cluster_name": snap.cluster_name, "quorate": snap.quorate,
        "node_count": len(snap.nodes), "online_nodes": len(online),
        "offline_nodes": [n.name for n in snap.nodes if not n.online],
        "unreachable_nodes": [n.name for n in snap.nodes if n.online and not n.reachable],
        "maintenance_nodes": [n.name for n in snap.nodes if n.maintenance],
        "guest_count": len(snap.guests), "running_guests": len(running),
        "vm_count": sum(g.type == "qemu" for g in snap.guests), "ct_count": sum(g.type == "lxc" for g in snap.guests),
        "ha_managed": sum(g.ha_managed for g in snap.guests),
        "cpu_cores": cores, "cpu_cores_used": round(used, 3), "cpu_percent": _pct(used, cores),
        "mem_total": mem_total, "mem_used": mem_used, "mem_percent": _pct(mem_used, mem_total),
        "errors": list(snap.errors),
    }


def meta(snap: ClusterSnapshot, age: float | None) -> dict[str, Any]:
    return {"collected_at": iso(snap.time), "timestamp": snap.time,
            "age_seconds": round(age, 1) if age is not None else None, "collection_duration": round(snap.duration, 3)}


def guest_tags(g: Guest) -> dict[str, Any]:
    low = [t.lower() for t in g.tags]
    return {"vmid": g.vmid, "tags": list(g.tags), "ignored": "ignore" in low, "pinned": bool(PIN_TAGS & set(low)),
            "affinity_groups": [t for t in low if t.startswith("affinity_") and len(t) > 9],
            "anti_affinity_groups": [t for t in low if t.startswith("exclude_") and len(t) > 8]}


def affinity_groups(snap: ClusterSnapshot) -> dict[str, Any]:
    """Groups from ``affinity_*`` tags and positive HA resource-affinity rules, with split detection."""
    groups: dict[str, tuple[str, list[Guest]]] = {}
    for g in snap.guests:
        for t in {t.lower() for t in g.tags}:
            if t.startswith("affinity_") and len(t) > 9:
                groups.setdefault(t, ("tag", []))[1].append(g)
    by_sid = {g.sid: g for g in snap.guests}
    for rule in snap.ha_rules:
        if rule.type == "resource-affinity" and rule.affinity == "positive" and not rule.disabled:
            members = [by_sid[s] for s in rule.resources if s in by_sid]
            groups["ha:" + rule.rule] = ("ha_rule", members)
    out = []
    for name, (source, members) in sorted(groups.items()):
        members = sorted(members, key=lambda g: g.vmid)
        nodes = sorted({g.node for g in members})
        split = len(nodes) > 1
        out.append({"name": name, "source": source,
                    "members": [{"vmid": g.vmid, "name": g.name, "type": "VM" if g.type == "qemu" else "CT",
                                 "node": g.node, "status": g.status} for g in members],
                    "member_count": len(members), "nodes": nodes, "is_split": split,
                    "status": "split" if split else "together"})
    return {"affinity_groups": out, "total_groups": len(out), "split_groups": sum(g["is_split"] for g in out)}


#: ProxBalance features and the PVE privileges they need: (feature, description, [(path, privilege)])
FEATURES: tuple[tuple[str, str, tuple[tuple[str, str], ...]], ...] = (
    ("collect", "read nodes, guests, storage and HA state",
     (("/", "Sys.Audit"), ("/vms", "VM.Audit"), ("/storage", "Datastore.Audit"))),
    ("migrate", "migrate VMs and containers", (("/vms", "VM.Migrate"),)),
    ("ha_migrate", "ask the HA manager to move HA-managed guests", (("/", "Sys.Console"),)),
    ("tags", "add and remove guest tags", (("/vms", "VM.Config.Options"),)),
    ("stop_tasks", "stop migration tasks started by others", (("/nodes", "Sys.Modify"),)),
)


def has_privilege(perms: dict[str, dict[str, Any]], path: str, priv: str) -> bool:
    """True when ``priv`` holds on ``path``: granted there, or on a parent path with propagation."""
    for p, privs in perms.items():
        if priv not in (privs or {}):
            continue
        if p == path:
            return True
        parent = p.rstrip("/")
        if (parent == "" or path.startswith(parent + "/")) and bool(int(privs[priv] or 0)):
            return True
    return False


def permissions_report(perms: dict[str, dict[str, Any]], token_id: str) -> dict[str, Any]:
    features = []
    for name, desc, needs in FEATURES:
        missing = [f"{priv} on {path}" for path, priv in needs if not has_privilege(perms, path, priv)]
        features.append({"feature": name, "description": desc,
                         "required": [f"{priv} on {path}" for path, priv in needs],
                         "missing": missing, "available": not missing})
    return {"token_id": token_id, "privileges": {p: sorted(v or {}) for p, v in sorted(perms.items())},
            "features": features, "missing_features": [f["feature"] for f in features if not f["available"]],
            "all_ok": all(f["available"] for f in features)}
