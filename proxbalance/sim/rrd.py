"""rrddata from the trace: node and guest series at PVE's resolutions, AVERAGE and MAX, past included.

Each point covers ``[time - res, time)``. A point is the mean (AVERAGE) or the max (MAX) of sub-window
means at a finer base resolution, which is how RRD consolidates. Placement and running state over time come
from each guest's history, so a migration shows up in both nodes' series at the moment it ended.
"""

from __future__ import annotations

import numpy as np

from proxbalance.sim import load
from proxbalance.sim.cluster import Cluster

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


def node_rrd(c: Cluster, node: str, timeframe: str, cf: str, now: float) -> list[dict]:
    ni = c.node_index[node]
    n = c.nodes[ni]
    times, sub, nb, base = _times(now, timeframe)
    sel, masks = [], []
    for gi, g in enumerate(c.guests):
        if all(e[1] != ni for e in g.history):
            continue
        where, running = _state(c, gi, sub)
        m = (where == ni) & running
        if m.any():
            sel.append(gi)
            masks.append(m)
    cores = np.array([n.cores], dtype=np.float64)
    memory = np.array([n.memory], dtype=np.float64)
    if sel:
        v = load.guest_demand(c.trace, c.params, np.array(sel), sub, base, c.anchor, c.spikes)
        s = (v * np.array(masks)[None]).sum(axis=1)  # (M, K*nb)
    else:
        s = np.zeros((6, sub.size))
    nm = load.node_metrics(s[0][None], s[1][None], (s[2] + s[3])[None], s[4][None], s[5][None], cores, memory)
    out = {k: _consolidate(a[0], nb, cf) for k, a in nm.items() if k != "share"}
    used_root = 0.3 * n.rootfs
    rows = []
    for k, t in enumerate(times):
        mu = min(float(out["memused"][k]), float(n.memory))
        rows.append({
            "time": int(t), "cpu": round(float(out["cpu"][k]), 6), "maxcpu": n.cores,
            "iowait": round(float(out["iowait"][k]), 6), "loadavg": round(float(out["loadavg"][k]), 2),
            "memused": mu, "memtotal": n.memory, "swapused": 0.0, "swaptotal": n.swap,
            "rootused": used_root, "roottotal": n.rootfs,
            "netin": round(float(out["netin"][k]), 2), "netout": round(float(out["netout"][k]), 2),
            **{p: round(float(out[p][k]), 4) for p in ("pressurecpusome", "pressureiosome", "pressureiofull",
                                                      "pressurememorysome", "pressurememoryfull")},
        })
    return rows


def guest_rrd(c: Cluster, vmid: int, timeframe: str, cf: str, now: float) -> list[dict]:
    gi = c.guest_index[vmid]
    g = c.guests[gi]
    times, sub, nb, base = _times(now, timeframe)
    _, running = _state(c, gi, sub)
    v = load.guest_demand(c.trace, c.params, np.array([gi]), sub, base, c.anchor, c.spikes)[:, 0] * running
    cpu = _consolidate(v[0] / g.cores, nb, cf)
    mem = _consolidate(v[1], nb, cf)
    rates = _consolidate(v[2:6], nb, cf)
    psi = _consolidate(100.0 * np.clip((v[0] / g.cores - 0.8) / 0.2, 0.0, 1.0) * running, nb, cf)
    rows = []
    for k, t in enumerate(times):
        rows.append({
            "time": int(t), "cpu": round(float(cpu[k]), 6), "maxcpu": g.cores, "mem": float(round(mem[k])),
            "maxmem": g.memory, "disk": 0.0, "maxdisk": g.maxdisk,
            "diskread": round(float(rates[0, k]), 2), "diskwrite": round(float(rates[1, k]), 2),
            "netin": round(float(rates[2, k]), 2), "netout": round(float(rates[3, k]), 2),
            "pressurecpusome": round(float(psi[k]), 4), "pressurecpufull": round(float(psi[k]) * 0.5, 4),
            "pressureiosome": 0.0, "pressureiofull": 0.0, "pressurememorysome": 0.0,
            "pressurememoryfull": 0.0,
        })
    return rows
