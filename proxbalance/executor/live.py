"""A live view of the cluster read from PVE just before acting: the numbers validation trusts.

``LiveView.read(pve)`` makes 4 calls (``/cluster/resources``, ``/cluster/status``, ``/cluster/tasks``,
``/cluster/ha/status/manager_status``); ``config_of`` and ``ha_rules`` add one call each, made only when a
check needs them. Units are PVE's: CPU fractions of ``maxcpu``, memory in bytes, times in Unix seconds.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from proxbalance.errors import NotFoundError
from proxbalance.model import HARule
from proxbalance.pve.api import PveApi
from proxbalance.pve.parse import GuestConfig, as_bool, as_float, as_int, parse_guest_config, split_tags

MIGRATION_TASK_TYPES = ("qmigrate", "vzmigrate", "hamigrate")


@dataclass
class LiveGuest:
    vmid: int
    type: str  # qemu | lxc
    node: str
    name: str
    status: str
    template: bool
    lock: str | None
    mem: int  # bytes used on the host (0 when stopped)
    maxmem: int  # bytes configured
    cpu_cores: float  # cores busy: cpu fraction x maxcpu
    maxcpu: float
    tags: tuple[str, ...]
    ha_state: str | None  # hastate of /cluster/resources: the guest is an HA resource when set

    @property
    def sid(self) -> str:
        return f"{'vm' if self.type == 'qemu' else 'ct'}:{self.vmid}"

    @property
    def ha_managed(self) -> bool:
        return self.ha_state is not None and self.ha_state not in ("ignored",)

    @property
    def kind(self) -> str:
        return "VM" if self.type == "qemu" else "CT"


@dataclass
class LiveNode:
    name: str
    online: bool
    maxcpu: int
    cpu: float  # fraction 0..1
    maxmem: int
    mem: int
    ha_maintenance: bool = False


@dataclass
class LiveView:
    guests: dict[int, LiveGuest]
    nodes: dict[str, LiveNode]
    storages: dict[str, dict[str, dict[str, Any]]]  # node -> storage -> /cluster/resources row
    tasks: list[dict[str, Any]]  # /cluster/tasks rows
    quorate: bool
    pve: PveApi
    _configs: dict[int, GuestConfig] = field(default_factory=dict)
    _rules: list[HARule] | None = None

    @classmethod
    def read(cls, pve: PveApi) -> LiveView:
        resources = pve.cluster_resources()
        status = pve.cluster_status()
        tasks = pve.cluster_tasks()
        try:
            ha = pve.ha_manager_status()
        except Exception:  # noqa: BLE001 - HA status is optional (no HA configured)
            ha = {}
        quorate = True
        online: dict[str, bool] = {}
        for row in status:
            if row.get("type") == "cluster":
                quorate = as_bool(row.get("quorate", 0))
            elif row.get("type") == "node" and row.get("name"):
                online[str(row["name"])] = as_bool(row.get("online", 0))
        ha_nodes = ((ha or {}).get("manager_status") or {}).get("node_status") or {}
        nodes: dict[str, LiveNode] = {}
        guests: dict[int, LiveGuest] = {}
        storages: dict[str, dict[str, dict[str, Any]]] = {}
        for r in resources:
            kind = r.get("type")
            if kind == "node":
                name = str(r.get("node"))
                nodes[name] = LiveNode(name=name, online=online.get(name, r.get("status") == "online"),
                                       maxcpu=as_int(r.get("maxcpu")), cpu=as_float(r.get("cpu")),
                                       maxmem=as_int(r.get("maxmem")), mem=as_int(r.get("mem")),
                                       ha_maintenance=ha_nodes.get(name) == "maintenance")
            elif kind in ("qemu", "lxc"):
                vmid = as_int(r.get("vmid"))
                maxcpu = as_float(r.get("maxcpu"))
                guests[vmid] = LiveGuest(
                    vmid=vmid, type=kind, node=str(r.get("node")), name=str(r.get("name", "")),
                    status=str(r.get("status", "")), template=as_bool(r.get("template", 0)),
                    lock=r.get("lock") or None, mem=as_int(r.get("mem")), maxmem=as_int(r.get("maxmem")),
                    cpu_cores=as_float(r.get("cpu")) * maxcpu, maxcpu=maxcpu, tags=split_tags(r.get("tags")),
                    ha_state=r.get("hastate"))
            elif kind == "storage":
                storages.setdefault(str(r.get("node")), {})[str(r.get("storage"))] = r
        return cls(guests=guests, nodes=nodes, storages=storages, tasks=list(tasks or []), quorate=quorate, pve=pve)

    # -- lookups ---------------------------------------------------------------------------------------------
    def guest(self, vmid: int) -> LiveGuest:
        g = self.guests.get(vmid)
        if g is None:
            raise NotFoundError(f"guest {vmid} does not exist in the cluster", code="guest_not_found",
                                details={"vmid": vmid})
        return g

    def node(self, name: str) -> LiveNode:
        n = self.nodes.get(name)
        if n is None:
            raise NotFoundError(f"node {name!r} is not a member of the cluster", code="node_not_found",
                                details={"node": name, "nodes": sorted(self.nodes)})
        return n

    def shared_storages(self) -> frozenset[str]:
        return frozenset(s for per in self.storages.values() for s, r in per.items() if as_bool(r.get("shared", 0)))

    def config_of(self, g: LiveGuest) -> GuestConfig:
        if g.vmid not in self._configs:
            raw = self.pve.guest_config(g.node, g.type, g.vmid)
            self._configs[g.vmid] = parse_guest_config(g.type, raw, self.shared_storages())
        return self._configs[g.vmid]

    def ha_rules(self) -> list[HARule]:
        if self._rules is None:
            self._rules = list(self.pve.ha_rules())
        return self._rules

    def running_migration_tasks(self, vmid: int) -> list[dict[str, Any]]:
        """Running (no endtime/status) qmigrate/vzmigrate/hamigrate tasks of this guest, anywhere."""
        return [t for t in self.tasks if str(t.get("id")) == str(vmid) and t.get("type") in MIGRATION_TASK_TYPES
                and "endtime" not in t and not t.get("status")]

    def storage_on(self, node: str, storage: str) -> bool:
        """Storage present and active on ``node`` (an offline node's storages count as present: the target
        check reports the node itself)."""
        row = self.storages.get(node, {}).get(storage)
        if row is None:
            return False
        n = self.nodes.get(node)
        return row.get("status", "available") == "available" or (n is not None and not n.online)
