"""``proxbalance recommend``: plan from the newest snapshot, store it, print it."""

from __future__ import annotations

import argparse
import json

from proxbalance.config import load_settings
from proxbalance.store import Store


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("recommend", help="generate migration recommendations from the newest snapshot")
    p.add_argument("--cpu-threshold", type=float, help="node CPU %% counted as loaded")
    p.add_argument("--mem-threshold", type=float, help="node memory %% counted as loaded")
    p.add_argument("--max-moves", type=int, help="most moves in the plan")
    p.add_argument("--json", action="store_true", help="print the whole plan as JSON")
    p.set_defaults(func=cmd_recommend)


def cmd_recommend(args) -> int:
    from proxbalance import recommendations as svc
    from proxbalance.config_service import effective

    settings = load_settings(args.config)
    store = Store.open(settings)
    settings = effective(settings, store)[1]  # with the settings changed through the API
    overrides = {"cpu_threshold": args.cpu_threshold, "mem_threshold": args.mem_threshold,
                 "max_moves": args.max_moves}
    run = svc.generate(settings, store, overrides)
    if args.json:
        print(json.dumps(run, indent=2))
        return 0
    print(format_plan(run))
    return 0


def format_plan(run: dict) -> str:
    recs = run["recommendations"]
    impact = run.get("batch_impact", {})
    before, after = impact.get("before", {}), impact.get("after", {})
    lines = [f"{len(recs)} moves planned in {run['generation_time_ms']:.0f} ms "
             f"({run['guests_evaluated']} guests evaluated, {len(run.get('skipped', []))} skipped)"]
    if before and after:
        lines.append(f"peak node load {before.get('peak_pct')} % -> {after.get('peak_pct')} %, "
                     f"CPU std {before.get('cpu_std_pct')} -> {after.get('cpu_std_pct')}, "
                     f"memory std {before.get('mem_std_pct')} -> {after.get('mem_std_pct')}")
    if recs:
        lines.append(f"{'#':>3} {'VMID':>7} {'TYPE':4} {'NAME':20} {'FROM':12} {'TO':12} {'REASON':13} "
                     f"{'GAIN':>8} {'CONF':>4} {'GIB':>7}")
    for r in recs:
        lines.append(f"{r['order']:>3} {r['vmid']:>7} {r['type']:4} {r['name'][:20]:20} {r['source_node'][:12]:12} "
                     f"{r['target_node'][:12]:12} {r['reason'][:13]:13} {r['score_improvement']:>8.1f} "
                     f"{r['confidence_score']:>4} {r['migration']['gib']:>7.2f}")
    return "\n".join(lines)
