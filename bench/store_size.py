"""Store-size benchmark: a year of 1-minute collections on 32 nodes / 2,000 guests, after rollups/retention.

Simulated time, synthetic samples written straight into the store through the repository functions
(no simulator). Two parts:

1. ``pipeline``: the real per-cycle path (insert_raw + maintain = rollups + retention) on a fake clock for
   ``--pipeline-days`` at ``--pipeline-guests``, checking that what is kept matches the retention settings.
2. ``year``: the steady state a year of collections leaves behind, written directly at full scale: hourly
   rollups for 365 days, 5-minute rollups for 14 days, raw samples for 48 hours, plus the snapshots of the last
   48 hours (node rows) with the newest 30 keeping guest detail; one more day of raw data beyond retention is
   written and then pruned by ``maintain`` so the file also carries the churn of deletions. The last 3 days
   go through the real per-minute path (raw samples, snapshots, rollups every 5 minutes). Reports the file
   size (target < 2 GB) and the size per table.

    .venv/bin/python bench/store_size.py [--guests 2000] [--nodes 32] [--days 365]
"""

from __future__ import annotations

import argparse
import json
import os
import sqlite3
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from proxbalance.config import load_settings  # noqa: E402
from proxbalance.model import ClusterSnapshot, Disk, Guest, Node  # noqa: E402
from proxbalance.store import Store  # noqa: E402
from proxbalance.store.history import insert_raw, insert_rollup_rows, usage_history  # noqa: E402
from proxbalance.store.inventory import set_state  # noqa: E402
from proxbalance.store.rollups import Retention, ensure_markers, maintain  # noqa: E402
from proxbalance.store.schema import guest_1h, guest_5m, node_1h, node_5m  # noqa: E402
from proxbalance.store.snapshots import save_snapshot  # noqa: E402

T0 = 1_700_000_000 // 86400 * 86400
MIN, HOUR, DAY = 60, 3600, 86400


class Fleet:
    """Per-guest base levels (lognormal) and per-sample noise, in stored units."""

    def __init__(self, guests: int, nodes: int, seed: int = 0):
        rng = np.random.default_rng(seed)
        self.rng = rng
        self.vmids = np.arange(100, 100 + guests)
        self.nodes = [f"pve{i + 1:02d}" for i in range(nodes)]
        self.cpu = rng.lognormal(5.5, 1.0, guests)  # millicores
        self.mem = rng.lognormal(14.5, 0.8, guests)  # KiB
        self.disk = rng.lognormal(9, 2, guests)  # B/s
        self.net = rng.lognormal(10, 2, guests)

    def values(self) -> list[np.ndarray]:
        g = len(self.vmids)
        noise = self.rng.lognormal(0, 0.3, (4, g))
        return [np.rint(base * n).astype(np.int64) for base, n in
                zip((self.cpu, self.mem, self.disk, self.net), noise, strict=True)]


def guest_rows(fleet: Fleet, t: int, rollup: bool) -> list[dict]:
    cpu, mem, disk, net = fleet.values()
    if not rollup:
        return [{"t": t, "vmid": int(v), "cpu": int(a), "mem": int(b), "disk": int(c), "net": int(d)}
                for v, a, b, c, d in zip(fleet.vmids, cpu, mem, disk, net, strict=True)]
    n = 60 if rollup == "1h" else 5
    return [{"t": t, "vmid": int(v), "cpu": int(a), "cpu_max": int(a * 1.7), "mem": int(b), "mem_max": int(b * 1.05),
             "disk": int(c), "disk_max": int(c * 3), "net": int(d), "net_max": int(d * 3), "n": n}
            for v, a, b, c, d in zip(fleet.vmids, cpu, mem, disk, net, strict=True)]


def node_rows(fleet: Fleet, t: int, rollup: str | None) -> list[dict]:
    rows = []
    for name in fleet.nodes:
        r = {"t": t, "node": name, "cpu": float(fleet.rng.uniform(2, 40)), "mem": float(fleet.rng.uniform(1e10, 5e11)),
             "iowait": float(fleet.rng.uniform(0, 0.05)), "net": float(fleet.rng.uniform(1e5, 1e8))}
        if rollup:
            r.update({f"{k}_max": v * 1.5 for k, v in list(r.items()) if k in ("cpu", "mem", "iowait", "net")})
            r["n"] = 60 if rollup == "1h" else 5
        rows.append(r)
    return rows


def snapshot(fleet: Fleet, t: float, with_guests: bool) -> ClusterSnapshot:
    nodes = tuple(Node(name=n, online=True, maxcpu=64, cpu=0.31, maxmem=512 * 2**30, mem=200 * 2**30, iowait=0.01,
                       loadavg=12.5, netin=1e6, netout=2e6, pressure_cpu_some=1.2, uptime=1_000_000,
                       pve_version="pve-manager/9.0.10/deb1ca70") for n in fleet.nodes)
    guests = tuple(Guest(vmid=int(v), name=f"guest-{v}", type="qemu", node=fleet.nodes[i % len(fleet.nodes)],
                         status="running", maxcpu=4.0, cpu=0.123456, maxmem=8 * 2**30, mem=3 * 2**30,
                         maxdisk=64 * 2**30, diskread=12345.6, diskwrite=23456.7, netin=34567.8, netout=45678.9,
                         tags=("prod", "affinity_web"), disks=(Disk("scsi0", "ceph", 64 * 2**30, True),),
                         uptime=123456) for i, v in enumerate(fleet.vmids)) if with_guests else ()
    return ClusterSnapshot(time=t, nodes=nodes, guests=guests, quorate=True, cluster_name="large", duration=0.8)


def file_size(path: Path) -> dict:
    con = sqlite3.connect(path)
    con.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    page = con.execute("PRAGMA page_size").fetchone()[0]
    pages = con.execute("PRAGMA page_count").fetchone()[0]
    free = con.execute("PRAGMA freelist_count").fetchone()[0]
    tables = {}
    try:
        tables = {n: s for n, s in con.execute("SELECT name, SUM(pgsize) FROM dbstat GROUP BY name ORDER BY 2 DESC")}
    except sqlite3.OperationalError:
        pass
    con.close()
    return {"file_bytes": os.path.getsize(path), "page_size": page, "pages": pages, "free_pages": free,
            "live_bytes": (pages - free) * page, "tables_bytes": tables}


def pipeline(days: float, guests: int, nodes: int) -> dict:
    """The real per-minute path on a fake clock; retention shortened x ``scale`` so it exercises pruning."""
    fleet = Fleet(guests, nodes, seed=1)
    ret = Retention(raw=6 * HOUR, five_min=1 * DAY, hourly=2 * DAY, full_snapshots=5)
    with tempfile.TemporaryDirectory() as tmp:
        store = Store.open(load_settings(env={}, overrides={"paths.data_dir": tmp}))
        started = time.perf_counter()
        cycles = int(days * DAY / MIN)
        for k in range(cycles):
            t = T0 + k * MIN
            with store.engine.begin() as conn:
                if k == 0:
                    ensure_markers(conn, t)
                save_snapshot(conn, snapshot(fleet, t, with_guests=k % 60 == 0))
                insert_raw(conn, node_rows(fleet, t, None), guest_rows(fleet, t, False))
                maintain(conn, t, ret)
        now = T0 + (cycles - 1) * MIN
        hist = usage_history(store.engine, now=now)
        with store.engine.connect() as conn:
            counts = {t: conn.exec_driver_sql(f"SELECT COUNT(*), MIN(t) FROM {t}").fetchone()
                      for t in ("guest_raw", "guest_5m", "guest_1h")}
        store.close()
    return {"simulated_days": days, "guests": guests, "nodes": nodes, "cycles": cycles,
            "seconds": round(time.perf_counter() - started, 1),
            "retention_seconds": {"raw": ret.raw, "five_min": ret.five_min, "hourly": ret.hourly},
            "kept": {t: {"rows": c, "oldest_age_s": now - m} for t, (c, m) in counts.items()},
            "history_guests": len(hist.guests),
            "retention_ok": all(now - counts[t][1] <= lim + 3600 for t, lim in
                                (("guest_raw", ret.raw), ("guest_5m", ret.five_min), ("guest_1h", ret.hourly)))}


def year(guests: int, nodes: int, days: int) -> dict:
    fleet = Fleet(guests, nodes)
    ret = Retention()
    end = T0 + days * DAY
    tmp = tempfile.TemporaryDirectory()
    settings = load_settings(env={}, overrides={"paths.data_dir": tmp.name})
    store = Store.open(settings)
    started = time.perf_counter()
    rows = 0

    def chunked(table, times, kind, node_kind):
        nonlocal rows
        for i in range(0, len(times), 24):
            with store.engine.begin() as conn:
                for t in times[i:i + 24]:
                    rows += insert_rollup_rows(conn, table, guest_rows(fleet, int(t), kind))
                    insert_rollup_rows(conn, node_kind, node_rows(fleet, int(t), kind))
    chunked(guest_1h, list(range(end - days * DAY, end - 3 * DAY, HOUR)), "1h", node_1h)
    chunked(guest_5m, list(range(end - 14 * DAY, end - 3 * DAY, 300)), "5m", node_5m)
    with store.engine.begin() as conn:  # raw from here on, rolled up by the real pipeline every 5 minutes
        set_state(conn, "rollup_5m_until", end - 3 * DAY)
        set_state(conn, "rollup_1h_until", end - 3 * DAY)
    for k, t in enumerate(range(end - 3 * DAY, end, MIN)):
        with store.engine.begin() as conn:
            save_snapshot(conn, snapshot(fleet, t, with_guests=k % 10 == 0 or t > end - 40 * MIN), api_calls=140)
            insert_raw(conn, node_rows(fleet, t, None), guest_rows(fleet, t, False))
            rows += guests
            if t % 300 == 0:
                maintain(conn, t, ret)
    with store.engine.begin() as conn:
        maintain(conn, end, ret)
    seconds = time.perf_counter() - started
    t0 = time.perf_counter()
    hist = usage_history(store.engine, now=end)
    blend_seconds = time.perf_counter() - t0
    path = settings.data_dir / "proxbalance.sqlite"
    store.close()
    size = file_size(path)
    tmp.cleanup()
    return {"guests": guests, "nodes": nodes, "days": days, "rows_written": rows, "write_seconds": round(seconds, 1),
            "usage_history_seconds": round(blend_seconds, 2), "history_guests": len(hist.guests),
            **size, "file_gb": round(size["file_bytes"] / 1e9, 3), "under_2gb": size["file_bytes"] < 2e9}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--guests", type=int, default=2000)
    p.add_argument("--nodes", type=int, default=32)
    p.add_argument("--days", type=int, default=365)
    p.add_argument("--pipeline-days", type=float, default=3.0)
    p.add_argument("--pipeline-guests", type=int, default=50)
    args = p.parse_args()
    out = {"benchmark": "store_size",
           "pipeline": pipeline(args.pipeline_days, args.pipeline_guests, 4),
           "year": year(args.guests, args.nodes, args.days)}
    print(json.dumps(out, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
