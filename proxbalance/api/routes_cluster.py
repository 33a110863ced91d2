"""Cluster data: refresh, analyze, summaries, guest locations/tags, storage, affinity groups, tasks, permissions.

Reads answer from the newest stored snapshot (503 ``no_data`` before the first collection); ``/api/tasks``,
``/api/permissions`` and ``/api/refresh`` ask Proxmox live, on the bulkhead (api/bulkhead.py: 503 when its
slots are busy, 504 after ``server.proxmox_wait_seconds``). Response keys are documented in docs/collector.md.
"""

from __future__ import annotations

from flask import Blueprint

from proxbalance.api import bulkhead
from proxbalance.api import cluster_shape as shape
from proxbalance.api.endpoint import endpoint
from proxbalance.api.models import NodeName, VmId
from proxbalance.api.models_cluster import (
    AffinityGroupsResponse,
    AnalyzeResponse,
    GuestsQuery,
    GuestsResponse,
    LocationResponse,
    LocationsResponse,
    NodesResponse,
    PermissionsResponse,
    RefreshResponse,
    StorageResponse,
    SummaryResponse,
    TagsResponse,
    TaskQuery,
    TaskResponse,
    check,
)
from proxbalance.api.state import generation, state
from proxbalance.errors import NoDataError, NotFoundError, ValidationError

bp = Blueprint("cluster", __name__)
REFRESH_WAIT = 120.0  # seconds /api/refresh waits for its collection (then 504; the cycle goes on)


def _snapshot():
    """(newest complete snapshot, its meta keys). The snapshot and the newest collection time are kept for
    the data generation (store/version.py); the age is measured on every request."""
    from proxbalance.store.snapshots import latest_snapshot, newest_snapshot_time

    st = state()
    gen = generation()
    snap = st.memo.get(gen, "latest_snapshot", lambda: latest_snapshot(st.store.engine))
    if snap is None:
        raise NoDataError("no cluster data collected yet: run `proxbalance collect` or POST /api/refresh")
    newest = st.memo.get(gen, "newest_snapshot_time", lambda: newest_snapshot_time(st.store.engine))
    return snap, shape.meta(snap, None if newest is None else max(0.0, st.clock() - newest))


def _client():
    from proxbalance.pve.client import PveClient

    return PveClient(state().settings)


@endpoint(bp, "POST", "/api/refresh", response=RefreshResponse,
          summary="Run one collection now (synchronously) and report it. 409 while another one runs.")
def refresh():
    from proxbalance.collector import collect_once
    st = state()
    # a whole cycle (and a first backfill) is many calls: it may take longer than one call's bound
    result = bulkhead.run(collect_once, st.settings, st.store, now=st.clock(), wait=False,
                          bulkhead_wait=max(REFRESH_WAIT, st.settings["server.proxmox_wait_seconds"]))
    return {"message": result.summary(), "collection": result.as_dict()}


@endpoint(bp, "GET", "/api/analyze", response=AnalyzeResponse,
          summary="The newest snapshot: summary, nodes and guests keyed by name/vmid, storages, HA rules.")
def analyze():
    snap, meta = _snapshot()
    return {**meta, "summary": shape.summary(snap),
            "nodes": {n.name: shape.node_dict(n, snap) for n in snap.nodes},
            "guests": {str(g.vmid): shape.guest_dict(g) for g in snap.guests},
            "storages": [shape.storage_dict(s) for s in snap.storages],
            "ha_rules": [shape.asdict(r) for r in snap.ha_rules]}


@endpoint(bp, "GET", "/api/cluster-summary", response=SummaryResponse,
          summary="Node and guest counts, CPU and memory totals of the newest snapshot.")
def cluster_summary():
    snap, meta = _snapshot()
    return {**meta, "summary": state().memo.get(generation(), ("cluster_summary", snap.time), lambda: shape.summary(snap))}


@endpoint(bp, "GET", "/api/nodes-only", response=NodesResponse, summary="Nodes of the newest snapshot, by name.")
def nodes_only():
    snap, meta = _snapshot()
    return {**meta, "nodes": {n.name: shape.node_dict(n, snap) for n in snap.nodes}, "count": len(snap.nodes)}


@endpoint(bp, "GET", "/api/guests-only", query=GuestsQuery, response=GuestsResponse,
          summary="Guests of the newest snapshot, by vmid; filter by node, type, status.")
def guests_only(query: GuestsQuery):
    snap, meta = _snapshot()
    guests = [g for g in snap.guests if (query.node is None or g.node == query.node)
              and (query.type is None or g.type == query.type) and (query.status is None or g.status == query.status)]
    page = guests[query.offset:query.offset + query.limit]
    return {**meta, "guests": {str(g.vmid): shape.guest_dict(g) for g in page}, "count": len(page),
            "total": len(guests)}


def _guest(vmid: int):
    """(guest, snapshot meta) from the newest snapshot; 400 for an out-of-range id, 404 if absent."""
    check(VmId, vmid, "vmid")
    snap, meta = _snapshot()
    g = snap.guest(vmid)
    if g is None:
        raise NotFoundError(f"guest {vmid} is not in the newest snapshot", details={"vmid": vmid})
    return g, meta


@endpoint(bp, "GET", "/api/guests/<int:vmid>/location", response=LocationResponse,
          summary="The node a guest runs on (newest snapshot).")
def guest_location(vmid: int):
    g, meta = _guest(vmid)
    return {**meta, "vmid": g.vmid, "name": g.name, "node": g.node, "type": g.type, "status": g.status}


@endpoint(bp, "GET", "/api/guests/locations", response=LocationsResponse,
          summary="Node, type and status of every guest, by vmid.")
def guest_locations():
    snap, meta = _snapshot()
    return {**meta, "locations": {str(g.vmid): {"node": g.node, "name": g.name, "type": g.type, "status": g.status}
                                  for g in snap.guests}, "count": len(snap.guests)}


@endpoint(bp, "GET", "/api/nodes/<node>/storage", response=StorageResponse,
          summary="Storages available on a node (newest snapshot).")
def node_storage(node: str):
    check(NodeName, node, "node")
    snap, meta = _snapshot()
    if snap.node(node) is None:
        raise NotFoundError(f"node {node!r} is not in the cluster", details={"node": node})
    rows = [shape.storage_dict(s) for s in snap.storages if s.node == node]
    return {**meta, "node": node, "storage": rows, "count": len(rows)}


@endpoint(bp, "GET", "/api/guests/<int:vmid>/tags", response=TagsResponse,
          summary="A guest's tags and what ProxBalance reads from them (ignore, pin, affinity groups).")
def guest_tags(vmid: int):
    g, meta = _guest(vmid)
    return {**meta, **shape.guest_tags(g)}


@endpoint(bp, "GET", "/api/affinity-groups", response=AffinityGroupsResponse,
          summary="Affinity groups (affinity_* tags, positive HA resource-affinity rules) with split detection.")
def affinity_groups():
    snap, meta = _snapshot()
    return {**meta, **shape.affinity_groups(snap)}


@endpoint(bp, "GET", "/api/tasks/<node>/<taskid>", query=TaskQuery, response=TaskResponse,
          summary="Status (and optionally the last log lines) of a Proxmox task, asked live.")
def task_status(node: str, taskid: str, query: TaskQuery):
    from proxbalance.pve.client import PveApiError
    from proxbalance.pve.parse import upid_node

    check(NodeName, node, "node")
    owner = upid_node(taskid)
    if owner is None:
        raise ValidationError("taskid must be a Proxmox UPID (UPID:node:pid:pstart:starttime:type:id:user:)",
                              details={"field": "taskid"})
    if owner != node:
        raise ValidationError(f"task {taskid} belongs to node {owner!r}, not {node!r}", details={"field": "node"})
    client = _client()

    def ask():
        task = client.task_status(node, taskid)
        return task, (client.task_log(node, taskid, start=0, limit=100000)[-query.log_lines:] if query.log_lines else [])

    try:
        task, log = bulkhead.run(ask)
    except PveApiError as exc:
        if "no such task" in exc.message:
            raise NotFoundError(f"no task {taskid} on node {node}", details={"taskid": taskid}) from None
        raise
    data = shape.asdict(task)
    return {"task": {**data, "running": task.running, "ok": task.ok}, "log": log}


@endpoint(bp, "GET", "/api/permissions", response=PermissionsResponse,
          summary="Privileges the configured Proxmox token has, and which ProxBalance features lack one.")
def permissions():
    st = state()
    perms = bulkhead.run(_client().permissions)
    who = st.settings["proxmox.token_id"] or st.settings["proxmox.username"]
    from proxbalance.token_service import report  # adds allows {read_only, migrate, ha, tags}

    return report(perms, who)
