"""Automation over simulated weeks: two simulators of the same scenario and seed, one with automation on (live,
default gates) and one left alone; prints JSON.

    .venv/bin/python bench/automation.py --scenario large --days 30 --hours 1      # the target (hours of CPU)
    .venv/bin/python bench/automation.py --scenario demo --days 30 --hours 6       # what fits in minutes

Reports moves made, moves per guest, node CPU/memory spread (std of node %, sampled every cycle) without and
with automation, moves undone within 24 h (a guest moved back to the node it left; target 0), and the share
of cycles whose every candidate got a verdict with a reason.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from proxbalance.automation import run_cycle  # noqa: E402
from proxbalance.collector import collect_once  # noqa: E402
from proxbalance.executor.context import ExecContext  # noqa: E402
from proxbalance.executor.migrations import active_migrations, list_migrations, refresh  # noqa: E402
from proxbalance.pve.client import PveClient  # noqa: E402
from proxbalance.sim import SimServer  # noqa: E402
from proxbalance.store import Store  # noqa: E402
from proxbalance.store import automation as repo  # noqa: E402
from tests.collector.conftest import sim_settings  # noqa: E402


def spread(pve: PveClient) -> tuple[float, float]:
    """(std of node CPU %, std of node memory %) from one /cluster/resources call."""
    rows = [r for r in pve.cluster_resources("node") if r.get("status") == "online"]
    cpu = [100 * float(r.get("cpu", 0)) for r in rows]
    mem = [100 * float(r.get("mem", 0)) / max(float(r.get("maxmem", 1)), 1) for r in rows]
    return float(np.std(cpu)), float(np.std(mem))


def summary(xs: list[float]) -> dict:
    a = np.array(xs or [0.0])
    return {"mean": round(float(a.mean()), 2), "p95": round(float(np.percentile(a, 95)), 2),
            "last": round(float(a[-1]), 2)}


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--scenario", default="large")
    ap.add_argument("--days", type=float, default=30)
    ap.add_argument("--hours", type=float, default=1, help="hours between cycles")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    t0 = time.time()
    with SimServer(scenario=args.scenario, seed=args.seed, stepped=True) as auto, \
            SimServer(scenario=args.scenario, seed=args.seed, stepped=True) as alone:
        tmp = tempfile.mkdtemp(prefix="pb-bench-auto-")
        # the forecaster's self-backtest (hourly by default, ~20 s of CPU on 2,000 guests) runs daily here: with
        # one collection per cycle it would otherwise run every cycle and dominate the bench's wall time
        s = sim_settings(auto, Path(tmp) / "data", **{"automation.enabled": True, "automation.dry_run": False,
                                                      "executor.poll_interval_seconds": 0.01,
                                                      "forecast.backtest_interval_minutes": 1440})
        store = Store.open(s)
        ctx = ExecContext(store=store, settings=s, pve=PveClient(s), clock=auto.now)
        ctx.sleep = lambda _s: auto.advance(5.0)
        base_pve = PveClient(sim_settings(alone, Path(tmp) / "alone"))
        collect_once(s, store, now=auto.now())
        with_auto, without = [], []
        cycles = int(args.days * 24 / args.hours)
        cycle_ids = []
        cycle_s = []
        for k in range(cycles):
            c0 = time.time()
            cycle_ids.append(run_cycle(s, store, ctx=ctx, trigger="bench")["cycle_id"])
            cycle_s.append(time.time() - c0)
            if k % 24 == 23:
                print(f"cycle {k + 1}/{cycles}: {time.time() - t0:.0f} s", file=sys.stderr, flush=True)
            for _ in range(max(1, int(args.hours * 4))):  # 15-minute steps: migrations finish, loads move
                auto.advance(900)
                alone.advance(900)
            for rec in active_migrations(store):
                refresh(ctx, rec["migration_id"])
            with_auto.append(spread(ctx.pve))
            without.append(spread(base_pve))
        moves, _ = list_migrations(store, origin="automation", limit=None)
        explained = 0
        for cid in cycle_ids:
            rows, total = repo.verdicts(store.engine, cycle_id=cid, limit=100000)
            cyc = next(c for c in repo.cycles(store.engine, limit=100000)[0] if c["cycle_id"] == cid)
            explained += int(cyc["status"] in ("ok", "idle") and total == cyc["summary"]["candidates"]
                             and all(r["reason"] for r in rows))
        guests = len(auto.cluster.guests)
    done = [m for m in moves if m["state"] == "completed"]
    per_guest: dict[int, list] = {}
    for m in sorted(done, key=lambda m: m["created_at"]):
        per_guest.setdefault(m["vmid"], []).append(m)
    undone = sum(1 for ms in per_guest.values() for a, b in zip(ms, ms[1:], strict=False)
                 if b["target_node"] == a["source_node"] and b["created_at"] - a["created_at"] < 86400)
    counts = [len(v) for v in per_guest.values()]
    out = {
        "scenario": args.scenario, "days": args.days, "hours_between_cycles": args.hours, "cycles": cycles,
        "guests": guests, "moves_started": len(moves), "moves_completed": len(done),
        "moves_failed": sum(m["state"] in ("failed", "cancelled") for m in moves),
        "guests_moved": len(per_guest), "moves_per_moved_guest_max": max(counts or [0]),
        "moves_per_moved_guest_mean": round(float(np.mean(counts)) if counts else 0.0, 2),
        "moves_per_guest": round(len(done) / max(guests, 1), 4),
        "cpu_spread_pct_without": summary([c for c, _ in without]), "cpu_spread_pct_with": summary([c for c, _ in with_auto]),
        "mem_spread_pct_without": summary([m for _, m in without]), "mem_spread_pct_with": summary([m for _, m in with_auto]),
        "moves_undone_within_24h": undone,
        "cycles_explained_share": round(explained / max(cycles, 1), 4),
        "cycle_wall_seconds": summary(cycle_s),
        "wall_seconds": round(time.time() - t0, 1),
    }
    print(json.dumps(out, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
