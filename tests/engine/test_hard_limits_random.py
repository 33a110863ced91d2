"""1,000 random clusters (fixed seeds): no plan step breaks a hard limit, checked from the snapshot itself."""

import numpy as np
import pytest

from proxbalance.engine import PenaltyConfig, build_arrays, plan

from .builders import random_history, random_snapshot

N_CLUSTERS = 1000


def _strict_groups(snap, soft_tags: bool):
    """vmid -> set of strict anti-affinity groups, straight from tags and HA rules."""
    out = {g.vmid: set() for g in snap.guests}
    for g in snap.guests:
        for t in g.tags:
            if t.lower().startswith("exclude_") and len(t) > 8 and not soft_tags:
                out[g.vmid].add("tag:" + t.lower())
    by_sid = {g.sid: g.vmid for g in snap.guests}
    for r in snap.ha_rules:
        if r.type == "resource-affinity" and r.affinity == "negative" and not r.disabled:
            for s in r.resources:
                if s in by_sid:
                    out[by_sid[s]].add("ha:" + r.rule)
    return out


def violations(snap, cfg, p) -> list[str]:
    nodes = {n.name: n for n in snap.nodes}
    guests = {g.vmid: g for g in snap.guests}
    where = {g.vmid: g.node for g in snap.guests}
    mem = {n.name: max(n.mem, sum(g.mem for g in snap.guests if g.node == n.name and g.status == "running"))
           for n in snap.nodes}
    have = {}
    for st in snap.storages:
        if st.active and st.enabled:
            have.setdefault(st.node, set()).add(st.storage)
    groups = _strict_groups(snap, cfg.exclude_tags_soft)
    out = []
    for r in sorted(p.recommendations, key=lambda r: r.order):
        g, t = guests[r.vmid], r.target_node
        if where[r.vmid] != r.source_node:
            out.append(f"{r.vmid}: source {r.source_node} but on {where[r.vmid]}")
        if not nodes[t].online or nodes[t].maintenance or not nodes[t].reachable:
            out.append(f"{r.vmid}: target {t} offline or in maintenance")
        mapping = r.target_storage or {}
        if snap.storages:
            for d in g.disks:
                if mapping.get(d.storage, d.storage) not in have.get(t, set()):
                    out.append(f"{r.vmid}: storage {d.storage} not on {t}")
        mates = [v for v, n in where.items() if n == t and v != r.vmid and groups[v] & groups[r.vmid]]
        if mates:
            out.append(f"{r.vmid}: strict anti-affinity with {mates} on {t}")
        run = g.status == "running"
        need = (g.mem + cfg.mem_safety_margin * max(g.maxmem - g.mem, 0)) if run else 0.0
        if mem[t] + need > cfg.mem_limit_pct / 100 * nodes[t].maxmem + 1:
            out.append(f"{r.vmid}: {t} over the memory limit")
        if run:
            mem[where[r.vmid]] -= g.mem
            mem[t] += g.mem
        where[r.vmid] = t
    return out


@pytest.mark.parametrize("chunk", range(4))
def test_no_hard_limit_is_broken_on_random_clusters(chunk):
    bad = {}
    for seed in range(chunk * N_CLUSTERS // 4, (chunk + 1) * N_CLUSTERS // 4):
        rng = np.random.default_rng(seed)
        n_nodes, n_guests = int(rng.integers(2, 9)), int(rng.integers(1, 25))
        snap = random_snapshot(rng, n_nodes, n_guests)
        hist = random_history(rng, snap) if rng.random() < 0.7 else None
        cfg = PenaltyConfig.from_dict({"min_score_improvement": float(rng.choice([1.0, 10.0])),
                                       "mem_limit_pct": float(rng.uniform(60, 100)),
                                       "exclude_tags_soft": bool(rng.random() < 0.2),
                                       "max_moves": int(rng.choice([0, 3, 50]))})
        p = plan(build_arrays(snap, hist, cfg), cfg)
        v = violations(snap, cfg, p)
        if v:
            bad[seed] = v
    assert not bad, f"{len(bad)} clusters with violations, e.g. {next(iter(bad.items()))}"
