"""``proxbalance update info|check|apply|switch BRANCH|rollback``: the same update runs as the API's, for a
shell or the transient systemd unit the API starts (a restart would otherwise kill the worker running it)."""

from __future__ import annotations

import argparse
import json

from proxbalance.config import load_settings


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("update", help="version, update check, update/switch/rollback of a git install")
    acts = p.add_subparsers(dest="update_command", metavar="ACTION")
    for name, text in (("info", "version, install method, commit and branch"),
                       ("check", "fetch and say whether the branch has new commits"),
                       ("apply", "update the branch: pip install, restart, health check, rollback on failure"),
                       ("rollback", "back to where the last update or switch started")):
        acts.add_parser(name, help=text).set_defaults(func=cmd_update, action=name)
    sw = acts.add_parser("switch", help="switch to another remote branch (deployed like an update)")
    sw.add_argument("branch")
    sw.set_defaults(func=cmd_update, action="switch")


def cmd_update(args) -> int:
    from proxbalance import updates, updates_git
    from proxbalance.config_service import effective
    from proxbalance.logsetup import configure
    from proxbalance.store import Store

    settings = load_settings(args.config)
    store = Store.open(settings)
    settings = effective(settings, store)[1]
    configure(settings)
    run = {"info": lambda: updates_git.info(settings), "check": lambda: updates_git.check_update(settings),
           "apply": lambda: updates.update(settings, store.engine),
           "rollback": lambda: updates.rollback_branch(settings, store.engine),
           "switch": lambda: updates.switch_branch(settings, args.branch, store.engine)}[args.action]
    result = run()
    print(json.dumps(result, indent=2, default=str))
    return 0 if result.get("result", "updated") in ("updated", "up_to_date") else 1
