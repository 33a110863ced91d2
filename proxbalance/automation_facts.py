"""What a cycle gathers before the gates run: the plan, the candidates, and live facts about the cluster.

- :func:`plan` runs the engine on the newest stored snapshot, with ProxBalance's own maintenance flags
  (``executor.maintenance``) applied to the nodes, so evacuations are planned like PVE maintenance.
- :func:`live_snapshot` turns the executor's :class:`LiveView` (4 PVE calls made just now) into a
  :class:`ClusterSnapshot`: the gates judge health, locks, tags and headroom on these live numbers.
- :func:`candidates` turns recommendations into :class:`Candidate` objects, evacuations first;
  :func:`guest_count_candidates` proposes the optional guest-count balancing move.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from proxbalance import engine as eng
from proxbalance.automation_gates import MIGRATE_TASKS, Candidate, PastMove
from proxbalance.config import Settings
from proxbalance.errors import NoDataError
from proxbalance.executor.live import LiveView
from proxbalance.executor.maintenance import maintenance_nodes
from proxbalance.executor.migrations import list_migrations
from proxbalance.model import ClusterSnapshot, Guest, Node
from proxbalance.recommendations import active_penalty_config
from proxbalance.store import Store
from proxbalance.store.history import usage_history
from proxbalance.store.snapshots import latest_snapshot


def stored_snapshot(store: Store, flagged: set[str]) -> ClusterSnapshot:
    snap = latest_snapshot(store.engine)
    if snap is None:
        raise NoDataError("no cluster data collected yet: run `proxbalance collect` first")
    if flagged:
        snap = replace(snap, nodes=tuple(replace(n, maintenance=n.maintenance or n.name in flagged)
                                         for n in snap.nodes))
    return snap


def plan(settings: Settings, store: Store) -> tuple[dict[str, Any], ClusterSnapshot, set[str]]:
    """(plan dict as ``engine.plan(...).to_dict()``, the snapshot it used, maintenance-flagged nodes)."""
    flagged = maintenance_nodes(store)
    snap = stored_snapshot(store, flagged)
    cfg = active_penalty_config(settings, store)[0]
    arrays = eng.build_arrays(snap, usage_history(store.engine, now=snap.time), cfg)
    return eng.plan(arrays, cfg).to_dict(), snap, flagged


def live_snapshot(live: LiveView, now: float, flagged: set[str]) -> ClusterSnapshot:
    """The live view as a snapshot (CPU as fractions of maxcpu, memory in bytes)."""
    nodes = tuple(Node(name=n.name, online=n.online, maxcpu=n.maxcpu, cpu=n.cpu, maxmem=n.maxmem, mem=n.mem,
                       maintenance=n.ha_maintenance or n.name in flagged, reachable=n.online)
                  for n in live.nodes.values())
    guests = tuple(Guest(vmid=g.vmid, name=g.name, type=g.type, node=g.node, status=g.status, maxcpu=g.maxcpu,
                         cpu=(g.cpu_cores / g.maxcpu) if g.maxcpu else 0.0, maxmem=g.maxmem, mem=g.mem,
                         tags=g.tags, ha_managed=g.ha_managed, ha_state=g.ha_state, lock=g.lock,
                         template=g.template)
                   for g in live.guests.values())
    return ClusterSnapshot(time=now, nodes=nodes, guests=guests, quorate=live.quorate)


def running_migration_tasks(live: LiveView) -> int:
    """Migration tasks running anywhere in the cluster (anyone's: ours, an admin's, HA's)."""
    return sum(1 for t in live.tasks if t.get("type") in MIGRATE_TASKS and "endtime" not in t
               and not t.get("status"))


def candidates(recs: list[Mapping[str, Any]], maintenance: set[str]) -> list[Candidate]:
    out = [Candidate(vmid=int(r["vmid"]), name=str(r.get("name", "")), source=r["source_node"],
                     target=r["target_node"], confidence=int(r.get("confidence_score", 0)),
                     reason=str(r.get("reason", "balance")),
                     kind="evacuation" if r["source_node"] in maintenance else "plan",
                     ha_managed=bool(r.get("ha_managed")), companion_of=r.get("companion_of"),
                     swap_with=r.get("swap_with"), rec=dict(r)) for r in recs]
    return sorted(out, key=lambda c: c.kind != "evacuation")  # stable: plan order otherwise


def guest_count_candidates(snap: ClusterSnapshot, settings: Settings, taken: set[int]) -> list[Candidate]:
    """One move of the smallest running guest from the most to the least populated node, when the spread of
    running guests per node exceeds ``automation.guest_count_max_spread``. The gates still judge it."""
    if not settings["automation.balance_guest_count"]:
        return []
    live = [n for n in snap.nodes if n.online and n.reachable and not n.maintenance]
    if len(live) < 2:
        return []
    counts = {n.name: 0 for n in live}
    for g in snap.guests:
        if g.status == "running" and g.node in counts:
            counts[g.node] += 1
    most, fewest = max(counts, key=lambda k: (counts[k], k)), min(counts, key=lambda k: (counts[k], k))
    if counts[most] - counts[fewest] <= settings["automation.guest_count_max_spread"]:
        return []
    movable = [g for g in snap.guests if g.node == most and g.status == "running" and not g.template
               and not g.lock and not g.ha_managed and g.vmid not in taken]
    if not movable:
        return []
    g = min(movable, key=lambda x: (x.mem, x.vmid))
    return [Candidate(vmid=g.vmid, name=g.name, source=most, target=fewest, confidence=100, reason="guest_count",
                      kind="guest_count", rec={"vmid": g.vmid, "name": g.name, "source_node": most,
                                               "target_node": fewest, "reason": "guest_count",
                                               "confidence_score": 100})]


def past_moves(store: Store, since: float) -> list[PastMove]:
    """Every migration the executor recorded since ``since`` (any origin: an admin's move counts too)."""
    rows, _ = list_migrations(store, since=since, limit=None)
    return sorted((PastMove(vmid=r["vmid"], source=r["source_node"], target=r["target_node"],
                            time=r.get("started_at") or r["created_at"],
                            state="failed" if r["state"] in ("failed", "cancelled") else r["state"])
                   for r in rows), key=lambda m: m.time)
