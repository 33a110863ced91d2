"""``proxbalance demo``: the whole stack on the embedded default.

Starts the simulated cluster (scenario ``demo``, 60× speed) over HTTPS, points the collector at it through
the production path (proxmoxer, TLS verified against the simulator's certificate), and serves the API and the
dashboard on localhost with a fresh admin key printed once.
"""

from __future__ import annotations

import argparse
import secrets
from pathlib import Path


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("demo", help="simulated cluster + collector + API + dashboard on localhost")
    p.add_argument("--scenario", default="demo", help="simulator scenario name or file (default: demo)")
    p.add_argument("--speed", type=float, default=60.0, help="simulated seconds per real second")
    p.add_argument("--port", type=int, default=5000, help="API/dashboard port (default 5000)")
    p.add_argument("--sim-port", type=int, default=0, help="simulator port (default: any free port)")
    p.add_argument("--data-dir", default="data/demo", help="where the demo database lives")
    p.set_defaults(func=cmd_demo)


def demo_settings(sim, data_dir: Path, admin_key: str):
    from proxbalance.config import load_settings

    return load_settings(env={}, overrides={
        "proxmox.host": sim.host, "proxmox.port": sim.port,
        "proxmox.token_id": f"{sim.token_user}!{sim.token_name}", "proxmox.token_secret": sim.token_value,
        "proxmox.verify_tls": True, "proxmox.ca_file": str(sim.ca_file),
        "paths.data_dir": str(data_dir), "auth.bootstrap_admin_key": admin_key,
        "collection.in_process": True, "collection.interval_seconds": 10,
    })


def cmd_demo(args) -> int:
    import waitress

    from proxbalance.api import create_app
    from proxbalance.sim import SimServer

    sim = SimServer(scenario=args.scenario, speed=args.speed, port=args.sim_port)
    sim.start()
    admin_key = "pb_demo_" + secrets.token_urlsafe(16)
    settings = demo_settings(sim, Path(args.data_dir).resolve(), admin_key)
    app = create_app(settings, clock=sim.now)  # history and rates on simulated time
    print(f"Simulated Proxmox VE cluster ({args.scenario}, {args.speed:g}x): {sim.url}/api2/json", flush=True)
    print(f"Dashboard: http://127.0.0.1:{args.port}/   API docs: http://127.0.0.1:{args.port}/api/docs")
    print(f"Admin API key (this run only): {admin_key}", flush=True)
    try:
        waitress.serve(app, host="127.0.0.1", port=args.port, threads=8, ident="proxbalance")
    finally:
        sim.stop()
    return 0
