"""Collector benchmark: API calls and wall time per collection against the simulator (HTTPS, proxmoxer).

For 5 nodes / 60 guests (scenario ``demo``) and 32 nodes / 2,000 guests (scenario ``large``), with and without
20 ms added latency per API call (the simulator's fault API), it runs a first cycle (all guest configs read,
plus the rrddata backfill) and then steady-state cycles one simulated minute apart. Prints JSON.

Targets (issue 4): steady-state calls <= 4 x nodes + 10 whatever the guest count; 32 nodes / 2,000 guests with
20 ms latency under 3 s.

    .venv/bin/python bench/collector.py [--cycles 3] [--scenarios demo,large] [--latencies 0,20]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from proxbalance.collector import collect_once  # noqa: E402
from proxbalance.config import load_settings  # noqa: E402
from proxbalance.sim import SimServer  # noqa: E402
from proxbalance.store import Store  # noqa: E402


def run(scenario: str, latency_ms: float, cycles: int) -> dict:
    sim = SimServer(scenario=scenario, seed=0, stepped=True).start()
    try:
        with tempfile.TemporaryDirectory() as tmp:
            settings = load_settings(env={}, overrides={
                **sim.connection_settings(),
                "paths.data_dir": tmp})
            store = Store.open(settings)
            if latency_ms:
                sim.fault("api_fault", latency_ms=latency_ms)
            t0 = time.perf_counter()
            first = collect_once(settings, store, now=sim.now())
            first_total = time.perf_counter() - t0
            steady = []
            for _ in range(cycles):
                sim.advance(60)
                t0 = time.perf_counter()
                r = collect_once(settings, store, now=sim.now())
                steady.append((r.api_calls, time.perf_counter() - t0, r.configs_read))
            store.close()
    finally:
        sim.stop()
    nodes = first.nodes
    return {
        "scenario": scenario, "nodes": nodes, "guests": first.guests, "latency_ms": latency_ms,
        "first_cycle": {"api_calls": first.api_calls, "seconds": round(first.duration, 3),
                        "configs_read": first.configs_read},
        "backfill": {"api_calls": first.backfill_calls, "rows": first.backfill_rows,
                     "seconds": round(first_total - first.duration, 3)},
        "steady": {"api_calls_max": max(c for c, _, _ in steady), "budget": 4 * nodes + 10,
                   "seconds_median": round(statistics.median(s for _, s, _ in steady), 3),
                   "seconds_max": round(max(s for _, s, _ in steady), 3),
                   "configs_read_max": max(k for _, _, k in steady)},
        "ok": max(c for c, _, _ in steady) <= 4 * nodes + 10 and (
            not (nodes >= 32 and latency_ms >= 20) or max(s for _, s, _ in steady) < 3.0),
    }


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--cycles", type=int, default=3)
    p.add_argument("--scenarios", default="demo,large")
    p.add_argument("--latencies", default="0,20")
    args = p.parse_args()
    results = [run(s, float(lat), args.cycles) for s in args.scenarios.split(",")
               for lat in args.latencies.split(",")]
    print(json.dumps({"benchmark": "collector", "results": results, "ok": all(r["ok"] for r in results)}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
