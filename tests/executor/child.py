"""A ProxBalance process for the SIGKILL test: runs a batch (or one migration) against a simulator, using the
simulator's clock, until it is killed. ``python tests/executor/child.py CONFIG.json``."""

from __future__ import annotations

import json
import sys
import time

import requests

from proxbalance.config import load_settings
from proxbalance.executor import batch as bx
from proxbalance.executor import migrations as ex
from proxbalance.executor.context import ExecContext
from proxbalance.store import Store


def main(path: str) -> None:
    cfg = json.load(open(path))
    settings = load_settings(env={}, overrides=cfg["settings"])
    session = requests.Session()
    session.verify = cfg["ca_file"]
    session.trust_env = False
    auth = {"Authorization": f"PVEAPIToken={cfg['token']}"}

    def clock() -> float:
        return float(session.get(cfg["admin_url"] + "/state", headers=auth, timeout=10).json()["data"]["time"])

    ctx = ExecContext.from_settings(settings, Store.open(settings), clock=clock)
    ctx.sleep = time.sleep
    if cfg["mode"] == "evacuate":
        from proxbalance.executor import evacuation as ev
        s = ev.create_session(ctx, cfg["node"], dry_run=False, actor="child")
        ev.run_session(ctx, s["session_id"])
    elif cfg["mode"] == "batch":
        b = bx.create_batch(ctx, cfg["moves"], actor="child")
        bx.run_batch(ctx, b["batch_id"])
    else:
        m = cfg["moves"][0]
        ex.start_migration(ctx, m["vmid"], m["target_node"], actor="child", origin="cli")
    time.sleep(600)


if __name__ == "__main__":
    main(sys.argv[1])
