"""Plain frozen dataclasses shared by every layer.

Units everywhere in these objects: CPU as a fraction of the object's own ``maxcpu`` cores (as PVE reports it),
memory and disk in bytes, rates in bytes per second, times as Unix seconds (float), PSI in percent of time
stalled. Percentages for humans are computed only at the edges (API, UI).

The collector produces a :class:`ClusterSnapshot`; the store persists and returns it; the engine turns a
snapshot plus :class:`UsageHistory` into arrays. Nothing here does I/O.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

GuestType = Literal["qemu", "lxc"]


@dataclass(frozen=True, slots=True)
class Node:
    name: str
    online: bool
    maxcpu: int  # cores (threads) of the host
    cpu: float  # fraction of maxcpu busy, 0..1
    maxmem: int  # bytes
    mem: int  # bytes used on the host
    iowait: float = 0.0  # fraction 0..1
    loadavg: float = 0.0  # 1-minute load average
    netin: float = 0.0  # bytes/s
    netout: float = 0.0  # bytes/s
    pressure_cpu_some: float = 0.0  # PSI, % of time stalled
    pressure_io_some: float = 0.0
    pressure_io_full: float = 0.0
    pressure_mem_some: float = 0.0
    pressure_mem_full: float = 0.0
    maintenance: bool = False  # HA maintenance mode
    reachable: bool = True  # False when the node did not answer during collection
    uptime: int = 0
    pve_version: str = ""


@dataclass(frozen=True, slots=True)
class Disk:
    """One guest disk/volume: ``key`` is the config key (scsi0, rootfs, mp0, ...)."""

    key: str
    storage: str
    size: int  # bytes
    shared: bool = False  # True when the storage is shared (ceph, nfs, ...)


@dataclass(frozen=True, slots=True)
class Guest:
    vmid: int
    name: str
    type: GuestType
    node: str
    status: str  # running | stopped | paused ...
    maxcpu: float  # configured cores
    cpu: float  # fraction of maxcpu busy, 0..1
    maxmem: int  # configured memory, bytes
    mem: int  # memory used on the host, bytes
    maxdisk: int = 0  # bytes
    diskread: float = 0.0  # bytes/s
    diskwrite: float = 0.0  # bytes/s
    netin: float = 0.0  # bytes/s
    netout: float = 0.0  # bytes/s
    tags: tuple[str, ...] = ()
    ha_managed: bool = False
    ha_state: str | None = None
    lock: str | None = None
    template: bool = False
    pool: str | None = None
    disks: tuple[Disk, ...] = ()
    passthrough: bool = False  # PCI/USB passthrough or other local resource that blocks migration
    bind_mounts: bool = False  # CT bind mounts / device mounts (not migratable)
    uptime: int = 0

    @property
    def sid(self) -> str:
        """HA service id as PVE writes it: ``vm:100`` or ``ct:101``."""
        return f"{'vm' if self.type == 'qemu' else 'ct'}:{self.vmid}"

    @property
    def local_disk_bytes(self) -> int:
        return sum(d.size for d in self.disks if not d.shared)


@dataclass(frozen=True, slots=True)
class Storage:
    """A storage as seen on one node (shared storages appear once per node that has them)."""

    storage: str
    node: str
    type: str  # lvmthin, dir, zfspool, rbd, nfs, ...
    shared: bool
    total: int  # bytes
    used: int  # bytes
    active: bool = True
    enabled: bool = True
    content: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class HARule:
    """PVE 9 HA rule. ``nodes`` maps node name to priority (node-affinity only)."""

    rule: str
    type: Literal["node-affinity", "resource-affinity"]
    resources: tuple[str, ...]  # HA sids, e.g. ("vm:100", "ct:101")
    nodes: tuple[tuple[str, int], ...] = ()
    strict: bool = False
    affinity: Literal["positive", "negative"] | None = None
    disabled: bool = False


@dataclass(frozen=True, slots=True)
class ClusterSnapshot:
    """Everything one collection cycle saw, at one instant."""

    time: float  # Unix seconds when the cycle started
    nodes: tuple[Node, ...]
    guests: tuple[Guest, ...]
    storages: tuple[Storage, ...] = ()
    ha_rules: tuple[HARule, ...] = ()
    quorate: bool = True
    cluster_name: str = ""
    errors: tuple[str, ...] = ()  # per-node or per-endpoint problems seen during the cycle
    duration: float = 0.0  # seconds the cycle took

    def node(self, name: str) -> Node | None:
        return next((n for n in self.nodes if n.name == name), None)

    def guest(self, vmid: int) -> Guest | None:
        return next((g for g in self.guests if g.vmid == vmid), None)


@dataclass(frozen=True, slots=True)
class UsageStats:
    """Aggregates of one metric over a window. Units are those of the metric (cores, bytes, bytes/s)."""

    avg_24h: float
    avg_7d: float
    max_7d: float
    slope_per_day: float = 0.0  # trend: units per day (least squares over the 7-day window)


STAT_FIELDS = ("avg_24h", "avg_7d", "max_7d", "slope_per_day")


@dataclass(frozen=True, slots=True)
class HistoryTable:
    """Usage stats of many entities as one array: ``values[i, j, k]`` is stat ``STAT_FIELDS[k]`` of metric
    ``metrics[j]`` for entity ``keys[i]`` (units those of :class:`UsageStats`)."""

    keys: tuple  # vmids (int) or node names (str)
    metrics: tuple[str, ...]
    values: Any  # numpy array (K, M, 4) float

    def to_dict(self) -> dict:
        out = {}
        for i, k in enumerate(self.keys):
            row = self.values[i].tolist()
            out[k] = {m: UsageStats(*row[j]) for j, m in enumerate(self.metrics)}
        return out


class UsageHistory:
    """History blends the store computes for the engine.

    ``guests[vmid][metric]`` and ``nodes[name][metric]`` with metric in
    ``cpu`` (cores busy), ``mem`` (bytes), ``iowait`` (fraction, nodes only), ``disk`` (bytes/s read+write),
    ``net`` (bytes/s in+out). Missing entries mean "no history yet": use the current value.

    The store answers with :class:`HistoryTable` arrays (``guest_table`` / ``node_table``, what the engine
    reads); the dicts are then built on first use.
    """

    __slots__ = ("_guests", "_nodes", "guest_table", "node_table")

    def __init__(self, guests: dict | None = None, nodes: dict | None = None,
                 guest_table: HistoryTable | None = None, node_table: HistoryTable | None = None):
        self._guests = guests if guests is not None or guest_table is not None else {}
        self._nodes = nodes if nodes is not None or node_table is not None else {}
        self.guest_table, self.node_table = guest_table, node_table

    @property
    def guests(self) -> dict[int, dict[str, UsageStats]]:
        if self._guests is None:
            self._guests = self.guest_table.to_dict()
        return self._guests

    @property
    def nodes(self) -> dict[str, dict[str, UsageStats]]:
        if self._nodes is None:
            self._nodes = self.node_table.to_dict()
        return self._nodes

    def __eq__(self, other: object) -> bool:
        return isinstance(other, UsageHistory) and self.guests == other.guests and self.nodes == other.nodes

    def __repr__(self) -> str:
        return f"UsageHistory({len(self.guests)} guests, {len(self.nodes)} nodes)"
