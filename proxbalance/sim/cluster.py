"""The in-process cluster model: nodes, guests, storages, pools, HA, options, quorum, and its clock.

The model is mutated only under ``Cluster.lock`` and only through methods that bump ``version`` (so cached
API answers are dropped). Every scheduled event (a migration ending, an HA request being acted on, a
scenario fault) runs at its own sim time in order, whenever time is next looked at (``sync``), so what
happens never depends on how often the API is polled.
"""

from __future__ import annotations

import heapq
import threading
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from proxbalance.sim import load
from proxbalance.sim.clock import SimClock
from proxbalance.sim.traces import Trace

NEVER = -1e18


@dataclass
class SimNode:
    name: str
    nodeid: int
    ip: str
    cores: int
    memory: int  # bytes
    online: bool = True
    maintenance: bool = False
    boot_time: float = 0.0
    rootfs: int = 100 * 1024**3
    root_used: int = 30 * 1024**3  # bytes used on / (set per node by the scenario builder)
    swap: int = 8 * 1024**3
    cpu_model: str = "AMD EPYC 7402P 24-Core Processor"
    sockets: int = 1


@dataclass
class SimDisk:
    key: str  # scsi0, virtio1, rootfs, mp0 ...
    storage: str
    size: int  # bytes

    def volid(self, vmid: int, n: int) -> str:
        return f"{self.storage}:vm-{vmid}-disk-{n}"


@dataclass
class SimGuest:
    vmid: int
    name: str
    type: str  # qemu | lxc
    node: str
    status: str  # running | stopped
    cores: int
    memory: int  # configured, bytes
    disks: list[SimDisk] = field(default_factory=list)
    tags: str = ""
    template: bool = False
    pool: str | None = None
    lock: str | None = None
    passthrough: bool = False
    trace_row: int = 0
    offset: float = 0.0
    scale: float = 1.0
    start_time: float = 0.0
    history: list[tuple[float, int, bool]] = field(default_factory=list)  # (t, node index, running)

    @property
    def sid(self) -> str:
        return f"{'vm' if self.type == 'qemu' else 'ct'}:{self.vmid}"

    @property
    def maxdisk(self) -> int:
        boot = [d for d in self.disks if d.key in ("scsi0", "virtio0", "sata0", "rootfs")]
        return (boot or self.disks or [SimDisk("", "", 0)])[0].size


@dataclass
class SimStorage:
    storage: str
    type: str  # rbd, lvmthin, dir, zfspool, nfs
    shared: bool
    content: str
    size: int  # bytes per node (or for the whole shared pool)
    nodes: list[str] | None = None  # None = all nodes

    def on(self, node: str) -> bool:
        return self.nodes is None or node in self.nodes


class Cluster:
    def __init__(self, *, name: str, nodes: list[SimNode], guests: list[SimGuest], storages: list[SimStorage],
                 pools: dict[str, str], ha_resources: dict[str, dict], ha_rules: list[dict],
                 options: dict, trace: Trace, clock: SimClock, seed: int = 0, bandwidth: float = 500 * 2**20):
        self.name = name
        self.nodes = nodes
        self.guests = guests
        self.storages = storages
        self.pools = pools
        self.ha_resources = ha_resources
        self.ha_rules = ha_rules
        self.options = options
        self.trace = trace
        self.clock = clock
        self.seed = seed
        self.bandwidth = bandwidth  # migration bytes/s
        self.quorate = True
        self.ha_service_state: dict[str, str] = {}  # sid -> HA manager state when not the config's (migrate, fence...)
        self.ha_node_state: dict[str, str] = {}  # node -> HA node state when not online/maintenance (fence, unknown)
        self.lock = threading.RLock()
        self.version = 0
        self.spikes: list[tuple[int, float, float, float]] = []
        self.fail_migrations: dict[int, int] = {}  # vmid -> how many next migrations fail
        self.node_index = {n.name: i for i, n in enumerate(nodes)}
        self.guest_index = {g.vmid: i for i, g in enumerate(guests)}
        self._events: list[tuple[float, int, Callable[[float], None]]] = []
        self._seq = 0
        self._syncing = False
        self._cache: tuple[tuple, load.Snapshot] | None = None
        self.anchor = clock.epoch
        self.cores = np.array([n.cores for n in nodes], dtype=np.float64)
        self.memory = np.array([n.memory for n in nodes], dtype=np.float64)
        self.params = load.GuestParams(
            rows=np.array([g.trace_row % trace.n_vms for g in guests], dtype=np.int64),
            offset=np.array([g.offset for g in guests], dtype=np.float64),
            scale=np.array([g.scale for g in guests], dtype=np.float64),
            cores=np.array([g.cores for g in guests], dtype=np.float64),
            maxmem=np.array([g.memory for g in guests], dtype=np.float64))
        for g in guests:
            if not g.history:
                g.history = [(NEVER, self.node_index[g.node], g.status == "running")]

    # ---- time and events -------------------------------------------------------------------------
    def now(self) -> float:
        return self.clock.now()

    def schedule(self, at: float, fn: Callable[[float], None]) -> None:
        with self.lock:
            self._seq += 1
            heapq.heappush(self._events, (at, self._seq, fn))

    def sync(self) -> float:
        """Run every event due by now, in time order; return now. Not re-entered from inside an event."""
        with self.lock:
            now = self.now()
            if self._syncing:
                return now
            self._syncing = True
            try:
                while self._events and self._events[0][0] <= now:
                    at, _, fn = heapq.heappop(self._events)
                    fn(at)
                    self.version += 1
            finally:
                self._syncing = False
            return now

    def advance(self, seconds: float) -> float:
        self.clock.advance(seconds)
        return self.sync()

    def touch(self) -> None:
        self.version += 1

    # ---- lookups ---------------------------------------------------------------------------------
    def node(self, name: str) -> SimNode | None:
        i = self.node_index.get(name)
        return None if i is None else self.nodes[i]

    def guest(self, vmid: int) -> SimGuest | None:
        i = self.guest_index.get(int(vmid))
        return None if i is None else self.guests[i]

    def storage(self, sid: str) -> SimStorage | None:
        return next((s for s in self.storages if s.storage == sid), None)

    def ha_managed(self, g: SimGuest) -> bool:
        return g.sid in self.ha_resources

    def hastate(self, sid: str) -> str:
        """The HA manager's service state as /cluster/resources reports it: the manager's service_status state,
        else the resource config's (pve-manager PVE/API2/Cluster.pm, resources)."""
        if sid in self.ha_service_state:
            return self.ha_service_state[sid]
        state = self.ha_resources[sid]["state"]
        return {"disabled": "stopped"}.get(state, state)

    def node_hastate(self, n: SimNode) -> str:
        """HA node_status of the manager: online, maintenance, fence, unknown (pve-ha-manager NodeStatus.pm)."""
        if n.name in self.ha_node_state:
            return self.ha_node_state[n.name]
        if not n.online:
            return "unknown"
        return "maintenance" if n.maintenance else "online"

    # ---- state changes (each records history at its own time) ------------------------------------
    def move_guest(self, g: SimGuest, target: str, at: float, running: bool | None = None) -> None:
        running = (g.status == "running") if running is None else running
        g.node = target
        self._set(g, at, running)

    def set_running(self, g: SimGuest, running: bool, at: float) -> None:
        self._set(g, at, running)

    def _set(self, g: SimGuest, at: float, running: bool) -> None:
        was = g.status == "running"
        g.status = "running" if running else "stopped"
        if running and (not was or g.history[-1][1] != self.node_index[g.node]):
            g.start_time = at  # a new QEMU process / container: counters and uptime restart
        g.history.append((at, self.node_index[g.node], running))
        self.touch()

    # ---- arrays ----------------------------------------------------------------------------------
    def placement(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(node_of (G,) int, active (G,) bool, since (G,) float) for the current state."""
        node_of = np.array([self.node_index[g.node] for g in self.guests], dtype=np.int64)
        online = np.array([n.online for n in self.nodes])
        running = np.array([g.status == "running" for g in self.guests])
        since = np.array([g.start_time for g in self.guests], dtype=np.float64)
        return node_of, running & online[node_of], since

    @property
    def quantum(self) -> float:
        """Sim seconds one load computation stands for: 10 s (PVE's status interval), or one real second's worth
        when the clock runs faster than 10x, so a fast demo recomputes about once a second, not 6 times."""
        return 10.0 if self.clock.stepped else max(10.0, self.clock.speed)

    def snapshot(self, quantum: float | None = None, at: float | None = None) -> load.Snapshot:
        """The cluster's load at now (or at ``at``), quantised to ``quantum`` sim seconds (default
        :attr:`quantum`), cached per state version. Events use ``at`` so what they see does not depend on when
        time was next looked at."""
        quantum = self.quantum if quantum is None else quantum
        with self.lock:
            now = self.sync() if at is None else at
            qt = float(np.floor(now / quantum) * quantum)
            key = (qt, self.version)
            if self._cache is not None and self._cache[0] == key:
                return self._cache[1]
            node_of, active, since = self.placement()
            snap = load.snapshot(self.trace, self.params, node_of, active, since, self.cores, self.memory,
                                 qt, self.anchor, self.spikes)
            self._cache = (key, snap)
            return snap
