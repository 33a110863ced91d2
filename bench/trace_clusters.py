"""Clusters built from the real Bitbrains trace for the engine benchmarks.

Data: Bitbrains GWA-T-12 "Rnd" trace, Grid Workloads Archive, TU Delft (500 VMs, 300 s samples). The file is
read by path only (default ../shared/traces/bitbrains-rnd-2013-07-08.npz); nothing here ships it.

``trace_cluster(path, n_nodes, n_guests, seed)`` returns ``(ClusterSnapshot, UsageHistory)``:
heterogeneous nodes (sizes 0.5x-2x), guests sampled from the trace's VMs at a busy slot (with a random
per-guest time offset so that replicated VMs differ), current load = the slot's sample, history = the
previous 24 h / 7 days, and a skewed start: nodes are filled to target utilisations spread linearly from
``peak`` down to ``floor`` (by placement, not by changing the load), so the start has hot and cold nodes.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from proxbalance.model import ClusterSnapshot, Guest, Node, UsageHistory, UsageStats

DEFAULT_TRACE = "/work/shared/traces/bitbrains-rnd-2013-07-08.npz"
# shipped with the package (80 VMs x 14 days): what the tests use, so they run everywhere
SUBSET_TRACE = str(Path(__file__).resolve().parents[1] / "proxbalance" / "data" / "traces" / "bitbrains-subset.npz")
SLOTS_PER_DAY = 288
_CACHE: dict = {}


def _load(path: str) -> dict:
    if path not in _CACHE:
        d = np.load(path)
        keep = d["mem_kb"] > 0
        cpu = d["cpu_pct"][keep].astype(np.float32)
        mem = d["mem_pct"][keep].astype(np.float32)
        for x in (cpu, mem):  # carry the last value forward over gaps, then zero-fill leading gaps
            idx = np.where(~np.isnan(x), np.arange(x.shape[1])[None, :], 0)
            np.maximum.accumulate(idx, axis=1, out=idx)
            x[:] = np.nan_to_num(x[np.arange(x.shape[0])[:, None], idx])
        f32 = {k: d[k][keep].astype(np.float32) for k in ("disk_read_kbs", "disk_write_kbs", "net_rx_kbs", "net_tx_kbs")}
        disk = (f32["disk_read_kbs"] + f32["disk_write_kbs"]) * 1024.0  # float32 first: the subset is float16
        net = (f32["net_rx_kbs"] + f32["net_tx_kbs"]) * 1024.0
        _CACHE[path] = {"cores": np.maximum(d["cores"][keep].astype(float), 1.0), "mem_b": d["mem_kb"][keep] * 1024.0,
                        "cpu": cpu, "mem": mem, "disk": np.nan_to_num(disk), "net": np.nan_to_num(net)}
    return _CACHE[path]


def _stats(x: np.ndarray, slot: int) -> tuple[float, float, float, float]:
    day = x[slot - SLOTS_PER_DAY:slot]
    week = x[slot - 7 * SLOTS_PER_DAY:slot]
    t = np.arange(len(week)) / SLOTS_PER_DAY
    slope = float(np.polyfit(t, week, 1)[0]) if week.std() > 0 else 0.0
    return float(day.mean()), float(week.mean()), float(week.max()), slope


LAST: dict = {}  # what the newest trace_cluster call built: future series for the next-day replay


def report_slot(seed: int) -> int:
    """A slot for a report seed: July for even seeds, August for odd ones, any hour, with 7 days before it and
    one day after it inside the month (the trace starts on 1 July; slots are 5 minutes)."""
    rng = np.random.default_rng(10_000 + seed)
    day = int(rng.integers(8, 29)) if seed % 2 == 0 else int(rng.integers(39, 59))
    return day * SLOTS_PER_DAY + int(rng.integers(0, 24)) * 12


TUNING_DAYS = (10, 12, 24, 26, 31, 33, 35, 42, 44, 52)  # no report seed (100-109) replays any of these days


def tuning_slot(seed: int) -> int:
    """A slot for tuning seeds 10-19: one of :data:`TUNING_DAYS` (days whose next-day replay is no report
    seed's: report seeds 100-109 replay days 15-18, 20-23, 28-29, 39-40, 49-50 and 56-59), any hour."""
    rng = np.random.default_rng(20_000 + seed)
    return TUNING_DAYS[seed % len(TUNING_DAYS)] * SLOTS_PER_DAY + int(rng.integers(0, 24)) * 12


def trace_cluster(path: str = DEFAULT_TRACE, n_nodes: int = 16, n_guests: int = 500, seed: int = 0,
                  peak: float = 0.99, floor: float = 0.15, fluid: float = 0.55, history: bool = True,
                  slot: int | None = None, keep_past: bool = False) -> tuple[ClusterSnapshot, UsageHistory]:
    """See the module docstring. Also leaves in :data:`LAST`: ``cpu`` / ``mem`` ``(G, 288)`` guest demand (cores,
    bytes) over the next 24 h, ``overhead`` ``(N, 2)`` host load (cores, bytes), ``place`` ``(G,)`` node index;
    with ``keep_past`` also ``past_cpu`` / ``past_mem`` ``(G, 7 x 288)``: the 7 days before the snapshot (what a
    planner may know; slot indices before the trace's start are clipped to it)."""
    rng = np.random.default_rng(seed)
    tr = _load(path)
    V, T = tr["cpu"].shape
    base = slot if slot is not None else 9 * SLOTS_PER_DAY + 14 * 12  # day 9, 14:00
    vm = rng.permutation(V)[:n_guests] if n_guests <= V else rng.integers(0, V, n_guests)
    off = np.zeros(n_guests, dtype=int) if n_guests <= V else rng.integers(0, 7, n_guests) * SLOTS_PER_DAY
    slots = np.minimum(base + off, T - 1)
    cores = tr["cores"][vm]
    maxmem = tr["mem_b"][vm]
    cpu_frac = tr["cpu"][vm, slots] / 100.0
    mem_used = tr["mem"][vm, slots] / 100.0 * maxmem
    # heterogeneous nodes; capacities scaled so the whole cluster sits at `fluid` (binding resource)
    size = rng.choice([0.5, 1.0, 1.0, 1.5, 2.0], n_nodes)
    tot_cpu, tot_mem = float((cpu_frac * cores).sum()), float(mem_used.sum())
    node_cores = np.maximum(np.round(size / size.sum() * tot_cpu / fluid), 2).astype(int)
    node_mem = size / size.sum() * tot_mem / fluid
    # skewed start: fill nodes towards targets from `peak` (node 0) down to `floor`
    target = np.linspace(peak, floor, n_nodes)
    target *= fluid * n_nodes / target.mean() / n_nodes if target.mean() > fluid else 1.0
    order = rng.permutation(n_guests)
    load = np.zeros((n_nodes, 2))
    place = np.zeros(n_guests, dtype=int)
    for i in order:
        d = np.array([cpu_frac[i] * cores[i], mem_used[i]])
        u = (load + d) / np.stack([node_cores, node_mem], axis=1)
        room = target - u.max(axis=1)
        j = int(np.argmax(room))
        place[i] = j
        load[j] += d
    names = [f"pve{j + 1:02d}" for j in range(n_nodes)]
    guests, hist_g = [], {}
    for i in range(n_guests):
        vmid = 100 + i
        guests.append(Guest(vmid=vmid, name=f"vm{vm[i]}-{i}", type="qemu", node=names[place[i]], status="running",
                            maxcpu=float(cores[i]), cpu=float(cpu_frac[i]), maxmem=int(maxmem[i]),
                            mem=int(mem_used[i]), diskread=float(tr["disk"][vm[i], slots[i]]),
                            netin=float(tr["net"][vm[i], slots[i]])))
        if history and slots[i] >= 7 * SLOTS_PER_DAY:
            s = slots[i]
            c = _stats(tr["cpu"][vm[i]] / 100.0 * cores[i], s)
            m = _stats(tr["mem"][vm[i]] / 100.0 * maxmem[i], s)
            hist_g[vmid] = {"cpu": UsageStats(*c), "mem": UsageStats(*m)}
    nodes = []
    overhead = np.stack([np.full(n_nodes, 0.1), 1.0 * 2**30 * size], axis=1)
    day = np.arange(SLOTS_PER_DAY)
    fut = np.minimum(slots[:, None] + day[None, :], T - 1)
    LAST.clear()
    LAST.update(cpu=tr["cpu"][vm[:, None], fut] / 100.0 * cores[:, None],
                mem=tr["mem"][vm[:, None], fut] / 100.0 * maxmem[:, None], overhead=overhead, place=place.copy())
    if keep_past:
        back = np.maximum(slots[:, None] + np.arange(-7 * SLOTS_PER_DAY, 0)[None, :], 0)
        LAST.update(past_cpu=tr["cpu"][vm[:, None], back] / 100.0 * cores[:, None],
                    past_mem=tr["mem"][vm[:, None], back] / 100.0 * maxmem[:, None])
    hist_n = {}
    for j in range(n_nodes):
        mine = place == j
        c = float((cpu_frac[mine] * cores[mine]).sum()) + overhead[j, 0]
        m = float(mem_used[mine].sum()) + overhead[j, 1]
        nodes.append(Node(name=names[j], online=True, maxcpu=int(node_cores[j]), cpu=c / node_cores[j],
                          maxmem=int(node_mem[j] + 1.0 * 2**30 * size[j] / fluid), mem=int(m)))
        if history and mine.any() and slots[mine].min() >= 7 * SLOTS_PER_DAY:
            # the node's own series: its guests' samples at the same relative times (offsets kept) + overhead
            w = np.arange(-7 * SLOTS_PER_DAY, 0)
            idx = slots[mine][:, None] + w[None, :]
            cs = (tr["cpu"][vm[mine][:, None], idx] / 100.0 * cores[mine][:, None]).sum(0) + overhead[j, 0]
            ms = (tr["mem"][vm[mine][:, None], idx] / 100.0 * maxmem[mine][:, None]).sum(0) + overhead[j, 1]
            n = 7 * SLOTS_PER_DAY
            hist_n[names[j]] = {"cpu": UsageStats(*_stats(np.r_[cs, c], n)),
                                "mem": UsageStats(*_stats(np.r_[ms, m], n))}
    hist = UsageHistory(guests=hist_g, nodes=hist_n) if history else None
    return ClusterSnapshot(time=0.0, nodes=tuple(nodes), guests=tuple(guests)), hist
