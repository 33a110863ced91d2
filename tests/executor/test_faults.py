"""Fault tests: the PVE answer to a migrate call lost, 500s on task status, a node going offline mid-migration,
quorum lost mid-batch. The simulator's task list is the witness: no guest is ever migrated twice and every
intent ends resolved with a complete event history."""

from __future__ import annotations

import time

from proxbalance.executor import batch as bx
from proxbalance.executor import migrations as ex
from proxbalance.store import migrations_log as mlog
from tests.executor.conftest import make_ctx, sim_migration_tasks
from tests.sim.conftest import admin


def all_resolved(ctx) -> bool:
    return mlog.active(ctx.store.engine) == []


def test_answer_lost_after_migrate_post_is_adopted_not_retried(sim, settings, store, collect):
    # PVE acts on the POST 2.5 s after it arrives; our client gives up after 1 s: the answer is lost.
    ctx = make_ctx(sim, settings.replace(proxmox__timeout=1.0, proxmox__retries=0), store)
    admin(sim, "POST", "api-faults", prefix="/nodes/n1/qemu/100/migrate", latency_ms=2500)
    rec = ex.start_migration(ctx, 100, "n2", actor="test", origin="manual")
    assert rec["state"] == "unknown" and rec["upid"] is None
    assert [e["state"] for e in mlog.events(store.engine, rec["migration_id"])] == ["pending", "unknown"]
    time.sleep(2.0)  # the request reaches the simulator's handler and starts the task
    admin(sim, "DELETE", "api-faults")
    ex.reconcile(ctx)
    rec = mlog.get(store.engine, rec["migration_id"])
    assert rec["state"] == "started" and rec["upid"] == sim_migration_tasks(sim, 100)[0].upid
    assert ex.wait(ctx, rec["migration_id"])["state"] == "completed"
    assert len(sim_migration_tasks(sim, 100)) == 1


def test_call_that_never_reached_pve_resolves_from_location(ctx, sim, settings):
    admin(sim, "POST", "api-faults", prefix="/nodes/n1/qemu/100/migrate", error_rate=1, status=503,
          message="proxy error")
    rec = ex.start_migration(ctx, 100, "n2", actor="test", origin="manual")
    assert rec["state"] == "unknown"
    admin(sim, "DELETE", "api-faults")
    ex.reconcile(ctx)  # within the grace period: still undecided, and nothing retried
    assert mlog.get(ctx.store.engine, rec["migration_id"])["state"] == "unknown"
    sim.advance(float(settings["executor.intent_grace_seconds"]) + 1)
    ex.reconcile(ctx)
    rec = mlog.get(ctx.store.engine, rec["migration_id"])
    assert rec["state"] == "failed" and "guest is on n1" in rec["error"]
    assert sim_migration_tasks(sim) == [] and all_resolved(ctx)


def test_500_on_task_status_never_decides_the_outcome(ctx, sim):
    rec = ex.start_migration(ctx, 100, "n2", actor="test", origin="manual")
    admin(sim, "POST", "api-faults", prefix="/nodes/n1/tasks", error_rate=1, status=500, message="boom")
    for _ in range(10):
        sim.advance(10)
        r = ex.refresh(ctx, rec["migration_id"])
        assert r["state"] == "started" and "boom" in r["poll_error"]
    admin(sim, "DELETE", "api-faults")
    assert ex.refresh(ctx, rec["migration_id"])["state"] == "completed"
    assert len(sim_migration_tasks(sim, 100)) == 1


def test_node_offline_mid_migration(ctx, sim):
    rec = ex.start_migration(ctx, 110, "n2", actor="test", origin="manual")  # slow: 32 GiB
    sim.advance(10)
    admin(sim, "POST", "nodes/n1/offline")
    for _ in range(5):
        sim.advance(30)
        r = ex.refresh(ctx, rec["migration_id"])
        assert r["state"] == "started" and r.get("poll_error")
    admin(sim, "POST", "nodes/n1/online")
    done = ex.wait(ctx, rec["migration_id"])
    task = sim_migration_tasks(sim, 110)
    assert len(task) == 1
    assert done["state"] == ("completed" if task[0].exitstatus == "OK" else "failed")
    assert all_resolved(ctx)


def test_quorum_lost_mid_batch_stops_it(ctx, sim, settings):
    ctx.settings = settings.replace(executor__max_in_flight_per_node=1, executor__max_in_flight_cluster=1)
    b = bx.create_batch(ctx, [{"vmid": v, "target_node": "n2"} for v in (122, 123, 124)], actor="test")
    calls = {"n": 0}

    def sleep(_s):
        calls["n"] += 1
        if calls["n"] == 1:
            admin(sim, "POST", "quorum", quorate=0)
        sim.advance(5)
    ctx.sleep = sleep
    done = bx.run_batch(ctx, b["batch_id"])
    status = [m["status"] for m in done["moves"]]
    assert done["state"] == "failed" and status[0] == "completed" and status[1] == "failed"
    assert "quorum" in done["moves"][1]["error"] and status[2] == "skipped"
    assert [int(t.id) for t in sim_migration_tasks(sim)] == [122] and all_resolved(ctx)
