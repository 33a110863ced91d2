"""``proxbalance collect``: one collection cycle; exit code 1 when the cluster could not be read, 0 with a
message on stderr when skipped because another collection is running."""

from __future__ import annotations

import argparse
import json
import sys

from proxbalance.config import load_settings
from proxbalance.errors import ConflictError, ProxBalanceError


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("collect", help="collect one snapshot of the cluster into the store (systemd timer runs it)")
    p.add_argument("--json", action="store_true", help="print the full result as JSON")
    p.add_argument("--no-backfill", action="store_true", help="skip the rrddata history backfill")
    p.set_defaults(func=cmd_collect)


def cmd_collect(args) -> int:
    from proxbalance.collector.cycle import collect_once
    from proxbalance.store import Store

    settings = load_settings(args.config)
    if args.no_backfill:
        settings = settings.replace(collection__backfill=False)
    store = Store.open(settings)
    try:
        result = collect_once(settings, store)
    except ConflictError as exc:  # another collection runs (timer overlap, API refresh, other host): not a failure
        if args.json:
            print(json.dumps({"success": False, "skipped": True, "error": {"code": exc.code, "message": exc.message}}))
        else:
            print(f"proxbalance: {exc.message}", file=sys.stderr)
        return 0
    except ProxBalanceError as exc:
        if args.json:
            print(json.dumps({"success": False, "error": {"code": exc.code, "message": exc.message}}))
        else:
            print(f"proxbalance: collection failed, nothing written: {exc.message}", file=sys.stderr)
        return 1
    finally:
        store.close()
    if args.json:
        print(json.dumps({"success": True, **result.as_dict()}, indent=2))
    else:
        print(result.summary())
    return 0
