"""ProxBalance SIGKILLed with migrations in flight, then restarted: no guest migrated twice (the simulator's
task list is the witness), every intent resolved, the history complete, the batch marked interrupted."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

from proxbalance.executor import batch as bx
from proxbalance.executor import migrations as ex
from proxbalance.store import migrations_log as mlog
from tests.executor.conftest import make_ctx, sim_migration_tasks
from tests.sim.conftest import admin

ROOT = Path(__file__).resolve().parents[2]


def spawn(sim, settings, tmp_path, mode, moves, **extra):
    keys = ("proxmox.host", "proxmox.port", "proxmox.token_id", "proxmox.token_secret", "proxmox.ca_file",
            "proxmox.timeout", "proxmox.retries", "paths.data_dir", "executor.max_in_flight_per_node",
            "executor.max_in_flight_cluster")
    cfg = {"settings": {k: settings[k] for k in keys} | {"executor.poll_interval_seconds": 0.05},
           "ca_file": sim.ca_file, "admin_url": sim.admin_url, "token": sim.token, "mode": mode, "moves": moves, **extra}
    path = tmp_path / "child.json"
    path.write_text(json.dumps(cfg))
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen([sys.executable, str(ROOT / "tests" / "executor" / "child.py"), str(path)], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def wait_for(pred, timeout=30.0):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if pred():
            return True
        time.sleep(0.05)
    return False


def test_sigkill_with_batch_in_flight_then_restart(sim, settings, store, collect, tmp_path):
    settings = settings.replace(executor__max_in_flight_per_node=2, executor__max_in_flight_cluster=2)
    moves = [{"vmid": v, "target_node": t} for v, t in ((110, "n2"), (104, "n4"), (122, "n2"), (123, "n4"))]
    child = spawn(sim, settings, tmp_path, "batch", moves)
    try:
        assert wait_for(lambda: len([m for m in mlog.active(store.engine) if m["state"] == "started"]) >= 2), \
            child.stderr.read1().decode() if child.poll() is not None else "no migrations started"
        child.send_signal(signal.SIGKILL)
        child.wait(10)
    finally:
        if child.poll() is None:
            child.kill()
    started = {m["vmid"] for m in mlog.active(store.engine)}
    assert started == {110, 104}
    sim.advance(600)  # the killed process's migrations finish while nobody watches
    collect()
    ctx = make_ctx(sim, settings, store)  # "restart": reconcile on start, resolve the orphaned batch
    ex.reconcile(ctx)
    assert bx.resolve_orphans(ctx)
    assert mlog.active(store.engine) == []
    rows, _ = mlog.query(store.engine, limit=None)
    tasks = sim_migration_tasks(sim)
    assert sorted(int(t.id) for t in tasks) == [104, 110]  # each once; the queued moves never started
    assert {r["upid"] for r in rows} == {t.upid for t in tasks}  # history complete: every task is an intent
    for r in rows:
        assert r["state"] == "completed" and sim.cluster.guest(r["vmid"]).node == r["target_node"]
    b = mlog.batches(store.engine, ("interrupted",))[0]
    assert {m["vmid"]: m["status"] for m in b["moves"]} == {110: "completed", 104: "completed", 122: "skipped",
                                                            123: "skipped"}
    # the restarted ProxBalance can run the rest without repeating anything
    b2 = bx.create_batch(ctx, [{"vmid": 122, "target_node": "n2"}], actor="t")
    assert bx.run_batch(ctx, b2["batch_id"])["state"] == "completed"
    assert sorted(int(t.id) for t in sim_migration_tasks(sim)) == [104, 110, 122]


def test_sigkill_while_the_migrate_call_is_in_flight(sim, settings, store, collect, tmp_path):
    admin(sim, "POST", "api-faults", prefix="/nodes/n1/qemu/100/migrate", latency_ms=1500)
    assert sim_migration_tasks(sim) == []
    child = spawn(sim, settings, tmp_path, "one", [{"vmid": 100, "target_node": "n2"}])
    try:
        assert wait_for(lambda: bool(mlog.active(store.engine)))
        assert mlog.active(store.engine)[0]["state"] == "pending"  # intent committed before the call
        time.sleep(0.7)  # the POST is on the wire, its answer 0.8 s away
        child.send_signal(signal.SIGKILL)
        child.wait(10)
    finally:
        if child.poll() is None:
            child.kill()
    assert wait_for(lambda: bool(sim_migration_tasks(sim, 100)), 10)  # PVE acts on the dead process's request
    admin(sim, "DELETE", "api-faults")
    ctx = make_ctx(sim, settings, store)
    ex.reconcile(ctx)
    rec = mlog.query(store.engine)[0][0]
    assert rec["state"] == "started" and rec["upid"] == sim_migration_tasks(sim, 100)[0].upid
    assert ex.wait(ctx, rec["migration_id"])["state"] == "completed"
    assert len(sim_migration_tasks(sim, 100)) == 1
    events = [e["state"] for e in mlog.events(store.engine, rec["migration_id"])]
    assert events == ["pending", "started", "completed"]


def test_sigkill_mid_evacuation_then_resume(sim, settings, store, collect, tmp_path):
    from proxbalance.executor import evacuation as ev
    from proxbalance.store import maintenance as repo

    child = spawn(sim, settings, tmp_path, "evacuate", [], node="n2")
    try:
        assert wait_for(lambda: any(m["state"] == "started" for m in mlog.active(store.engine)))
        child.send_signal(signal.SIGKILL)
        child.wait(10)
    finally:
        if child.poll() is None:
            child.kill()
    sessions = repo.sessions(store.engine, ("running",))
    assert len(sessions) == 1
    sim.advance(120)
    collect()
    ctx = make_ctx(sim, settings, store)
    done = ev.run_session(ctx, sessions[0]["session_id"])  # what the restarted server's resume_orphans runs
    assert done["state"] in ("completed", "completed_with_errors")
    assert mlog.active(store.engine) == []
    tasks = sim_migration_tasks(sim)
    assert len(tasks) == len({t.id for t in tasks})  # nobody migrated twice
    for m in done["moves"]:
        assert sim.cluster.guest(m["vmid"]).node == (m["target_node"] if m["state"] == "completed" else "n2")
    assert all(x["reason"] for x in done["summary"]["remaining"])
