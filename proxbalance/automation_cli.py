"""``proxbalance automigrate``: run one automation cycle (what the systemd timer runs)."""

from __future__ import annotations

import argparse
import json
import sys

from proxbalance.config import load_settings
from proxbalance.errors import ConflictError
from proxbalance.store import Store


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("automigrate", help="run one automation cycle: refresh, plan, gate, migrate, record, notify")
    p.add_argument("--dry-run", action="store_true", help="gate and record but start no migration, whatever "
                   "automation.dry_run says")
    p.add_argument("--test", action="store_true", help="a test cycle: like --dry-run, and leaves observation "
                   "streaks, pause state and notifications alone")
    p.add_argument("--json", action="store_true", help="print the cycle record as JSON")
    p.set_defaults(func=cmd_automigrate)


def cmd_automigrate(args) -> int:
    from proxbalance.automation import run_cycle

    settings = load_settings(args.config)
    store = Store.open(settings)
    try:
        out = run_cycle(settings, store, trigger="cli", test=args.test, dry_run=True if args.dry_run else None)
    except ConflictError as exc:  # another cycle runs: not a failure of this timer tick
        print(f"proxbalance: {exc.message}; nothing done", file=sys.stderr)
        return 0
    finally:
        store.close()
    if args.json:
        print(json.dumps(out, indent=2))
        return 0
    s = out["summary"]
    print(f"cycle {out['cycle_id']} ({out['mode']}): {s['candidates']} candidate(s), {s['executed']} started, "
          f"{s['would_execute']} would start, {s['failed']} failed, {s['blocked']} held back")
    for r in out["verdicts"]:
        print(f"  {r['vmid']:>7} {r['source_node']} -> {r['target_node']}: {r['verdict']}"
              + (f" [{r['gate']}] {r['reason']}" if r["gate"] else f" {r['reason']}"))
    return 0
