"""Masks from tags, HA rules, storages and policy: skip reasons (G,), (G, N) masks, group memberships.

Tags (case-insensitive): ``ignore`` -> never moved; ``pinned`` / ``pin`` -> never moved;
``exclude_<group>`` -> members must run on different nodes (anti-affinity); ``affinity_<group>`` -> members
stay together (companions). HA rules: node-affinity strict -> filter, non-strict -> penalty;
resource-affinity negative -> anti-affinity group, positive -> affinity group.
"""

from __future__ import annotations

from collections import defaultdict

import numpy as np

from ..model import ClusterSnapshot, Guest, Node, Storage
from .config import PenaltyConfig

PIN_TAGS = {"pinned", "pin"}


def skip_reason(gu: Guest, node: Node, cfg: PenaltyConfig) -> str:
    """Why this guest can't be moved at all ("" when it can). First matching reason wins."""
    if gu.template:
        return "template"
    if gu.tags:
        tags = {t.lower() for t in gu.tags}
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


def _membership(keys: dict[int, set[str]], n_rows: int) -> tuple[np.ndarray, list[str]]:
    """``(n_rows, groups)`` membership of the rows in ``keys`` (row -> its group keys; rows in no group are not
    listed: most guests have no tag) and the group names."""
    groups = sorted(set().union(*keys.values())) if keys else []
    idx = {k: i for i, k in enumerate(groups)}
    out = np.zeros((n_rows, len(groups)))
    for i, ks in keys.items():
        for k in ks:
            out[i, idx[k]] = 1.0
    # a group of one constrains nothing
    keep = out.sum(axis=0) > 1
    return out[:, keep], [gname for gname, k in zip(groups, keep, strict=True) if k]


def _content_ok(st: Storage, guest_type: str) -> bool:
    return not st.content or ("images" if guest_type == "qemu" else "rootdir") in st.content


def storage_masks(snapshot: ClusterSnapshot, guests: list[Guest], node_idx: dict[str, int], cfg: PenaltyConfig):
    """``(storage_ok (G, N) bool, need_id (G,) int, storage_maps {(need_id, node): {src: dst}})``.

    A guest can run on a node when every storage of its disks is there (active and enabled), or, with
    ``storage_mapping``, when each missing one holds only local disks and the node has a local storage of the
    same type (content images/rootdir) with room for them: the move then carries that ``{src: dst}`` mapping
    (PVE's ``targetstorage``). ``need_id`` indexes the guest's (storages, type) combination.
    """
    G, N = len(guests), len(node_idx)
    storage_ok = np.ones((G, N), dtype=bool)
    need_id = np.zeros(G, dtype=np.int64)
    maps: dict[tuple[int, int], dict[str, str]] = {}
    if not snapshot.storages:
        return storage_ok, need_id, maps
    avail: dict[str, np.ndarray] = {}
    by_node: dict[int, list[Storage]] = {}
    kind: dict[str, Storage] = {}
    for st in snapshot.storages:
        if st.node in node_idx and st.active and st.enabled:
            j = node_idx[st.node]
            avail.setdefault(st.storage, np.zeros(N, dtype=bool))[j] = True
            by_node.setdefault(j, []).append(st)
        kind.setdefault(st.storage, st)
    cache: dict[tuple, int] = {}
    rows: list[np.ndarray] = []
    for i, gu in enumerate(guests):
        sizes: dict[str, int] = {}
        shared: dict[str, bool] = {}
        for d in gu.disks:
            sizes[d.storage] = sizes.get(d.storage, 0) + int(d.size)
            shared[d.storage] = shared.get(d.storage, False) or d.shared or (
                d.storage in kind and kind[d.storage].shared)
        key = (tuple(sorted(sizes.items())), tuple(sorted(shared.items())), gu.type)
        if key not in cache:
            k = cache[key] = len(rows)
            row = np.ones(N, dtype=bool)
            for sid in sizes:
                row &= avail.get(sid, np.zeros(N, dtype=bool))
            if cfg.storage_mapping and not row.all():
                for j in np.flatnonzero(~row).tolist():
                    m = _mapping(sizes, shared, avail, by_node.get(j, []), kind, j, gu.type)
                    if m is not None:
                        row[j] = True
                        if m:
                            maps[(k, j)] = m
            rows.append(row)
        need_id[i] = cache[key]
    if rows:
        storage_ok = np.stack(rows)[need_id]
    # the node a guest runs on obviously has its storage (stale storage lists must not strand it)
    storage_ok[np.arange(G), [node_idx[gu.node] for gu in guests]] = True
    return storage_ok, need_id, maps


def _mapping(sizes, shared, avail, here: list[Storage], kind, j: int, guest_type: str) -> dict[str, str] | None:
    """``{src: dst}`` for the storages missing on node j, or None when one can't be mapped."""
    out: dict[str, str] = {}
    room = {st.storage: st.total - st.used for st in here}
    for sid in sorted(sizes):
        if sid in avail and avail[sid][j]:
            continue
        src = kind.get(sid)
        if shared[sid] or src is None:
            return None
        cands = sorted(st.storage for st in here if not st.shared and st.type == src.type
                       and _content_ok(st, guest_type) and room[st.storage] >= sizes[sid])
        if not cands:
            return None
        out[sid] = cands[0]
        room[cands[0]] -= sizes[sid]
    return out


def build_masks(snapshot: ClusterSnapshot, guests: list[Guest], nodes: list[Node], cfg: PenaltyConfig) -> dict:
    G, N = len(guests), len(nodes)
    by_name = {nd.name: nd for nd in nodes}
    node_idx = {nd.name: j for j, nd in enumerate(nodes)}
    skip = np.empty(G, dtype=object)
    skip[:] = [skip_reason(gu, by_name[gu.node], cfg) for gu in guests]

    storage_ok, need_id, storage_maps = storage_masks(snapshot, guests, node_idx, cfg)

    sid_idx = {gu.sid: i for i, gu in enumerate(guests)} if snapshot.ha_rules else {}
    anti_keys: defaultdict[int, set[str]] = defaultdict(set)
    aff_keys: defaultdict[int, set[str]] = defaultdict(set)
    for i, gu in enumerate(guests):
        if not gu.tags:
            continue
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
    anti, anti_groups = _membership(anti_keys, G)
    # strict groups: negative HA resource-affinity always, exclude_* tags unless exclude_tags_soft
    anti_strict = np.array([g.startswith("ha:") or not cfg.exclude_tags_soft for g in anti_groups], dtype=bool)
    aff, aff_groups = _membership(aff_keys, G)
    return {
        "skip": skip,
        "storage_ok": storage_ok,
        "need_id": need_id,
        "storage_maps": storage_maps,
        "anti_strict": anti_strict,
        "ha_allowed": ha_allowed,
        "ha_outside": ha_outside,
        "ha_steps": ha_steps,
        "anti": anti,
        "aff": aff,
        "anti_groups": anti_groups,
        "aff_groups": aff_groups,
    }
