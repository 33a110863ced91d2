"""``proxbalance migrate VMID TARGET`` and ``proxbalance evacuate NODE``: the executor from the command line.

The CLI goes through exactly the same door as the API: reconcile first, validate, record the intent, start,
follow. A second process (API worker, another CLI) can never start a second migration of the same guest.
"""

from __future__ import annotations

import argparse
import json
import sys

from proxbalance.config import load_settings
from proxbalance.store import Store


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("migrate", help="validate and migrate one guest (live when running), following its task")
    p.add_argument("vmid", type=int)
    p.add_argument("target", help="target node")
    p.add_argument("--source", help="the node the guest must be on (refused otherwise)")
    p.add_argument("--targetstorage", help="PVE targetstorage mapping (storage id or src:dst,...)")
    p.add_argument("--validate-only", action="store_true", help="run the checks, start nothing")
    p.add_argument("--no-wait", action="store_true", help="start it and return")
    p.add_argument("--json", action="store_true", help="print the final record as JSON")
    p.set_defaults(func=cmd_migrate)
    e = sub.add_parser("evacuate", help="move every guest off a node (preview with --dry-run)")
    e.add_argument("node")
    e.add_argument("--dry-run", action="store_true", help="show the plan and the guests that cannot move")
    e.add_argument("--yes", action="store_true", help="run without asking for confirmation")
    e.add_argument("--json", action="store_true", help="print the session as JSON")
    e.set_defaults(func=cmd_evacuate)


def _ctx(args):
    from proxbalance.executor.context import ExecContext
    settings = load_settings(args.config)
    return ExecContext.from_settings(settings, Store.open(settings))


def cmd_migrate(args) -> int:
    from proxbalance.executor import migrations as ex
    from proxbalance.executor.validate import validate_move

    ctx = _ctx(args)
    ex.reconcile(ctx)
    if args.validate_only:
        v = validate_move(ctx, args.vmid, args.target, source_node=args.source, targetstorage=args.targetstorage)
        for c in v.checks:
            print(f"{'ok  ' if c.passed else 'FAIL'} {c.name:12} {c.detail}")
        for w in v.warnings:
            print(f"warn {w}")
        return 0 if v.passed else 1
    rec = ex.start_migration(ctx, args.vmid, args.target, source_node=args.source, actor="cli", origin="cli",
                             targetstorage=args.targetstorage)
    print(f"migration {rec['migration_id']} of guest {args.vmid} {rec['source_node']} -> {args.target}: "
          f"{rec['state']} {rec['upid'] or rec['request_upid'] or ''}", file=sys.stderr)
    if not args.no_wait:
        def show(r):
            s = ex.status_of(ctx, r)
            if s["percent"] is not None:
                print(f"  {s['state']} {s['percent']:.1f} %", file=sys.stderr)
        rec = ex.wait(ctx, rec["migration_id"], on_poll=show)
    if args.json:
        print(json.dumps({k: v for k, v in rec.items() if k != "progress"}, indent=2))
    else:
        print(f"{rec['state']}" + (f": {rec['error']}" if rec["error"] else ""))
    return 0 if rec["state"] in ("completed", "started") else 1


def cmd_evacuate(args) -> int:
    from proxbalance.executor import evacuation as ev

    ctx = _ctx(args)
    session = ev.create_session(ctx, args.node, dry_run=True, actor="cli")
    print(ev.format_session(session))
    if args.dry_run:
        return 0
    if not args.yes:
        if input(f"Evacuate {args.node} with this plan? [y/N] ").strip().lower() not in ("y", "yes"):
            print("aborted")
            return 1
    session = ev.run_session(ctx, ev.create_session(ctx, args.node, dry_run=False, actor="cli",
                                                    from_preview=session["session_id"])["session_id"])
    if args.json:
        print(json.dumps(session, indent=2))
    else:
        print(ev.format_session(session))
    return 0 if session["state"] == "completed" else 1
