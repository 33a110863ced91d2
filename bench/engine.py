"""Engine scale benchmark: plan time vs cluster size on clusters built from the Bitbrains trace.

Usage: .venv/bin/python bench/engine.py [--trace PATH] [--reps 5] [--preset balanced]
Prints JSON: per size (nodes x guests) build_arrays and plan times (min / median of reps, ms), moves, the
peak before/after, and the growth of plan time per size step. Data: Bitbrains GWA-T-12 trace, Grid Workloads
Archive, TU Delft.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from bench.trace_clusters import DEFAULT_TRACE, trace_cluster  # noqa: E402
from proxbalance.engine import build_arrays, load_preset, plan  # noqa: E402

SIZES = [(5, 60), (16, 500), (32, 2000), (64, 10000)]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--trace", default=DEFAULT_TRACE)
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--preset", default="balanced")
    args = ap.parse_args()
    cfg = load_preset(args.preset)
    out = []
    for n, g in SIZES:
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
        out.append({
            "nodes": n, "guests": g,
            "build_arrays_ms": {"min": round(min(builds), 1), "median": round(statistics.median(builds), 1)},
            "plan_ms": {"min": round(min(plans), 1), "median": round(statistics.median(plans), 1)},
            "plan_phases_ms_last": res.timing_ms,
            "moves": b["moves"], "iterations": res.stats["iterations"],
            "peak_before_pct": b["before"]["peak_pct"], "peak_after_pct": b["after"]["peak_pct"],
            "gib_moved": b["gib_moved"],
        })
    growth = [{"from": f"{a['nodes']}x{a['guests']}", "to": f"{c['nodes']}x{c['guests']}",
               "cells_ratio": round(c["nodes"] * c["guests"] / (a["nodes"] * a["guests"]), 1),
               "plan_time_ratio": round(c["plan_ms"]["median"] / a["plan_ms"]["median"], 2)}
              for a, c in zip(out, out[1:], strict=False)]
    print(json.dumps({"preset": args.preset, "max_moves": cfg.max_moves, "reps": args.reps,
                      "sizes": out, "growth": growth,
                      "target": "64 x 10000 plan < 200 ms"}, indent=2))


if __name__ == "__main__":
    main()
