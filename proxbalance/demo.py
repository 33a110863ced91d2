"""``proxbalance demo``: the whole stack on the embedded default.

Starts the simulated cluster (scenario ``demo``, 60× speed) over HTTPS, points the collector at it through
the production path (proxmoxer, TLS verified against the simulator's certificate), and serves the API and the
dashboard on localhost with a fresh admin key printed once. Each run starts on a fresh demo database (the
simulator's clock restarts too); ``--config`` and ``PROXBALANCE_*`` apply to every setting the demo does not
set itself; a busy ``--port`` is a one-line error (exit 2).
"""

from __future__ import annotations

import argparse
import os
import secrets
import socket
import sys
from pathlib import Path


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("demo", help="simulated cluster + collector + API + dashboard on localhost")
    p.add_argument("--scenario", default="demo", help="simulator scenario name or file (default: demo)")
    p.add_argument("--speed", type=float, default=60.0, help="simulated seconds per real second")
    p.add_argument("--port", type=int, default=5000, help="API/dashboard port (default 5000)")
    p.add_argument("--sim-port", type=int, default=0, help="simulator port (default: any free port)")
    p.add_argument("--data-dir", default="data/demo", help="where the demo database lives")
    p.set_defaults(func=cmd_demo)


INTERVAL_S = 10  # real seconds between the demo's collections


def demo_settings(sim, data_dir: Path, admin_key: str, config: str | None = None,
                  env: dict[str, str] | None = None):
    """The demo's own settings over ``--config`` and ``PROXBALANCE_*`` (which apply to everything else)."""
    from proxbalance.config import load_settings

    return load_settings(path=config, env={} if env is None else env, overrides={
        "proxmox.host": sim.host, "proxmox.port": sim.port,
        "proxmox.token_id": f"{sim.token_user}!{sim.token_name}", "proxmox.token_secret": sim.token_value,
        "proxmox.verify_tls": True, "proxmox.ca_file": str(sim.ca_file),
        "paths.data_dir": str(data_dir), "auth.bootstrap_admin_key": admin_key,
        "collection.in_process": True, "collection.interval_seconds": INTERVAL_S,
        # the collector runs every INTERVAL_S real seconds, data ages are measured on the simulator's clock
        "collection.stale_after_seconds": 3 * INTERVAL_S * _speed(sim),
    })


def _speed(sim) -> float:
    """Simulated seconds per real second of ``sim`` (1 for anything that is not a running simulator)."""
    cluster = getattr(sim, "cluster", None)
    return float(cluster.clock.speed) if cluster is not None else 1.0


DEMO_FILES = ("proxbalance.sqlite", "proxbalance.sqlite-wal", "proxbalance.sqlite-shm", "ratelimit.sqlite",
              "ratelimit.sqlite-wal", "ratelimit.sqlite-shm")


def port_free(port: int) -> bool:
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def fresh_data_dir(data_dir: Path) -> None:
    """The simulator's clock restarts with every demo, so the demo's database does too: an old snapshot
    would otherwise be served as fresh (or from the future). Only the demo's own files are removed."""
    for name in DEMO_FILES:
        (data_dir / name).unlink(missing_ok=True)


def cmd_demo(args) -> int:
    import waitress

    from proxbalance.api import create_app
    from proxbalance.sim import SimServer

    if not port_free(args.port):
        print(f"proxbalance demo: port {args.port} is already in use; choose another with --port "
              "(make demo PORT=...)", file=sys.stderr)
        return 2
    data_dir = Path(args.data_dir).resolve()
    fresh_data_dir(data_dir)
    sim = SimServer(scenario=args.scenario, speed=args.speed, port=args.sim_port)
    sim.start()
    admin_key = "pb_demo_" + secrets.token_urlsafe(16)
    settings = demo_settings(sim, data_dir, admin_key, config=args.config, env=dict(os.environ))
    app = create_app(settings, clock=sim.now)  # history and rates on simulated time
    print(f"Simulated Proxmox VE cluster ({args.scenario}, {args.speed:g}x): {sim.url}/api2/json", flush=True)
    print(f"Dashboard: http://127.0.0.1:{args.port}/   API docs: http://127.0.0.1:{args.port}/api/docs")
    print(f"Admin API key (this run only): {admin_key}", flush=True)
    try:
        waitress.serve(app, host="127.0.0.1", port=args.port, threads=8, ident="proxbalance")
    finally:
        sim.stop()
    return 0
