"""Builders for hand-made clusters: make_node(...), make_guest(...), make_snapshot(...)."""

from __future__ import annotations

import numpy as np

from proxbalance.model import ClusterSnapshot, Disk, Guest, HARule, Node, Storage

GIB = 1024**3


def make_node(name="pve1", cores=16, mem_gib=64.0, cpu=0.0, mem_used_gib=None, **kw) -> Node:
    """A node; ``mem_used_gib=None`` means 'filled in from its guests' by make_snapshot."""
    return Node(name=name, online=kw.pop("online", True), maxcpu=cores, cpu=cpu, maxmem=int(mem_gib * GIB),
                mem=int((mem_used_gib or 0) * GIB), **kw)


def make_guest(vmid=100, node="pve1", cores=2, cpu=0.5, mem_gib=4.0, maxmem_gib=None, **kw) -> Guest:
    """A running guest using ``cpu`` of ``cores`` and ``mem_gib`` of host memory."""
    return Guest(vmid=vmid, name=kw.pop("name", f"g{vmid}"), type=kw.pop("type", "qemu"), node=node,
                 status=kw.pop("status", "running"), maxcpu=cores, cpu=cpu,
                 maxmem=int((maxmem_gib or mem_gib) * GIB), mem=int(mem_gib * GIB), **kw)


def make_snapshot(nodes, guests, fill=True, **kw) -> ClusterSnapshot:
    """Snapshot whose node cpu/mem are the sums of their guests (when ``fill``) plus what the node says."""
    if fill:
        out = []
        for nd in nodes:
            mine = [g for g in guests if g.node == nd.name and g.status == "running"]
            cores = sum(g.cpu * g.maxcpu for g in mine)
            mem = sum(g.mem for g in mine)
            out.append(Node(**{**{f: getattr(nd, f) for f in nd.__slots__},
                               "cpu": nd.cpu + cores / nd.maxcpu, "mem": nd.mem + mem}))
        nodes = out
    return ClusterSnapshot(time=0.0, nodes=tuple(nodes), guests=tuple(guests), **kw)


def random_snapshot(rng: np.random.Generator, n_nodes: int, n_guests: int, tags=True, ha=True,
                    storages=True) -> ClusterSnapshot:
    """A random small cluster with tags, HA rules, storages and a few immovable guests."""
    nodes = [make_node(f"n{j}", cores=int(rng.choice([8, 16, 32])), mem_gib=float(rng.choice([32, 64, 128])),
                       maintenance=bool(rng.random() < 0.1), online=bool(rng.random() > 0.05))
             for j in range(n_nodes)]
    guests = []
    for i in range(n_guests):
        t = []
        if tags:
            r = rng.random()
            t = (["ignore"] if r < 0.05 else ["pinned"] if r < 0.1 else ["exclude_db"] if r < 0.2
                 else ["affinity_web"] if r < 0.27 else [])
        disks = ()
        if storages:
            disks = (Disk("scsi0", str(rng.choice(["local", "ceph"])), int(rng.integers(1, 50)) * GIB),)
        guests.append(make_guest(
            100 + i, node=f"n{int(rng.integers(n_nodes))}", cores=int(rng.choice([1, 2, 4, 8])),
            cpu=float(rng.random()), mem_gib=float(rng.uniform(0.5, 12)),
            maxmem_gib=None, tags=tuple(t), type=str(rng.choice(["qemu", "lxc"])),
            status="running" if rng.random() > 0.1 else "stopped", disks=disks,
            ha_managed=bool(rng.random() < 0.1)))
    st = ()
    if storages:
        st = tuple(Storage("ceph", nd.name, "rbd", True, 10**13, 0) for nd in nodes) + tuple(
            Storage("local", nd.name, "dir", False, 10**12, 0) for nd in nodes if rng.random() < 0.7)
    rules = ()
    if ha and n_guests >= 4:
        sids = [g.sid for g in guests]
        rules = (
            HARule("r1", "node-affinity", (sids[0], sids[1]), nodes=((nodes[0].name, 2), (nodes[-1].name, 1)),
                   strict=True),
            HARule("r2", "node-affinity", (sids[2],), nodes=((nodes[0].name, 1),), strict=False),
            HARule("r3", "resource-affinity", (sids[1], sids[3]), affinity="negative"),
        )
    return make_snapshot(nodes, guests, storages=st, ha_rules=rules)


def random_history(rng: np.random.Generator, snap: ClusterSnapshot):
    """Random 24 h / 7 d blends, maxima and slopes for most guests and nodes."""
    from proxbalance.model import UsageHistory, UsageStats

    def stats(now, scale):
        a24 = max(now * rng.uniform(0.5, 1.5), 0.0)
        a7 = max(now * rng.uniform(0.5, 1.5), 0.0)
        return UsageStats(a24, a7, max(a24, a7, now) * rng.uniform(1.0, 2.0), rng.normal(0, scale))

    guests = {}
    for g in snap.guests:
        if rng.random() < 0.8:
            guests[g.vmid] = {"cpu": stats(g.cpu * g.maxcpu, 0.3), "mem": stats(float(g.mem), 2**28),
                              "disk": stats(g.diskread + g.diskwrite, 1e6)}
    nodes = {}
    for nd in snap.nodes:
        if rng.random() < 0.8:
            nodes[nd.name] = {"cpu": stats(nd.cpu * nd.maxcpu, 0.5), "mem": stats(float(nd.mem), 2**30),
                              "iowait": stats(nd.iowait, 0.01)}
    return UsageHistory(guests=guests, nodes=nodes)
