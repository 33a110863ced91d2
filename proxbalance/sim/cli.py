"""``proxbalance sim``: serve a simulated PVE cluster until interrupted."""

from __future__ import annotations

import argparse


def register(sub) -> None:
    p = sub.add_parser("sim", help="serve a simulated Proxmox VE cluster (real PVE API over HTTPS)",
                       description="Serve a simulated Proxmox VE cluster whose guests replay real VM traces.")
    p.add_argument("--scenario", default="demo", help="shipped scenario name (demo, large, affinity, "
                   "maintenance) or path of a scenario TOML file (default: demo)")
    p.add_argument("--speed", type=float, default=60.0, help="sim seconds per wall second (default: 60)")
    p.add_argument("--stepped", action="store_true", help="time moves only through POST /admin/advance")
    p.add_argument("--host", default="127.0.0.1", help="listen address (default: 127.0.0.1)")
    p.add_argument("--port", type=int, default=8006, help="listen port (default: 8006, 0 = any free port)")
    p.add_argument("--seed", type=int, default=None, help="generator seed (default: the scenario's)")
    p.add_argument("--trace", default=None, help="full trace npz (default: the shipped subset)")
    p.add_argument("--state-dir", default=None, help="where the certificate is written (default: a temp dir)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from proxbalance.sim import SimServer

    sim = SimServer(scenario=args.scenario, seed=args.seed, speed=args.speed, host=args.host, port=args.port,
                    stepped=args.stepped, trace_path=args.trace, state_dir=args.state_dir)
    sim.start()
    c = sim.cluster
    print(f"proxbalance sim: scenario '{sim.scenario.name}' ({len(c.nodes)} nodes, {len(c.guests)} guests), "
          f"seed {sim.seed}, {'stepped' if c.clock.stepped else f'speed {c.clock.speed:g}x'}")
    print(f"URL:        {sim.url}  (PVE API under {sim.api_url})")
    print(f"API token:  PVEAPIToken={sim.token}")
    print(f"  token id: {sim.token_id}")
    print(f"  secret:   {sim.token_value}")
    print(f"Password:   {sim.token_user} / {sim.password}")
    print(f"CA file:    {sim.ca_file}")
    print(f"Admin API:  {sim.admin_url}  (same token)")
    print("Press Ctrl-C to stop.", flush=True)
    try:
        sim.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        sim.stop()
    return 0
