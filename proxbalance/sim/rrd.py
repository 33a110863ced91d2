"""rrddata from the trace: node and guest series at PVE's resolutions, AVERAGE and MAX, past included.

Each point covers ``[time - res, time)``. A point is the mean (AVERAGE) or the max (MAX) of sub-window
means at a finer base resolution, which is how RRD consolidates. Placement and running state over time come
from each guest's history, so a migration shows up in both nodes' series at the moment it ended.
"""

from __future__ import annotations

import numpy as np

from proxbalance.sim import load
from proxbalance.sim.cluster import Cluster
from proxbalance.sim.views import ct_disk_used

# timeframe -> (resolution s, points, base sub-window s)
TIMEFRAMES = {
    "hour": (60, 70, 60),
    "day": (1800, 70, 300),
    "week": (10800, 70, 900),
    "month": (43200, 70, 3600),
    "year": (604800, 70, 21600),
    "decade": (604800, 520, 86400),
}


def _times(now: float, timeframe: str) -> tuple[np.ndarray, np.ndarray, int, int]:
    res, n, base = TIMEFRAMES[timeframe]
    end = np.floor(now / res) * res
    times = end - res * np.arange(n - 1, -1, -1, dtype=np.float64)  # (K,)
    nb = res // base
    sub = (times[:, None] - res + base * np.arange(1, nb + 1)[None, :]).ravel()  # (K*nb,) sub-window ends
    return times, sub, nb, base


def _state(c: Cluster, gi: int, t: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(node index (K,), running (K,)) of guest ``gi`` at times ``t`` from its history."""
    h = c.guests[gi].history
    if len(h) == 1:
        return np.full(t.shape, h[0][1]), np.full(t.shape, h[0][2])
    ht = np.array([e[0] for e in h])
    k = np.searchsorted(ht, t, side="right") - 1
    return np.array([e[1] for e in h])[k], np.array([e[2] for e in h])[k]


def _consolidate(x: np.ndarray, nb: int, cf: str) -> np.ndarray:
    x = x.reshape(x.shape[:-1] + (-1, nb))
    return x.max(axis=-1) if cf == "MAX" else x.mean(axis=-1)


def page_cache(n, used: float) -> int:
    """Bytes of page cache on a node: memory neither used nor free (``free`` < ``available``)."""
    return int(min(0.5 * max(n.memory - used, 0), 8 * 1024**3))


def arc_size(c: Cluster, n) -> int:
    """ZFS ARC bytes on a node with a zfspool storage (PVE 9 installs cap it at 10 % of RAM, at most 16 GiB);
    0 without ZFS. pvestatd reports it as ``arcsize`` (pve-manager PVE/Service/pvestatd.pm)."""
    if not any(st.type == "zfspool" and st.on(n.name) for st in c.storages):
        return 0
    return int(0.8 * min(0.1 * n.memory, 16 * 1024**3))


def _node_sums(c: Cluster, ni: int, sub: np.ndarray, base: float) -> np.ndarray:
    """Summed demand (M, T) of the guests running on node ``ni`` at sub-window ends ``sub`` (T,)."""
    sel, masks = [], []
    for gi, g in enumerate(c.guests):
        if all(e[1] != ni for e in g.history):
            continue
        where, running = _state(c, gi, sub)
        m = (where == ni) & running
        if m.any():
            sel.append(gi)
            masks.append(m)
    if not sel:
        return np.zeros((6, sub.size))
    v = load.guest_demand(c.trace, c.params, np.array(sel), sub, base, c.anchor, c.spikes)
    return (v * np.array(masks)[None]).sum(axis=1)


def _node_metrics(c: Cluster, ni: int, sub: np.ndarray, base: float) -> dict[str, np.ndarray]:
    """Node metrics (T,) at sub-window ends ``sub``; cached per (node, grid, cluster version), as every guest
    rrddata call of a node's guests needs the same (host contention), e.g. a collector's backfill."""
    key = (ni, float(sub[0]), float(sub[-1]), sub.size, base, c.version)
    cache = c.__dict__.setdefault("_rrd_node_cache", {})
    hit = cache.get(key)
    if hit is None:
        if len(cache) > 256:
            cache.clear()
        hit = cache[key] = _node_metrics_uncached(c, ni, sub, base)
    return hit


def _node_metrics_uncached(c: Cluster, ni: int, sub: np.ndarray, base: float) -> dict[str, np.ndarray]:
    n = c.nodes[ni]
    s = _node_sums(c, ni, sub, base)
    nm = load.node_metrics(s[0][None], s[1][None], (s[2] + s[3])[None], s[4][None], s[5][None],
                           np.array([n.cores], dtype=np.float64), np.array([n.memory], dtype=np.float64))
    return {k: a[0] for k, a in nm.items()}


def node_rrd(c: Cluster, node: str, timeframe: str, cf: str, now: float) -> list[dict]:
    """Points of the ``pve-node-9.0`` RRD (pvestatd.pm: ... netin, netout, memavailable, arcsize, PSI)."""
    ni = c.node_index[node]
    n = c.nodes[ni]
    times, sub, nb, base = _times(now, timeframe)
    out = {k: _consolidate(a, nb, cf) for k, a in _node_metrics(c, ni, sub, base).items() if k != "share"}
    arc = float(arc_size(c, n))
    rows = []
    for k, t in enumerate(times):
        mu = min(float(out["memused"][k]), float(n.memory))
        rows.append({
            "time": int(t), "cpu": round(float(out["cpu"][k]), 6), "maxcpu": n.cores,
            "iowait": round(float(out["iowait"][k]), 6), "loadavg": round(float(out["loadavg"][k]), 2),
            "memused": mu, "memtotal": n.memory, "memavailable": float(n.memory) - mu, "arcsize": arc,
            "swapused": 0.0, "swaptotal": n.swap, "rootused": float(n.root_used), "roottotal": n.rootfs,
            "netin": round(float(out["netin"][k]), 2), "netout": round(float(out["netout"][k]), 2),
            **{p: round(float(out[p][k]), 4) for p in ("pressurecpusome", "pressureiosome", "pressureiofull",
                                                      "pressurememorysome", "pressurememoryfull")},
        })
    return rows


def guest_rrd(c: Cluster, vmid: int, timeframe: str, cf: str, now: float) -> list[dict]:
    """Points of the ``pve-vm-9.0`` RRD. CPU and pressure reflect contention on whichever node the guest ran
    on at each moment: the guest gets the share of its demand that its host could serve (as
    /cluster/resources does), and its PSI comes from that host (:func:`load.guest_pressure`)."""
    gi = c.guest_index[vmid]
    g = c.guests[gi]
    times, sub, nb, base = _times(now, timeframe)
    where, running = _state(c, gi, sub)
    v = load.guest_demand(c.trace, c.params, np.array([gi]), sub, base, c.anchor, c.spikes)[:, 0] * running
    node = {k: np.zeros(sub.size) for k in ("share", "pressurecpusome", "pressureiosome", "pressurememorysome")}
    node["share"][:] = 1.0
    for ni in np.unique(where[running]).tolist():
        nm = _node_metrics(c, ni, sub, base)
        at = where == ni
        for k in node:
            node[k][at] = nm[k][at]
    cpu = _consolidate(v[0] * node["share"] / g.cores, nb, cf)
    mem = _consolidate(v[1], nb, cf)
    rates = _consolidate(v[2:6], nb, cf)
    psi = {k: _consolidate(a, nb, cf) for k, a in
           load.guest_pressure(v[0], float(g.cores), v[2] + v[3], node).items()}
    memhost = _consolidate(v[1] + (load.qemu_overhead(np.float64(g.memory)) if g.type == "qemu" else 0.0)
                           * running, nb, cf)
    disk = float(ct_disk_used(g)) if g.type == "lxc" else 0.0
    up = _consolidate(running.astype(np.float64), nb, "MAX")
    rows = []
    for k, t in enumerate(times):
        rows.append({
            "time": int(t), "cpu": round(float(cpu[k]), 6), "maxcpu": g.cores, "mem": float(round(mem[k])),
            "maxmem": g.memory, "disk": disk * float(up[k]),
            "maxdisk": g.maxdisk,
            "diskread": round(float(rates[0, k]), 2), "diskwrite": round(float(rates[1, k]), 2),
            "netin": round(float(rates[2, k]), 2), "netout": round(float(rates[3, k]), 2),
            **{p: round(float(psi[p][k]), 4) for p in load.PSI_KEYS},
        })
        if g.type == "qemu":  # pvestatd.pm writes memhost undef for CTs: the RRD point has none
            rows[-1]["memhost"] = float(round(memhost[k]))
    return rows
