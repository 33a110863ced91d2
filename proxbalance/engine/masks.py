"""Masks from tags, HA rules, storages and policy: skip reasons (G,), (G, N) masks, group memberships.

Tags (case-insensitive): ``ignore`` -> never moved; ``pinned`` / ``pin`` -> never moved;
``exclude_<group>`` -> members must run on different nodes (anti-affinity); ``affinity_<group>`` -> members
stay together (companions). HA rules: node-affinity strict -> filter, non-strict -> penalty;
resource-affinity negative -> anti-affinity group, positive -> affinity group.
"""

from __future__ import annotations

import numpy as np

from ..model import ClusterSnapshot, Guest, Node
from .config import PenaltyConfig

PIN_TAGS = {"pinned", "pin"}


def skip_reason(gu: Guest, node: Node, cfg: PenaltyConfig) -> str:
    """Why this guest can't be moved at all ("" when it can). First matching reason wins."""
    tags = {t.lower() for t in gu.tags}
    if gu.template:
        return "template"
    if "ignore" in tags:
        return "ignored"
    if tags & PIN_TAGS:
        return "pinned"
    if gu.passthrough or gu.bind_mounts:
        return "passthrough"
    if gu.lock:
        return "locked"
    if not (node.online and node.reachable):
        return "source_offline"
    if gu.status != "running" and not cfg.include_stopped:
        return "stopped"
    if gu.ha_managed and cfg.exclude_ha_managed:
        return "ha_managed"
    return ""


def _membership(keys: list[set[str]]) -> tuple[np.ndarray, list[str]]:
    groups = sorted(set().union(*keys)) if keys else []
    idx = {k: i for i, k in enumerate(groups)}
    out = np.zeros((len(keys), len(groups)))
    for i, ks in enumerate(keys):
        for k in ks:
            out[i, idx[k]] = 1.0
    # a group of one constrains nothing
    keep = out.sum(axis=0) > 1
    return out[:, keep], [gname for gname, k in zip(groups, keep, strict=True) if k]


def build_masks(snapshot: ClusterSnapshot, guests: list[Guest], nodes: list[Node], cfg: PenaltyConfig) -> dict:
    G, N = len(guests), len(nodes)
    by_name = {nd.name: nd for nd in nodes}
    node_idx = {nd.name: j for j, nd in enumerate(nodes)}
    skip = np.array([skip_reason(gu, by_name[gu.node], cfg) for gu in guests] or [], dtype=object)

    # storage reachability: a guest needs every storage of its disks on the target
    storage_ok = np.ones((G, N), dtype=bool)
    if snapshot.storages:
        avail: dict[str, np.ndarray] = {}
        for st in snapshot.storages:
            if st.node in node_idx and st.active and st.enabled:
                avail.setdefault(st.storage, np.zeros(N, dtype=bool))[node_idx[st.node]] = True
        cache: dict[frozenset, np.ndarray] = {}
        for i, gu in enumerate(guests):
            need = frozenset(d.storage for d in gu.disks)
            if need not in cache:
                row = np.ones(N, dtype=bool)
                for s in need:
                    row &= avail.get(s, np.zeros(N, dtype=bool))
                cache[need] = row
            storage_ok[i] = cache[need]
        # the node a guest runs on obviously has its storage (stale storage lists must not strand it)
        storage_ok[np.arange(G), [node_idx[gu.node] for gu in guests]] = True

    sid_idx = {gu.sid: i for i, gu in enumerate(guests)}
    anti_keys: list[set[str]] = [set() for _ in guests]
    aff_keys: list[set[str]] = [set() for _ in guests]
    for i, gu in enumerate(guests):
        for t in gu.tags:
            tl = t.lower()
            if tl.startswith("exclude_") and len(tl) > 8:
                anti_keys[i].add("tag:" + tl)
            elif tl.startswith("affinity_") and len(tl) > 9:
                aff_keys[i].add("tag:" + tl)

    ha_allowed = np.ones((G, N), dtype=bool)
    ha_outside = np.zeros((G, N), dtype=bool)
    ha_steps = np.zeros((G, N))
    for rule in snapshot.ha_rules:
        if rule.disabled:
            continue
        rows = [sid_idx[s] for s in rule.resources if s in sid_idx]
        if rule.type == "resource-affinity":
            target = anti_keys if rule.affinity == "negative" else aff_keys
            for i in rows:
                target[i].add("ha:" + rule.rule)
            continue
        listed = np.zeros(N, dtype=bool)
        prio = np.full(N, -np.inf)
        for name, p in rule.nodes:
            if name in node_idx:
                listed[node_idx[name]] = True
                prio[node_idx[name]] = p
        levels = sorted({p for p in prio[listed]}, reverse=True)
        steps = np.array([levels.index(p) if ok else 0 for p, ok in zip(prio, listed, strict=True)], dtype=float)
        for i in rows:
            ha_steps[i] = np.maximum(ha_steps[i], steps)
            if rule.strict:
                ha_allowed[i] &= listed
            else:
                ha_outside[i] |= ~listed
    anti, anti_groups = _membership(anti_keys)
    aff, aff_groups = _membership(aff_keys)
    return {
        "skip": skip,
        "storage_ok": storage_ok,
        "ha_allowed": ha_allowed,
        "ha_outside": ha_outside,
        "ha_steps": ha_steps,
        "anti": anti,
        "aff": aff,
        "anti_groups": anti_groups,
        "aff_groups": aff_groups,
    }
