"""The prompt: a compact, bounded JSON summary of the cluster and the engine's own plan.

Summary keys: ``cluster`` (name, counts), ``thresholds``, ``period`` and which load figures it uses,
``nodes`` (status, cores, memory GiB, CPU % and memory % for the period), ``hottest_guests`` (the guests
that weigh most on their node; engine-planned guests fill up to half the list first; with cores busy and memory GiB),
``constraints`` (anti-affinity and affinity groups, strict HA node rules, counts of unmovable guests by
reason, maintenance nodes) and ``engine_plan`` (its moves and the predicted peak / spread before and after).

Bounded: at most ``max_guests`` guests, 20 engine moves, 64 nodes, 12 members listed per group; while the
user message is longer than ``max_chars`` the guest list is halved. With ``anonymize`` guest names become
``guest-<vmid>`` and group names ``group-<n>`` (the caller maps answers back through the vmid).
Period → load figures: 1h and 6h the current sample, 24h the engine's blend of now / 24 h / 7 d, 7d and
30d the 7-day average (history blends do not reach further back).
"""

from __future__ import annotations

import json

import numpy as np

from proxbalance.engine.arrays import CPU, MEM, ClusterArrays

GIB = 1024.0**3
PERIOD_KIND = {"1h": "now", "6h": "now", "24h": "blend", "7d": "avg7", "30d": "avg7"}
MAX_MOVES, MAX_NODES, MAX_MEMBERS = 20, 64, 12

SYSTEM = (
    "You are a careful Proxmox VE capacity engineer giving a second opinion on a load-balancing plan. "
    "You get a JSON summary of the cluster and the plan of ProxBalance's scoring engine. Explain the cluster's "
    "state briefly, then suggest migrations. Rules: use only vmids listed in hottest_guests; source_node must "
    "be the node the guest runs on now; never target an offline or maintenance node; never put two members of "
    "one anti_affinity group on one node; keep affinity groups together; respect ha_strict node lists; keep "
    "every node's memory under mem_limit_pct. Prefer few, high-value moves; agree with the engine's moves when "
    "they are right. Every suggestion is checked by the engine: invalid ones are dropped. Answer only with a "
    "JSON object {\"analysis\": str, \"recommendations\": [{\"vmid\": int, \"source_node\": str, "
    "\"target_node\": str, \"priority\": \"low|medium|high|critical\", \"reasoning\": str, \"risk_score\": "
    "0..1, \"estimated_impact\": str, \"best_time\": str}], \"predicted_issues\": [{\"node\": str, \"issue\": "
    "str, \"severity\": \"info|warning|critical\", \"timeframe\": str}]}."
)


def _r(x: float, nd: int = 1) -> float:
    return round(float(x), nd)


def _nodes(a: ClusterArrays, kind: str) -> list[dict]:
    cpu = a.n[kind][:, CPU] / a.cap[:, CPU] * 100
    mem = a.n[kind][:, MEM] / a.cap[:, MEM] * 100
    counts = np.bincount(a.placement[a.placement >= 0], minlength=a.n_nodes)
    order = np.argsort(-np.maximum(cpu, mem), kind="stable")[:MAX_NODES]
    out = []
    for j in sorted(order.tolist()):
        status = "offline" if not a.online[j] else "maintenance" if a.maintenance[j] else "online"
        out.append({"name": a.node_names[j], "status": status, "cores": int(a.cap[j, CPU]),
                    "mem_gib": _r(a.cap[j, MEM] / GIB), "cpu_pct": _r(cpu[j]), "mem_pct": _r(mem[j]),
                    "guests": int(counts[j])})
    return out


def _hot_order(a: ClusterArrays, kind: str, first: list[int]) -> list[int]:
    p = a.placement
    weight = a.g[kind][:, CPU] / a.cap[p, CPU] + a.g[kind][:, MEM] / a.cap[p, MEM]
    rows = [i for i in np.argsort(-weight, kind="stable").tolist() if a.running[i]]
    seen = set(first)
    return first + [i for i in rows if i not in seen]


def build(a: ClusterArrays, plan: dict, *, cluster_name: str, thresholds: dict, period: str,
          max_guests: int, max_chars: int, anonymize: bool = False) -> tuple[str, str]:
    """(system, user) messages. ``plan`` is ``engine.plan(...).to_dict()``; ``thresholds`` has
    ``cpu_pct, mem_pct, mem_limit_pct``."""
    kind = PERIOD_KIND[period]
    moves = plan.get("recommendations", [])[:MAX_MOVES]
    row_of = {int(v): i for i, v in enumerate(a.vmids.tolist())}
    planned = [row_of[m["vmid"]] for m in moves if m["vmid"] in row_of]
    order = _hot_order(a, kind, list(dict.fromkeys(planned))[:max(1, max_guests // 2)])
    groups = {g: f"group-{i + 1}" for i, g in enumerate(a.anti_groups + a.aff_groups)} if anonymize else {}

    def name(i: int) -> str:
        return f"guest-{int(a.vmids[i])}" if anonymize else a.names[i]

    def summary(k: int) -> dict:
        rows = order[:k]
        listed = set(rows)
        guests = [{"vmid": int(a.vmids[i]), "name": name(i), "type": "CT" if a.is_ct[i] else "VM",
                   "node": a.node_names[a.placement[i]], "cpu_cores": _r(a.g[kind][i, CPU], 2),
                   "mem_gib": _r(a.g[kind][i, MEM] / GIB, 2),
                   **({"not_movable": str(a.skip[i])} if a.skip[i] else {}),
                   **({"ha": True} if a.ha_managed[i] else {})} for i in rows]

        def members(mat: np.ndarray, names: list[str]) -> dict:
            out = {}
            for gi, gname in enumerate(names):
                rows_g = [i for i in np.flatnonzero(mat[:, gi] > 0).tolist()]
                shown = [int(a.vmids[i]) for i in rows_g if i in listed][:MAX_MEMBERS]
                if shown:
                    label = groups.get(gname, gname.split(":", 1)[-1])
                    nodes = sorted({a.node_names[a.placement[i]] for i in rows_g})
                    out[label] = {"members": len(rows_g), "listed": shown, "on_nodes": nodes[:MAX_NODES]}
            return out

        strict = {int(a.vmids[i]): [a.node_names[j] for j in np.flatnonzero(a.ha_allowed[i]).tolist()]
                  for i in rows if not a.ha_allowed[i].all()}
        skips: dict[str, int] = {}
        for s in a.skip.tolist():
            if s:
                skips[s] = skips.get(s, 0) + 1
        impact = plan.get("batch_impact", {})

        def effect(side: str) -> dict:
            d = impact.get(side, {})
            return {k: d.get(k) for k in ("peak_pct", "cpu_max_pct", "cpu_std_pct", "mem_max_pct", "mem_std_pct")}

        return {
            "cluster": {"name": cluster_name, "nodes": a.n_nodes, "guests": a.n_guests,
                        "nodes_listed": min(a.n_nodes, MAX_NODES), "guests_listed": len(rows)},
            "thresholds": thresholds,
            "period": {"name": period, "load": kind},
            "nodes": _nodes(a, kind),
            "hottest_guests": guests,
            "constraints": {"anti_affinity": members(a.anti, a.anti_groups),
                            "affinity": members(a.aff, a.aff_groups), "ha_strict": strict,
                            "not_movable_counts": skips,
                            "maintenance_nodes": [a.node_names[j] for j in np.flatnonzero(a.maintenance)]},
            "engine_plan": {"moves": [{"vmid": m["vmid"], "from": m["source_node"], "to": m["target_node"],
                                       "reason": m["reason"], "gain": m["score_improvement"]} for m in moves],
                            "moves_total": len(plan.get("recommendations", [])),
                            "before": effect("before"), "after": effect("after")},
        }

    k = max(1, max_guests)
    while True:
        text = json.dumps(summary(k), separators=(",", ":"))
        user = ("Cluster summary (JSON). Percentages are of the node's capacity; cpu_cores are cores busy.\n"
                f"{text}\nGive your analysis and suggested migrations as the JSON object described.")
        if len(SYSTEM) + len(user) <= max_chars or k == 1:
            return SYSTEM, user
        k = max(1, k // 2)
