"""ClusterArrays: the cluster as numpy arrays, built once per snapshot.

Resources (axis R, see :data:`RES`): ``cpu`` cores busy, ``mem`` bytes used on the host, ``iowait``
fraction of node time, ``net`` bytes/s in+out, ``cfgmem`` configured memory in bytes (overcommit),
``count`` guests. Demand kinds: ``now`` (current sample), ``blend`` (current / 24 h / 7 d blended with the
config's weights), ``avg7`` (7-day average), ``max7`` (7-day maximum), ``slope`` (units per day).

Guest arrays are ``(n_guests, R)``, node arrays ``(n_nodes, R)``; node arrays hold the node's *total*
load (its guests plus host overhead), so moving guest g from s to t is ``n[s] -= g; n[t] += g``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from ..model import ClusterSnapshot, UsageHistory
from .config import PenaltyConfig
from .masks import build_masks

RES = ("cpu", "mem", "iowait", "net", "cfgmem", "count")
CPU, MEM, IOW, NET, CFG, CNT = range(6)
KINDS = ("now", "blend", "avg7", "max7", "slope")
MIB = 1024.0**2


@dataclass
class ClusterArrays:
    """Arrays of one cluster state. Shapes: G guests (or movable units), N nodes, R = len(RES)."""

    node_names: list[str]
    vmids: np.ndarray  # (G,) int64
    names: list[str]
    types: list[str]  # "qemu" | "lxc"
    placement: np.ndarray  # (G,) int node index
    g: dict[str, np.ndarray]  # kind -> (G, R) guest demand
    n: dict[str, np.ndarray]  # kind -> (N, R) node total load
    cap: np.ndarray  # (N, R) capacity: cores, bytes, 1, bytes/s, bytes, 1
    online: np.ndarray  # (N,) bool: online and reachable
    maintenance: np.ndarray  # (N,) bool
    psi: np.ndarray  # (N, 3) PSI some % for cpu, mem, io
    mem_hard: np.ndarray  # (G,) bytes counted by the memory limit filter
    copy_bytes: np.ndarray  # (G,) bytes a migration copies
    running: np.ndarray  # (G,) bool
    is_ct: np.ndarray  # (G,) bool
    ct_running: np.ndarray  # (G,) float: running containers (a unit counts its members)
    ha_managed: np.ndarray  # (G,) bool
    has_history: np.ndarray  # (G,) bool
    skip: np.ndarray  # (G,) object: "" = movable, else the skip reason
    storage_ok: np.ndarray  # (G, N) bool
    ha_allowed: np.ndarray  # (G, N) bool (strict node-affinity)
    ha_outside: np.ndarray  # (G, N) bool (non-strict node-affinity: node not in the rule)
    ha_steps: np.ndarray  # (G, N) float priority steps below the rule's best node
    anti: np.ndarray  # (G, Ka) float membership in anti-affinity groups
    aff: np.ndarray  # (G, Kp) float membership in affinity groups
    anti_groups: list[str] = field(default_factory=list)
    aff_groups: list[str] = field(default_factory=list)
    members: list[np.ndarray] | None = None  # unit -> guest rows, when rows are units (see units.py)
    anti_strict: np.ndarray | None = None  # (Ka,) bool: the anti-affinity group is a hard filter
    need_id: np.ndarray | None = None  # (G,) int: the guest's storage combination (key of storage_maps)
    storage_maps: dict = field(default_factory=dict)  # (need_id, node) -> {src storage: target storage}
    prev_choice: np.ndarray | None = None  # (G,) node chosen by the previous plan (-1: none; terms/stability.py)
    forecast: dict | None = None  # predicted node peaks for terms/forecast.py (set by proxbalance.forecasts)

    def strict_groups(self) -> np.ndarray:
        """(Ka,) bool: anti-affinity groups that are hard filters (all of them when unknown)."""
        if self.anti_strict is None or len(self.anti_strict) != self.anti.shape[1]:
            return np.ones(self.anti.shape[1], dtype=bool)
        return self.anti_strict

    def target_storage(self, row: int, node: int) -> dict[str, str] | None:
        """Storage mapping guest ``row`` needs on ``node`` (None: every disk's storage is there)."""
        if self.need_id is None or row >= len(self.need_id):
            return None
        return self.storage_maps.get((int(self.need_id[row]), int(node)))

    @property
    def n_guests(self) -> int:
        return len(self.vmids)

    @property
    def n_nodes(self) -> int:
        return len(self.node_names)

    def index_of(self, vmid: int) -> int:
        hit = np.flatnonzero(self.vmids == vmid)
        if not len(hit):
            raise KeyError(vmid)
        return int(hit[0])


def _blend(cfg: PenaltyConfig, now, a24, a7):
    return cfg.weight_current * now + cfg.weight_24h * a24 + cfg.weight_7d * a7


def build_arrays(
    snapshot: ClusterSnapshot, history: UsageHistory | None = None, cfg: PenaltyConfig | None = None
) -> ClusterArrays:
    """Turn a snapshot (+ optional history blends) into :class:`ClusterArrays`.

    Guests on nodes missing from the snapshot are left out. ``cfg`` supplies the time weights, the memory
    safety margin, the iowait model, the network capacity and the stopped / HA policies.
    """
    cfg = cfg or PenaltyConfig.defaults()
    history = history or UsageHistory()
    nodes = list(snapshot.nodes)
    node_idx = {nd.name: i for i, nd in enumerate(nodes)}
    guests = [gu for gu in snapshot.guests if gu.node in node_idx]
    G, N, R = len(guests), len(nodes), len(RES)

    iow_scale = cfg.iowait_pct_per_100mbs / 100.0 / (100.0 * MIB)
    iow_cap = cfg.iowait_guest_cap_pct / 100.0
    g = {k: np.zeros((G, R)) for k in KINDS}
    for i, gu in enumerate(guests):
        run = gu.status == "running" and not gu.template
        h = history.guests.get(gu.vmid, {})
        cpu = gu.cpu * gu.maxcpu if run else 0.0
        mem = float(gu.mem) if run else 0.0
        disk = gu.diskread + gu.diskwrite if run else 0.0
        net = gu.netin + gu.netout if run else 0.0
        cur = {"cpu": cpu, "mem": mem, "disk": disk, "net": net}
        for col, metric in ((CPU, "cpu"), (MEM, "mem"), (IOW, "disk"), (NET, "net")):
            st = h.get(metric) if run else None
            now = cur[metric]
            a24, a7, mx, sl = (st.avg_24h, st.avg_7d, max(st.max_7d, now), st.slope_per_day) if st else (
                now, now, now, 0.0)
            vals = (now, _blend(cfg, now, a24, a7), a7, mx, sl)
            if col == IOW:
                vals = tuple(min(v * iow_scale, iow_cap) for v in vals[:4]) + (vals[4] * iow_scale,)
            for k, v in zip(KINDS, vals, strict=True):
                g[k][i, col] = v
        for k in KINDS[:4]:
            g[k][i, CFG] = float(gu.maxmem) if run else 0.0
            g[k][i, CNT] = 0.0 if gu.template else 1.0

    placement = np.array([node_idx[gu.node] for gu in guests], dtype=np.int64)
    cap = np.zeros((N, R))
    n = {k: np.zeros((N, R)) for k in KINDS}
    for j, nd in enumerate(nodes):
        cap[j] = (max(nd.maxcpu, 1), max(nd.maxmem, 1), 1.0, cfg.node_net_capacity, max(nd.maxmem, 1), 1.0)
        h = history.nodes.get(nd.name, {})
        cur = {"cpu": nd.cpu * nd.maxcpu, "mem": float(nd.mem), "iowait": nd.iowait, "net": nd.netin + nd.netout}
        for col, metric in ((CPU, "cpu"), (MEM, "mem"), (IOW, "iowait"), (NET, "net")):
            now, st = cur[metric], h.get(metric)
            a24, a7, mx, sl = (st.avg_24h, st.avg_7d, max(st.max_7d, now), st.slope_per_day) if st else (
                now, now, now, 0.0)
            for k, v in zip(KINDS, (now, _blend(cfg, now, a24, a7), a7, mx, sl), strict=True):
                n[k][j, col] = v
    for k in KINDS[:4]:  # configured memory and count are sums over the node's guests
        for col in (CFG, CNT):
            n[k][:, col] = np.bincount(placement, weights=g[k][:, col], minlength=N)
    # a node's instantaneous total can't be below the sum of its guests (sampling skew); its 7-day maximum is
    # the node's own measured maximum, at least its guests' current sum (not the sum of the guests' maxima,
    # which peak at different times)
    for k in KINDS[:4]:
        sums = np.zeros((N, R))
        np.add.at(sums, placement, g["now" if k == "max7" else k])
        n[k] = np.maximum(n[k], sums)

    m = build_masks(snapshot, guests, nodes, cfg)
    running = np.array([gu.status == "running" for gu in guests], dtype=bool)
    mem = np.array([float(gu.mem) for gu in guests])
    maxmem = np.array([float(gu.maxmem) for gu in guests])
    mem_run = np.where(running, mem, 0.0)
    mem_hard = mem_run + cfg.mem_safety_margin * np.maximum(np.where(running, maxmem, 0.0) - mem_run, 0.0)
    is_ct = np.array([gu.type == "lxc" for gu in guests], dtype=bool)
    local = np.array([float(gu.local_disk_bytes) for gu in guests])
    copy_bytes = local + np.where(running & ~is_ct, mem, 0.0)
    return ClusterArrays(
        node_names=[nd.name for nd in nodes],
        vmids=np.array([gu.vmid for gu in guests], dtype=np.int64),
        names=[gu.name for gu in guests],
        types=[gu.type for gu in guests],
        placement=placement,
        g=g,
        n=n,
        cap=cap,
        online=np.array([nd.online and nd.reachable for nd in nodes], dtype=bool),
        maintenance=np.array([nd.maintenance for nd in nodes], dtype=bool),
        psi=np.array([[nd.pressure_cpu_some, nd.pressure_mem_some, nd.pressure_io_some] for nd in nodes],
                     dtype=float).reshape(N, 3),
        mem_hard=mem_hard,
        copy_bytes=copy_bytes,
        running=running,
        is_ct=is_ct,
        ct_running=(is_ct & running).astype(float),
        ha_managed=np.array([gu.ha_managed for gu in guests], dtype=bool),
        has_history=np.array([gu.vmid in history.guests for gu in guests], dtype=bool),
        **m,
    )
