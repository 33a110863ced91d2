"""Evacuation benchmark: evacuate the busiest node (by memory) of the simulator's ``large`` scenario.

Reported (JSON): planning time (the whole preview: live read, engine plan with the node masked, validation of
every move; and the engine's share of it), moves and
guests left (with reasons), makespan in simulated seconds from the simulator's task timestamps against the
lower bound max(longest move, total move time / per-node limit), and the peak memory % reached on any target
during the run (sampled from the simulator at every poll).

    .venv/bin/python bench/evacuation.py [--per-node 2] [--step 5]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from proxbalance.collector import collect_once  # noqa: E402
from proxbalance.config import load_settings  # noqa: E402
from proxbalance.executor import evacuation as ev  # noqa: E402
from proxbalance.executor.context import ExecContext  # noqa: E402
from proxbalance.pve.client import PveClient  # noqa: E402
from proxbalance.sim import SimServer  # noqa: E402
from proxbalance.store import Store  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--per-node", type=int, default=2)
    ap.add_argument("--step", type=float, default=5.0)
    args = ap.parse_args()
    sim = SimServer(scenario="large", seed=0, stepped=True).start()
    try:
        with tempfile.TemporaryDirectory() as tmp:
            settings = load_settings(env={}, overrides={
                **sim.connection_settings(), "paths.data_dir": tmp,
                "collection.backfill": False, "executor.max_in_flight_per_node": args.per_node,
                "executor.max_in_flight_cluster": 64, "executor.poll_interval_seconds": args.step,
                "thresholds.stale_minutes": 100000.0})
            store = Store.open(settings)
            collect_once(settings, store, now=sim.now())
            c = sim.cluster
            snap = c.snapshot(at=sim.now())
            busiest = max(c.nodes, key=lambda n: float(snap.node_mem_demand[c.node_index[n.name]]) / n.memory).name
            peak = {"pct": 0.0, "node": None}

            def sample() -> None:
                s = c.snapshot(at=sim.now())
                for n in c.nodes:
                    if n.name == busiest:
                        continue
                    pct = 100 * float(s.node_mem_demand[c.node_index[n.name]]) / n.memory
                    if pct > peak["pct"]:
                        peak.update(pct=pct, node=n.name)
            sample()
            start_peak = peak["pct"]

            def sleep(_s):
                sim.advance(args.step)
                sample()
            ctx = ExecContext(store=store, settings=settings, pve=PveClient(settings), clock=sim.now, sleep=sleep)
            engine_s = []
            plan_fn = ev.eng.plan

            def timed_plan(*a, **k):
                t0 = time.perf_counter()
                try:
                    return plan_fn(*a, **k)
                finally:
                    engine_s.append(time.perf_counter() - t0)
            ev.eng.plan = timed_plan
            t = time.perf_counter()
            try:
                s = ev.create_session(ctx, busiest, dry_run=True, actor="bench")
            finally:
                ev.eng.plan = plan_fn
            plan_ms = 1000 * (time.perf_counter() - t)
            run = ev.create_session(ctx, busiest, dry_run=False, actor="bench", from_preview=s["session_id"])
            t = time.perf_counter()
            done = ev.run_session(ctx, run["session_id"])
            wall = time.perf_counter() - t
            tasks = [x for x in sim.tasks.tasks.values() if x.type in ("qmigrate", "vzmigrate")]
            durations = [x.end - x.starttime for x in tasks]
            lower = max(max(durations, default=0.0), sum(durations) / args.per_node)
            makespan = (max(x.end for x in tasks) - min(x.starttime for x in tasks)) if tasks else 0.0
            print(json.dumps({
                "scenario": "large", "node": busiest, "guests_on_node": len(s["moves"]) + len(s["left"]),
                "planning_ms": round(plan_ms, 1), "planning_engine_ms": round(1000 * sum(engine_s), 1),
                "moves": len(s["moves"]), "left": len(s["left"]),
                "left_reasons": dict(Counter(x["reason"].split(":")[0] for x in s["left"])),
                "state": done["state"], "move_states": dict(Counter(m["state"] for m in done["moves"])),
                "replanned": [f"{m['vmid']}: {m['replanned_from']} -> {m['target_node']}" for m in done["moves"]
                              if m.get("replanned_from")],
                "failed": [f"{m['vmid']}: {m['error']}" for m in done["moves"] if m["state"] != "completed"],
                "per_node_limit": args.per_node, "makespan_s": round(makespan, 1), "lower_bound_s": round(lower, 1),
                "makespan_over_lower_bound": round(makespan / lower, 2) if lower else None,
                "peak_target_mem_pct": round(peak["pct"], 1), "peak_target": peak["node"],
                "peak_target_mem_pct_before": round(start_peak, 1),
                "mem_limit_pct": settings["thresholds.mem_limit_percent"], "wall_s": round(wall, 1),
                "running_left": done["summary"]["running_left"],
                "distinct_guests_migrated": len({x.id for x in tasks}), "migration_tasks": len(tasks)}, indent=2))
    finally:
        sim.stop()


if __name__ == "__main__":
    main()
