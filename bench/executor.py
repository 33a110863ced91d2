"""Executor benchmark: one batch of migrations on the simulator's ``large`` scenario (32 nodes, 2,000 guests).

The moves are the recommendation engine's plan (``max_moves``), topped up with valid moves of running VMs on
shared storage if the plan is shorter. The batch runs through ``batch.run_batch`` over HTTPS with a stepped
simulator: each poll advances simulated time by ``--step`` seconds. Reported (JSON):

- ``overhead_ms_per_migration``: ProxBalance's own wall time per migration, i.e. the batch's wall time minus
  the time spent inside PVE API calls and inside the simulated sleeps, divided by the moves;
- ``pve_calls_per_migration``: API calls made by the batch (validation reads, migrate, polls) per move;
- ``makespan_s`` (simulated) of the batch from the simulator's task timestamps, against ``lower_bound_s``:
  max(longest single move, busiest node's total move time / per-node limit, total / cluster limit).

    .venv/bin/python bench/executor.py [--moves 50] [--per-node 2] [--cluster 8] [--step 5]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from proxbalance import recommendations as svc  # noqa: E402
from proxbalance.collector import collect_once  # noqa: E402
from proxbalance.config import load_settings  # noqa: E402
from proxbalance.executor import batch as bx  # noqa: E402
from proxbalance.executor.context import ExecContext  # noqa: E402
from proxbalance.executor.live import LiveView  # noqa: E402
from proxbalance.pve.client import PveClient  # noqa: E402
from proxbalance.sim import SimServer  # noqa: E402
from proxbalance.store import Store  # noqa: E402


class TimedClient(PveClient):
    """The real client, counting the wall time spent inside API calls."""

    pve_seconds = 0.0

    def call(self, *a, **kw):
        t = time.perf_counter()
        try:
            return super().call(*a, **kw)
        finally:
            self.pve_seconds += time.perf_counter() - t


def pick_moves(settings, store, n: int, pve) -> list[dict]:
    run = svc.generate(settings, store, {"max_moves": n})
    moves = [{"vmid": r["vmid"], "target_node": r["target_node"]} for r in run["recommendations"]][:n]
    if len(moves) < n:
        live = LiveView.read(pve)
        used = {m["vmid"] for m in moves}
        nodes = sorted(live.nodes, key=lambda x: live.nodes[x].mem / max(live.nodes[x].maxmem, 1))
        i = 0
        for g in sorted(live.guests.values(), key=lambda g: g.vmid):
            if len(moves) >= n:
                break
            if g.vmid in used or g.status != "running" or g.type != "qemu" or g.ha_state or g.lock or g.template:
                continue
            cfg = live.config_of(g)
            if cfg.passthrough or any(not d.shared for d in cfg.disks):
                continue
            tgt = nodes[i % 8]
            i += 1
            if tgt != g.node:
                moves.append({"vmid": g.vmid, "target_node": tgt})
    return moves


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--moves", type=int, default=50)
    ap.add_argument("--per-node", type=int, default=2)
    ap.add_argument("--cluster", type=int, default=8)
    ap.add_argument("--step", type=float, default=5.0)
    args = ap.parse_args()
    sim = SimServer(scenario="large", seed=0, stepped=True).start()
    try:
        with tempfile.TemporaryDirectory() as tmp:
            settings = load_settings(env={}, overrides={
                **sim.connection_settings(), "paths.data_dir": tmp,
                "collection.backfill": False, "executor.max_in_flight_per_node": args.per_node,
                "executor.max_in_flight_cluster": args.cluster, "executor.poll_interval_seconds": args.step,
                "thresholds.stale_minutes": 100000.0})
            store = Store.open(settings)
            collect_once(settings, store, now=sim.now())
            pve = TimedClient(settings)
            moves = pick_moves(settings, store, args.moves, pve)
            sleep_s = [0.0]

            def sleep(_s):
                t = time.perf_counter()
                sim.advance(args.step)
                sleep_s[0] += time.perf_counter() - t
            ctx = ExecContext(store=store, settings=settings, pve=pve, clock=sim.now, sleep=sleep)
            pve.calls, pve.pve_seconds = 0, 0.0
            wall = time.perf_counter()
            b = bx.create_batch(ctx, moves, actor="bench", continue_on_failure=True)
            done = bx.run_batch(ctx, b["batch_id"])
            wall = time.perf_counter() - wall
            tasks = [t for t in sim.tasks.tasks.values() if t.type in ("qmigrate", "vzmigrate")]
            durations = {int(t.id): t.end - t.starttime for t in tasks}
            src = {m["vmid"]: m["source_node"] for m in done["moves"]}
            per_node: dict[str, float] = defaultdict(float)
            for m in done["moves"]:
                if m["vmid"] in durations:
                    per_node[m["source_node"]] += durations[m["vmid"]]
                    per_node[m["target_node"]] += durations[m["vmid"]]
            total = sum(durations.values())
            lower = max([max(durations.values(), default=0.0), max(per_node.values(), default=0.0) / args.per_node,
                         total / args.cluster])
            makespan = (max(t.end for t in tasks) - min(t.starttime for t in tasks)) if tasks else 0.0
            n = len(moves)
            status = defaultdict(int)
            for m in done["moves"]:
                status[m["status"]] += 1
            print(json.dumps({
                "scenario": "large", "moves": n, "status": dict(status), "per_node_limit": args.per_node,
                "cluster_limit": args.cluster, "poll_step_s": args.step,
                "wall_s": round(wall, 2), "pve_call_s": round(pve.pve_seconds, 2), "sim_advance_s": round(sleep_s[0], 2),
                "overhead_ms_per_migration": round(1000 * (wall - pve.pve_seconds - sleep_s[0]) / max(n, 1), 1),
                "pve_calls_per_migration": round(pve.calls / max(n, 1), 1),
                "makespan_s": round(makespan, 1), "lower_bound_s": round(lower, 1),
                "makespan_over_lower_bound": round(makespan / lower, 2) if lower else None,
                "migrations_started": len(tasks), "distinct_guests": len({t.id for t in tasks}),
                "sources": len(set(src.values())),
                "failures": [f"{m['vmid']}: {m['error']}" for m in done["moves"] if m["status"] != "completed"][:5]},
                indent=2))
    finally:
        sim.stop()


if __name__ == "__main__":
    main()
