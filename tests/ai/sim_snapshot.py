"""A ClusterSnapshot of a simulator scenario read from the in-process model (no HTTP), for size tests on
scenarios too large to collect in a unit test (``large``: 32 nodes, 2,000 guests; collecting it over HTTPS
takes more than a minute). The end-to-end tests use the real collector on small scenarios instead."""

from __future__ import annotations

from proxbalance.model import ClusterSnapshot, Disk, Guest, Node
from proxbalance.pve.parse import parse_ha_rule, split_tags
from proxbalance.sim import SimServer


def sim_snapshot(scenario: str, seed: int = 0) -> ClusterSnapshot:
    sim = SimServer(scenario=scenario, seed=seed, stepped=True)  # never started: no socket
    c = sim.cluster
    s = c.snapshot()
    nodes = tuple(Node(name=n.name, online=n.online, maxcpu=n.cores, cpu=float(s.node_cpu_used[j]) / n.cores,
                       maxmem=n.memory, mem=int(s.node_mem_demand[j]), maintenance=n.maintenance)
                  for j, n in enumerate(c.nodes))
    shared = {st.storage for st in c.storages if st.shared}
    guests = tuple(Guest(vmid=g.vmid, name=g.name, type=g.type, node=g.node, status=g.status, maxcpu=g.cores,
                         cpu=float(s.guest_cpu[i]) / g.cores, maxmem=g.memory, mem=int(s.guest_mem[i]),
                         tags=split_tags(g.tags), ha_managed=c.ha_managed(g), lock=g.lock, template=g.template,
                         passthrough=g.passthrough,
                         disks=tuple(Disk(d.key, d.storage, d.size, d.storage in shared) for d in g.disks))
                   for i, g in enumerate(c.guests))
    rules = tuple(r for r in (parse_ha_rule(dict(row)) for row in c.ha_rules) if r is not None)
    return ClusterSnapshot(time=float(s.t), nodes=nodes, guests=guests, ha_rules=rules, cluster_name=c.name)
