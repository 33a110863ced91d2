"""The ``proxbalance`` command.

Each area registers its own sub-commands through a ``register(subparsers)`` function in its module, listed in
``_REGISTRARS``; this file only builds the parser and dispatches. A sub-command sets ``func(args) -> int``.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from proxbalance import __version__
from proxbalance.errors import ProxBalanceError

# module path of each area's register(subparsers) function, in help order
_REGISTRARS = (
    "proxbalance.cli_core",  # serve, db, keys, config
    "proxbalance.sim.cli",  # sim
    "proxbalance.collector.cli",  # collect
    "proxbalance.recommend_cli",  # recommend
    "proxbalance.demo",  # demo
    "proxbalance.executor_cli",  # migrate, evacuate
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="proxbalance", description="Load balancer for Proxmox VE clusters.")
    parser.add_argument("--version", action="version", version=f"proxbalance {__version__}")
    parser.add_argument("--config", help="path of the TOML config file (default: $PROXBALANCE_CONFIG or "
                        "/etc/proxbalance/config.toml)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in _REGISTRARS:
        try:
            module = importlib.import_module(name)
        except ModuleNotFoundError as exc:  # an area not built yet
            if exc.name != name:
                raise
            continue
        module.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except ProxBalanceError as exc:
        print(f"proxbalance: error: {exc.message}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
