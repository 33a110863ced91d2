"""Engine scale benchmark: plan() alone and the full decision (store read -> arrays -> plan -> records).

Usage: .venv/bin/python bench/engine.py [--trace PATH] [--reps 5] [--preset balanced] [--sizes 5x60,...]
       [--no-decision] [--history-hours 168]
Prints JSON per size (nodes x guests), min / median of reps in ms:
* ``plan_ms``: ``plan()`` on prebuilt arrays (history from the trace: 24 h / 7 d of the guests and nodes);
* ``decision_ms``: the whole decision as the service makes it: ``recommendations.generate(save=True)`` on a real
  SQLite store holding the snapshot and ``--history-hours`` hourly rollups per guest and node (the newest
  snapshot read, the history query, ``build_arrays``, ``plan``, the records, and saving the run), split into its
  parts (store read, arrays, plan, records+save);
* moves, iterations and the peak before / after.
Target (issue 8): the full decision at 64 x 10,000 under 250 ms median on this machine.
Data: Bitbrains GWA-T-12 trace, Grid Workloads Archive, TU Delft.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import numpy as np  # noqa: E402

from bench.trace_clusters import DEFAULT_TRACE, trace_cluster  # noqa: E402
from proxbalance import recommendations as svc  # noqa: E402
from proxbalance.config import load_settings  # noqa: E402
from proxbalance.engine import build_arrays, load_preset, plan  # noqa: E402
from proxbalance.store import Store  # noqa: E402
from proxbalance.store.history import (
    insert_rollup_rows,  # noqa: E402
    usage_history,  # noqa: E402
)
from proxbalance.store.inventory import set_state  # noqa: E402
from proxbalance.store.schema import guest_1h, node_1h  # noqa: E402
from proxbalance.store.snapshots import latest_snapshot, save_snapshot  # noqa: E402

SIZES = [(5, 60), (16, 500), (32, 2000), (64, 10000)]
NOW = 1_700_000_000.0


def _ms(xs):
    return {"min": round(min(xs), 1), "median": round(statistics.median(xs), 1)}


def _fill_store(store, snap, hours: int) -> None:
    """The snapshot plus ``hours`` hourly rollups per guest and node (values around the snapshot's)."""
    import dataclasses

    rng = np.random.default_rng(0)
    snap = dataclasses.replace(snap, time=NOW)
    with store.engine.begin() as conn:
        save_snapshot(conn, snap)
        t0 = int(NOW) - hours * 3600
        rows = []
        for h in range(hours):
            t = t0 + h * 3600
            f = rng.uniform(0.7, 1.3, len(snap.guests))
            for g, x in zip(snap.guests, f, strict=True):
                c, m = int(g.cpu * g.maxcpu * 1000 * x), int(g.mem / 1024 * x)
                rows.append({"t": t, "vmid": g.vmid, "cpu": c, "cpu_max": int(c * 1.5), "mem": m, "mem_max": m,
                             "disk": 0, "disk_max": 0, "net": 0, "net_max": 0, "n": 12})
        insert_rollup_rows(conn, guest_1h, rows)
        nrows = [{"t": t0 + h * 3600, "node": n.name, "cpu": n.cpu * n.maxcpu, "cpu_max": n.cpu * n.maxcpu * 1.3,
                  "mem": float(n.mem), "mem_max": float(n.mem), "iowait": 0.0, "iowait_max": 0.0, "net": 0.0,
                  "net_max": 0.0, "n": 12} for h in range(hours) for n in snap.nodes]
        insert_rollup_rows(conn, node_1h, nrows)
        set_state(conn, "rollup_1h_until", int(NOW))
        set_state(conn, "rollup_5m_until", int(NOW))


def decision(snap, reps: int, hours: int, preset: str) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        settings = load_settings(env={}, overrides={"paths.data_dir": tmp, "penalty.preset": preset})
        store = Store.open(settings)
        t0 = time.perf_counter()
        _fill_store(store, snap, hours)
        fill_s = time.perf_counter() - t0
        total, read, arrays_ms, plan_ms, rest = [], [], [], [], []
        cfg = svc.active_penalty_config(settings, store)[0]
        for _ in range(reps):
            t0 = time.perf_counter()
            s = latest_snapshot(store.engine)
            hist = usage_history(store.engine, now=s.time)
            t1 = time.perf_counter()
            a = build_arrays(s, hist, cfg)
            t2 = time.perf_counter()
            plan(a, cfg)
            t3 = time.perf_counter()
            read.append((t1 - t0) * 1e3)
            arrays_ms.append((t2 - t1) * 1e3)
            plan_ms.append((t3 - t2) * 1e3)
            t0 = time.perf_counter()
            r = svc.generate(settings, store, stable=False)  # the service end to end (store -> saved run)
            total.append((time.perf_counter() - t0) * 1e3)
            rest.append(total[-1] - read[-1] - arrays_ms[-1] - plan_ms[-1])
        store.close()
    return {"history_hours": hours, "store_fill_s": round(fill_s, 1), "decision_ms": _ms(total),
            "parts_ms": {"store_read": _ms(read), "build_arrays": _ms(arrays_ms), "plan": _ms(plan_ms),
                         "records_and_save_estimate": _ms(rest)},
            "moves": len(r["recommendations"])}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--trace", default=DEFAULT_TRACE)
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--preset", default="balanced")
    ap.add_argument("--sizes", default=",".join(f"{n}x{g}" for n, g in SIZES))
    ap.add_argument("--no-decision", action="store_true")
    ap.add_argument("--history-hours", type=int, default=168)
    args = ap.parse_args()
    cfg = load_preset(args.preset)
    out = []
    for spec in args.sizes.split(","):
        n, g = (int(x) for x in spec.split("x"))
        snap, hist = trace_cluster(args.trace, n, g, seed=1)
        builds, plans, res = [], [], None
        for _ in range(args.reps):
            t0 = time.perf_counter()
            arrays = build_arrays(snap, hist, cfg)
            t1 = time.perf_counter()
            res = plan(arrays, cfg)
            t2 = time.perf_counter()
            builds.append((t1 - t0) * 1e3)
            plans.append((t2 - t1) * 1e3)
        b = res.batch_impact
        entry = {"nodes": n, "guests": g, "build_arrays_ms": _ms(builds), "plan_ms": _ms(plans),
                 "plan_phases_ms_last": res.timing_ms, "moves": b["moves"], "iterations": res.stats["iterations"],
                 "peak_before_pct": b["before"]["peak_pct"], "peak_after_pct": b["after"]["peak_pct"]}
        if not args.no_decision:
            entry["decision"] = decision(snap, args.reps, args.history_hours, args.preset)
        out.append(entry)
        print(json.dumps(entry), file=sys.stderr)
    print(json.dumps({"preset": args.preset, "max_moves": cfg.max_moves, "reps": args.reps, "sizes": out,
                      "target": "64 x 10000: full decision < 250 ms median (plan() alone quoted beside it)"},
                     indent=2))


if __name__ == "__main__":
    main()
