"""The load model: guest demand from the trace, node load = guests + host overhead, contention effects.

All functions are vectorised. Shapes: ``G`` guests, ``N`` nodes, ``K`` time points, ``M = 6`` trace metrics.
Units: CPU in cores (converted to a fraction of ``maxcpu`` only for the API), memory in bytes, rates in
bytes/s, counters in bytes, PSI in percent, iowait as a fraction.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from proxbalance.sim.traces import Trace

GiB = 1024**3
DISK_BW = 400e6  # bytes/s a node's local I/O saturates at (drives iowait)


def overhead_cpu(cores: np.ndarray) -> np.ndarray:
    """Host CPU overhead in cores, (N,)."""
    return 0.15 + 0.01 * cores


def overhead_mem(memory: np.ndarray) -> np.ndarray:
    """Host memory overhead in bytes, (N,)."""
    return 1.5 * GiB + 0.03 * memory


@dataclass
class GuestParams:
    """Per-guest replay parameters, all (G,): trace row, time offset (s), cpu scale, cores, maxmem (bytes)."""

    rows: np.ndarray
    offset: np.ndarray
    scale: np.ndarray
    cores: np.ndarray
    maxmem: np.ndarray


def guest_demand(trace: Trace, p: GuestParams, idx: np.ndarray, t: np.ndarray, width: float = 0.0,
                 anchor: float = 0.0, spikes: list | None = None) -> np.ndarray:
    """Demand of guests ``idx`` (S,) at sim times ``t`` (K,): (M, S, K) float64.

    ``width == 0``: instantaneous values; otherwise the mean over ``[t - width, t)``.
    Row 0 is CPU in cores, row 1 memory in bytes, rows 2..5 rates in bytes/s. ``spikes`` is a list of
    ``(guest_index, start, end, cpu_fraction)``: the CPU demand is at least that fraction of the cores.
    """
    rows = p.rows[idx][:, None]
    tau = (t[None, :] - anchor) + p.offset[idx][:, None]
    if width > 0:
        v = trace.window_mean(rows, tau, width)
    else:
        v = trace.values(rows, tau).astype(np.float64)
    cores = p.cores[idx][:, None]
    v[0] = np.minimum(1.0, v[0] * p.scale[idx][:, None]) * cores
    v[1] = (0.25 + 0.75 * v[1]) * p.maxmem[idx][:, None]
    for g, start, end, frac in spikes or ():
        hit = np.flatnonzero(idx == g)
        if hit.size:
            active = (t > start) & (t <= end) if width > 0 else (t >= start) & (t < end)
            v[0, hit] = np.where(active, np.maximum(v[0, hit], frac * cores[hit]), v[0, hit])
    return v


def guest_counters(trace: Trace, p: GuestParams, t: float, since: np.ndarray, anchor: float) -> np.ndarray:
    """Cumulative bytes (diskread, diskwrite, netin, netout) since ``since`` (G,) up to ``t``: (4, G) int64."""
    rows = p.rows
    tau_now = (t - anchor) + p.offset
    tau_since = (np.minimum(since, t) - anchor) + p.offset
    rates = slice(2, 6)
    return (trace.integral(rows, tau_now)[rates] - trace.integral(rows, tau_since)[rates]).astype(np.int64)


def node_metrics(cpu_demand: np.ndarray, mem: np.ndarray, disk_io: np.ndarray, netin: np.ndarray,
                 netout: np.ndarray, cores: np.ndarray, memory: np.ndarray) -> dict[str, np.ndarray]:
    """Node metrics from summed guest demand. Inputs (N, K) except ``cores``/``memory`` (N,).

    Returns (N, K) arrays: ``cpu`` (fraction, capped at 1), ``share`` (fraction of its demand each guest
    gets), ``memused`` (bytes, guests + overhead), ``iowait``, ``loadavg``, PSI fields, ``netin``/``netout``.
    """
    c = cores[:, None].astype(np.float64)
    ovh = overhead_cpu(cores)[:, None]
    avail = c - ovh
    share = np.where(cpu_demand > avail, avail / np.maximum(cpu_demand, 1e-9), 1.0)
    ratio = (cpu_demand + ovh) / c  # can exceed 1 under contention
    memused = mem + overhead_mem(memory)[:, None]
    memratio = memused / memory[:, None]
    iowait = np.clip(0.003 + 0.25 * disk_io / DISK_BW + 0.15 * np.maximum(0.0, ratio - 0.85), 0.0, 0.9)
    psi_cpu = 100.0 * np.clip((ratio - 0.7) / 0.6, 0.0, 1.0) ** 1.5
    psi_io = 100.0 * np.clip(iowait * 3.0, 0.0, 1.0)
    psi_mem = 100.0 * np.clip((memratio - 0.85) / 0.15, 0.0, 1.0) ** 2
    return {
        "cpu": np.minimum(1.0, ratio),
        "share": share,
        "memused": memused,
        "iowait": iowait,
        "loadavg": cpu_demand + ovh + iowait * c * 0.5,
        "pressurecpusome": psi_cpu,
        "pressureiosome": psi_io,
        "pressureiofull": 0.6 * psi_io,
        "pressurememorysome": psi_mem,
        "pressurememoryfull": 0.5 * psi_mem,
        "netin": netin + 2000.0,
        "netout": netout + 2000.0,
    }


PSI_KEYS = ("pressurecpusome", "pressurecpufull", "pressureiosome", "pressureiofull", "pressurememorysome",
            "pressurememoryfull")


def guest_pressure(demand: np.ndarray, cores: np.ndarray, io: np.ndarray, node: dict[str, np.ndarray]) -> dict:
    """PSI (% of time stalled, avg10) of guests' cgroups from the contention on their host.

    ``demand`` cores asked for, ``cores`` the guest's vCPUs, ``io`` bytes/s of disk I/O, ``node`` the node
    metrics (:func:`node_metrics`) already picked per guest; all broadcast to one shape (``(G,)`` or ``(K,)``).
    A guest's vCPU threads wait whenever the host cannot run them: with only ``share`` of the demand served
    they stall ``1 - share`` of the time, and a busy host shows some stall even below saturation (the node's
    own PSI). ``full`` (all of the cgroup's threads stalled) scales with how many vCPUs are runnable. Idle
    guests stall on nothing. (PVE reads these from ``/sys/fs/cgroup/qemu.slice/ID.scope/*.pressure``,
    qemu-server PVE/QemuServer.pm vmstatus; ``lxc/ID`` for containers, pve-container PVE/LXC.pm.)
    """
    busy = demand > 1e-6
    cpu_some = np.where(busy, np.maximum(100.0 * (1.0 - node["share"]), node["pressurecpusome"]), 0.0)
    runnable = np.clip(demand / np.maximum(cores, 1.0), 0.0, 1.0)
    io_some = np.where(io > 0, node["pressureiosome"], 0.0)
    mem_some = np.where(busy, node["pressurememorysome"], 0.0)
    return {"pressurecpusome": cpu_some, "pressurecpufull": cpu_some * runnable,
            "pressureiosome": io_some, "pressureiofull": 0.6 * io_some,
            "pressurememorysome": mem_some, "pressurememoryfull": 0.5 * mem_some}


def qemu_overhead(maxmem: np.ndarray) -> np.ndarray:
    """Bytes the QEMU process holds beyond guest RAM in use (device emulation, page tables): ``memhost - mem``."""
    return 48 * 2**20 + 0.01 * maxmem


@dataclass
class Snapshot:
    """Everything the API reports at one (quantised) sim time. Guest arrays (G,), node arrays (N,)."""

    t: float
    guest_cpu: np.ndarray  # cores actually used (after contention)
    guest_demand: np.ndarray  # cores asked for
    guest_mem: np.ndarray  # bytes
    guest_rates: np.ndarray  # (4, G) bytes/s
    counters: np.ndarray  # (4, G) cumulative bytes since the guest started
    active: np.ndarray  # (G,) bool: running on an online node
    node: dict[str, np.ndarray]  # node_metrics(...) squeezed to (N,)
    node_cpu_used: np.ndarray  # cores: guests' actual cpu + overhead (capped at cores)
    node_mem_demand: np.ndarray  # bytes: guests' mem + overhead (uncapped)
    node_of: np.ndarray  # (G,) node index of each guest
    guest_psi: dict[str, np.ndarray]  # PSI_KEYS -> (G,) percent, 0 for guests not running


def snapshot(trace: Trace, p: GuestParams, node_of: np.ndarray, active: np.ndarray, since: np.ndarray,
             cores: np.ndarray, memory: np.ndarray, t: float, anchor: float, spikes: list) -> Snapshot:
    """Evaluate the whole cluster at sim time ``t``; ``node_of`` (G,) node index, ``active`` (G,) bool."""
    G, N = node_of.shape[0], cores.shape[0]
    idx = np.arange(G)
    v = guest_demand(trace, p, idx, np.array([t], dtype=np.float64), 0.0, anchor, spikes)[:, :, 0]
    v = v * active[None, :]
    sums = np.stack([np.bincount(node_of, weights=v[m], minlength=N) for m in range(6)])
    nm = node_metrics(sums[0][:, None], sums[1][:, None], (sums[2] + sums[3])[:, None],
                      sums[4][:, None], sums[5][:, None], cores, memory)
    nm = {k: a[:, 0] for k, a in nm.items()}
    guest_cpu = v[0] * nm["share"][node_of]
    ovh = overhead_cpu(cores)
    used = np.bincount(node_of, weights=guest_cpu, minlength=N) + ovh
    counters = guest_counters(trace, p, t, since, anchor)
    psi = guest_pressure(v[0], p.cores, v[2] + v[3], {k: a[node_of] for k, a in nm.items()})
    return Snapshot(t=t, guest_cpu=guest_cpu, guest_demand=v[0], guest_mem=v[1], guest_rates=v[2:6],
                    counters=counters, active=active, node=nm, node_cpu_used=np.minimum(used, cores),
                    node_mem_demand=nm["memused"], node_of=node_of, guest_psi=psi)
