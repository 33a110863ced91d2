"""Fixtures for automation against ``proxbalance sim`` (tests/automation/cluster.toml: three nodes, n1 carrying
the load; stepped clock) over HTTPS.

The fixtures live in tests/automation/sim/conftest.py. The ExecContext's clock
is the simulator's and its ``sleep`` advances simulated time, so nothing waits on the wall clock.
"""

from __future__ import annotations

import json
from pathlib import Path

from proxmoxer import ProxmoxAPI

from proxbalance.automation import run_cycle
from proxbalance.collector import collect_once
from proxbalance.executor.context import ExecContext
from proxbalance.pve.client import PveClient
from proxbalance.sim import SimServer

CLUSTER = str(Path(__file__).resolve().parent / "cluster.toml")
ADMIN_KEY = "pb-test-admin-key-automation-000000000"

#: automation on and live with observation off, so a test switches on only the gate it tests
LIVE = {"automation.enabled": True, "automation.dry_run": False, "automation.observation_cycles": 1,
        "automation.observation_minutes": 0.0, "automation.min_confidence": 0, "automation.max_concurrent": 2,
        "automation.max_migrations_per_run": 2,
        "executor.poll_interval_seconds": 0.01, "auth.bootstrap_admin_key": ADMIN_KEY,
        "ratelimit.enabled": False}


def make_ctx(sim: SimServer, settings, store) -> ExecContext:
    ctx = ExecContext(store=store, settings=settings, pve=PveClient(settings), clock=sim.now)
    ctx.sleep = lambda _s: sim.advance(5.0)
    return ctx


def cycle(sim, settings, store, **kw):
    """One cycle at the simulator's time with ``settings``."""
    return run_cycle(settings, store, ctx=make_ctx(sim, settings, store), trigger="test", **kw)


def collect(sim, settings, store):
    return collect_once(settings, store, now=sim.now())


def pve(sim: SimServer) -> ProxmoxAPI:
    return ProxmoxAPI(sim.host, port=sim.port, user=sim.token_user, token_name=sim.token_name,
                      token_value=sim.token_value, verify_ssl=sim.ca_file, timeout=10)


def by_vmid(out) -> dict:
    return {r["vmid"]: r for r in out["verdicts"]}


def gates_of(out) -> set:
    return {r["gate"] for r in out["verdicts"]}


def finish_migrations(sim, seconds: float = 900.0) -> None:
    sim.advance(seconds)


def config_file(tmp_path, settings, **automation) -> str:
    """A TOML config file with the simulator connection and automation settings of ``settings``."""
    keys = ("proxmox.host", "proxmox.port", "proxmox.token_id", "proxmox.token_secret", "proxmox.ca_file",
            "paths.data_dir", "automation.enabled", "automation.dry_run", "automation.observation_cycles",
            "automation.observation_minutes", "automation.min_confidence", "collection.backfill")
    sections: dict = {}
    for k in keys:
        sec, name = k.split(".")
        sections.setdefault(sec, {})[name] = settings[k]
    sections["automation"].update(automation)
    path = tmp_path / "config.toml"
    path.write_text("\n".join(f"[{sec}]\n" + "\n".join(f"{n} = {json.dumps(v)}" for n, v in vals.items())
                              for sec, vals in sections.items()) + "\n")
    return str(path)
