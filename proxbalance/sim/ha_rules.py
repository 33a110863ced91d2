"""HA rules as pve-ha-manager 5.0 (PVE 9) applies them: node-affinity and resource-affinity.

Pure functions of the cluster model. ``nodes`` strings are ``pve1:2,pve2`` (priority 0 when omitted); a strict
node-affinity rule restricts a service to its nodes, a non-strict one only prefers them
(src/PVE/HA/Rules/NodeAffinity.pm get_node_affinity). Resource-affinity ``positive`` keeps services together,
``negative`` apart (src/PVE/HA/Rules/ResourceAffinity.pm get_affinitive_resources).
"""

from __future__ import annotations

from proxbalance.sim.cluster import Cluster


def _active(c: Cluster, rtype: str) -> list[dict]:
    return [r for r in c.ha_rules if r.get("type") == rtype and not int(r.get("disable", 0) or 0)]


def node_priorities(c: Cluster, sid: str) -> tuple[dict[str, int] | None, bool]:
    """(node -> priority of the node-affinity rule naming ``sid``, strict) or (None, False) without one."""
    for r in _active(c, "node-affinity"):
        if sid in r["resources"].split(","):
            pri = {}
            for part in r["nodes"].split(","):
                name, _, p = part.partition(":")
                pri[name.strip()] = int(p or 0)
            return pri, bool(int(r.get("strict", 0)))
    return None, False


def affinitive(c: Cluster, sid: str) -> tuple[list[str], list[str]]:
    """(positive partners, negative partners) of ``sid``: HA resources sharing a resource-affinity rule,
    ignored ones left out (Config.pm get_resource_motion_info)."""
    together, separate = set(), set()
    for r in _active(c, "resource-affinity"):
        members = r["resources"].split(",")
        if sid in members:
            (together if r.get("affinity") == "positive" else separate).update(m for m in members if m != sid)
    keep = [s for s in sorted(together | separate)
            if s in c.ha_resources and c.ha_resources[s].get("state") != "ignored"]
    return [s for s in keep if s in together], [s for s in keep if s in separate]


def allowed_nodes(c: Cluster, sid: str, online: list[str]) -> list[str]:
    """The highest-priority online nodes ``sid`` may run on (Manager.pm select_service_node ``pri_nodes``)."""
    pri, strict = node_priorities(c, sid)
    if pri is None:
        return list(online)
    usable = {n: p for n, p in pri.items() if n in online}
    if not usable:
        return [] if strict else list(online)
    top = max(usable.values())
    return [n for n in online if usable.get(n) == top]


def permitted_nodes(c: Cluster, sid: str, online: list[str]) -> list[str]:
    """Every online node ``sid`` may run on whatever the priority (NodeAffinity.pm get_node_affinity
    ``allowed_nodes``): a strict rule's nodes, or any node without a strict rule."""
    pri, strict = node_priorities(c, sid)
    if pri is None or not strict:
        return list(online)
    return [n for n in online if n in pri]
