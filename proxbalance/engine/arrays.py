"""ClusterArrays: the cluster as numpy arrays, built once per snapshot.

Resources (axis R, see :data:`RES`): ``cpu`` cores busy, ``mem`` bytes used on the host, ``iowait``
fraction of node time, ``net`` bytes/s in+out, ``cfgmem`` configured memory in bytes (overcommit),
``count`` guests. Demand kinds: ``now`` (current sample), ``blend`` (current / 24 h / 7 d blended with the
config's weights), ``avg7`` (7-day average), ``max7`` (7-day maximum), ``slope`` (units per day).

Guest arrays are ``(n_guests, R)``, node arrays ``(n_nodes, R)``; node arrays hold the node's *total*
load (its guests plus host overhead), so moving guest g from s to t is ``n[s] -= g; n[t] += g``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from ..model import ClusterSnapshot, HistoryTable, UsageHistory
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
    members: Sequence[np.ndarray] | None = None  # unit -> guest rows, when rows are units (see units.py)
    anti_strict: np.ndarray | None = None  # (Ka,) bool: the anti-affinity group is a hard filter
    need_id: np.ndarray | None = None  # (G,) int: the guest's storage combination (key of storage_maps)
    storage_maps: dict = field(default_factory=dict)  # (need_id, node) -> {src storage: target storage}
    prev_choice: np.ndarray | None = None  # (G,) node chosen by the previous plan (-1: none; terms/stability.py)
    forecast: dict | None = None  # predicted node peaks for terms/forecast.py (set by proxbalance.forecasts)
    # arrays derived from the fields above once (State.gall); a replace() starts a new one
    derived: dict = field(default_factory=dict, init=False, repr=False, compare=False)

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


def _history(table: HistoryTable | None, stats: dict, keys: list, metrics: tuple[str, ...]):
    """``(have (K, M) bool, values (K, M, 4))`` of the entities ``keys`` (stats as in ``STAT_FIELDS``), from
    the store's array form when there is one, else from the dicts."""
    K, M = len(keys), len(metrics)
    have = np.zeros((K, M), dtype=bool)
    vals = np.zeros((K, M, 4))
    if table is not None:
        at = {k: i for i, k in enumerate(table.keys)}
        rows = np.array([at.get(k, -1) for k in keys], dtype=np.int64)
        hit = rows >= 0
        cols = [table.metrics.index(m) if m in table.metrics else -1 for m in metrics]
        for j, c in enumerate(cols):
            if c >= 0 and hit.any():
                have[hit, j] = True
                vals[hit, j] = table.values[rows[hit], c]
        return have, vals
    zero = (0.0, 0.0, 0.0, 0.0)
    empty: dict = {}
    rows = [[stats.get(k, empty).get(m) for m in metrics] for k in keys]
    have = np.array([[st is not None for st in r] for r in rows], dtype=bool).reshape(K, M)
    vals = np.array([[zero if st is None else (st.avg_24h, st.avg_7d, st.max_7d, st.slope_per_day) for st in r]
                     for r in rows], dtype=float).reshape(K, M, 4)
    return have, vals


def _kinds(cfg: PenaltyConfig, now: np.ndarray, have: np.ndarray, h: np.ndarray) -> list[np.ndarray]:
    """Per kind (``KINDS`` order) the ``(K, M)`` values from current values ``now`` and history ``h``
    (``(K, M, 4)``, used where ``have``): the 7-day max is at least the current value; no history: current
    value throughout, slope 0."""
    a24 = np.where(have, h[..., 0], now)
    a7 = np.where(have, h[..., 1], now)
    mx = np.where(have, np.maximum(h[..., 2], now), now)
    sl = np.where(have, h[..., 3], 0.0)
    return [now, _blend(cfg, now, a24, a7), a7, mx, sl]


_LAST_COLUMNS: tuple = ((), {})  # (guests tuple, its columns): the last snapshot's, by identity


def _guest_columns(guests: tuple) -> dict:
    """Per-guest columns of ``snapshot.guests`` (read-only arrays): ``gf`` ``(G, 7)`` cpu fraction, maxcpu,
    mem, maxmem, disk r+w, net in+out, local disk bytes; ``running``, ``template``, ``ha_managed`` bool;
    ``vmids``, ``nodes``, ``names``, ``types`` lists. The tuple is immutable, so the columns of the last one
    are kept by identity (repeated decisions on one collection build them once)."""
    global _LAST_COLUMNS
    last = _LAST_COLUMNS
    if last[0] is guests and guests:
        return last[1]
    G = len(guests)
    cols = {
        "gf": np.array([(gu.cpu, gu.maxcpu, gu.mem, gu.maxmem, gu.diskread + gu.diskwrite, gu.netin + gu.netout,
                         gu.local_disk_bytes) for gu in guests], dtype=float).reshape(G, 7),
        "running": np.array([gu.status == "running" for gu in guests], dtype=bool),
        "template": np.array([gu.template for gu in guests], dtype=bool),
        "ha_managed": np.array([gu.ha_managed for gu in guests], dtype=bool),
        "vmids": [gu.vmid for gu in guests], "nodes": [gu.node for gu in guests],
        "names": [gu.name for gu in guests], "types": [gu.type for gu in guests],
    }
    for v in cols.values():
        if isinstance(v, np.ndarray):
            v.flags.writeable = False
    if isinstance(guests, tuple):
        _LAST_COLUMNS = (guests, cols)
    return cols


def _take(cols: dict, keep: np.ndarray | None) -> dict:
    """The columns of the guests ``keep`` (None: all)."""
    if keep is None:
        return cols
    idx = np.flatnonzero(keep)
    return {k: (v[idx] if isinstance(v, np.ndarray) else [v[i] for i in idx.tolist()]) for k, v in cols.items()}


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
    allc = _guest_columns(snapshot.guests)
    known = set(allc["nodes"]) <= node_idx.keys()
    keep = None if known else np.array([nd in node_idx for nd in allc["nodes"]], dtype=bool)
    guests = list(snapshot.guests) if known else [gu for gu in snapshot.guests if gu.node in node_idx]
    gc = _take(allc, keep)
    G, N, R = len(guests), len(nodes), len(RES)

    iow_scale = cfg.iowait_pct_per_100mbs / 100.0 / (100.0 * MIB)
    iow_cap = cfg.iowait_guest_cap_pct / 100.0
    vmids = gc["vmids"]
    running, template = gc["running"], gc["template"]
    run = running & ~template
    gf = gc["gf"]
    now = np.where(run[:, None], np.stack([gf[:, 0] * gf[:, 1], gf[:, 2], gf[:, 4], gf[:, 5]], 1), 0.0)
    have, hv = _history(history.guest_table, history._guests or {}, vmids, ("cpu", "mem", "disk", "net"))
    have &= run[:, None]  # history of a guest that is not running now does not count
    g = {k: np.zeros((G, R)) for k in KINDS}
    for k, v in zip(KINDS, _kinds(cfg, now, have, hv), strict=True):
        g[k][:, [CPU, MEM, IOW, NET]] = v
        if k == "slope":
            g[k][:, IOW] *= iow_scale
        else:
            g[k][:, IOW] = np.minimum(g[k][:, IOW] * iow_scale, iow_cap)
            g[k][:, CFG] = np.where(run, gf[:, 3], 0.0)
            g[k][:, CNT] = np.where(template, 0.0, 1.0)

    placement = np.array([node_idx[nd] for nd in gc["nodes"]], dtype=np.int64)
    nf = np.array([(nd.maxcpu, nd.maxmem, nd.cpu * nd.maxcpu, nd.mem, nd.iowait, nd.netin + nd.netout)
                   for nd in nodes], dtype=float).reshape(N, 6)
    cap = np.stack([np.maximum(nf[:, 0], 1), np.maximum(nf[:, 1], 1), np.ones(N), np.full(N, cfg.node_net_capacity),
                    np.maximum(nf[:, 1], 1), np.ones(N)], 1) if N else np.zeros((0, R))
    nhave, nhv = _history(history.node_table, history._nodes or {}, [nd.name for nd in nodes],
                          ("cpu", "mem", "iowait", "net"))
    n = {k: np.zeros((N, R)) for k in KINDS}
    for k, v in zip(KINDS, _kinds(cfg, nf[:, 2:6], nhave, nhv), strict=True):
        n[k][:, [CPU, MEM, IOW, NET]] = v
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
    mem, maxmem = gf[:, 2], gf[:, 3]
    mem_run = np.where(running, mem, 0.0)
    mem_hard = mem_run + cfg.mem_safety_margin * np.maximum(np.where(running, maxmem, 0.0) - mem_run, 0.0)
    types = list(gc["types"])
    is_ct = np.array([t == "lxc" for t in types], dtype=bool)
    copy_bytes = gf[:, 6] + np.where(running & ~is_ct, mem, 0.0)
    return ClusterArrays(
        node_names=[nd.name for nd in nodes],
        vmids=np.array(vmids, dtype=np.int64),
        names=list(gc["names"]),
        types=types,
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
        running=running.copy(),
        is_ct=is_ct,
        ct_running=(is_ct & running).astype(float),
        ha_managed=gc["ha_managed"].copy(),
        has_history=_has_history(history, vmids),
        **m,
    )


def _has_history(history: UsageHistory, vmids: list[int]) -> np.ndarray:
    keys = set(history.guest_table.keys) if history.guest_table is not None else history.guests
    return np.array([v in keys for v in vmids], dtype=bool)
