"""Migrations through the executor against the simulator: live VM, local disks, CT, HA VM, stopped guest,
cancel, refusals, and the exactly-once constraint."""

from __future__ import annotations

import pytest

from proxbalance.errors import ConflictError
from proxbalance.executor import migrations as ex
from proxbalance.store import migrations_log as mlog
from tests.executor.conftest import sim_migration_tasks


def follow(ctx, mid):
    """Refresh until final; return (record, progress percents seen while running)."""
    seen = []
    rec = ex.wait(ctx, mid, timeout=3600, on_poll=lambda r: seen.append((r["progress"] or {}).get("percent"))
                  if r["state"] == "started" else None)
    return rec, [p for p in seen if p is not None and p < 100]


@pytest.mark.parametrize("vmid,target,mode", [(100, "n2", "online"), (102, "n2", "online"), (113, "n2", "restart"),
                                              (106, "n4", "offline")])
def test_migration_completes_with_progress(ctx, sim, vmid, target, mode):
    rec = ex.start_migration(ctx, vmid, target, actor="test", origin="manual")
    assert rec["state"] == "started" and rec["upid"].startswith("UPID:n") and rec["mode"] == mode
    done, seen = follow(ctx, rec["migration_id"])
    assert done["state"] == "completed", done
    assert sim.cluster.guest(vmid).node == target
    if mode != "offline" or vmid == 102:
        assert len(set(seen)) >= 2, seen  # progress observed at least twice before completion
    tasks = sim_migration_tasks(sim, vmid)
    assert len(tasks) == 1
    if vmid == 102:  # local disk: with-local-disks was passed, the drive mirror shows in the log
        assert any("drive-scsi0" in t for _, t in tasks[0].lines)
    states = [e["state"] for e in mlog.events(ctx.store.engine, rec["migration_id"])]
    assert states[0] == "pending" and "started" in states and states[-1] == "completed"


def test_ha_vm_follows_the_hamigrate_request(ctx, sim):
    rec = ex.start_migration(ctx, 108, "n4", actor="test", origin="manual")
    assert rec["ha"] and rec["request_upid"] and ":hamigrate:" in rec["request_upid"] and rec["upid"] is None
    done, seen = follow(ctx, rec["migration_id"])
    assert done["state"] == "completed", done
    assert ":qmigrate:" in done["upid"]
    assert len(set(seen)) >= 2, seen
    assert sim.cluster.guest(108).node == "n4"


def test_cancel_running_migration(ctx, sim):
    rec = ex.start_migration(ctx, 110, "n2", actor="test", origin="manual")  # 32 GiB: slow
    sim.advance(10)
    out = ex.cancel(ctx, rec["migration_id"], actor="test")
    assert out["state"] == "cancelled", out
    assert sim.cluster.guest(110).node == "n1"
    assert sim.cluster.guest(110).lock is None


def test_second_migration_of_same_guest_refused(ctx, sim):
    rec = ex.start_migration(ctx, 110, "n2", actor="test", origin="manual")
    with pytest.raises(ConflictError) as err:
        ex.start_migration(ctx, 110, "n4", actor="test", origin="manual")
    assert err.value.code == "validation_failed"
    with pytest.raises(ConflictError) as err:  # the constraint itself, without validation in front
        mlog.insert_intent(ctx.store.engine, now=ctx.now(), vmid=110, guest_type="qemu", guest_name="x",
                           source_node="n1", target_node="n4", mode="online", ha=False, actor="t", origin="manual")
    assert err.value.code == "migration_in_flight"
    ex.wait(ctx, rec["migration_id"])
    assert len(sim_migration_tasks(sim, 110)) == 1


def test_failed_migration_recorded(ctx, sim):
    from tests.sim.conftest import admin
    admin(sim, "POST", "guests/111/fail-migration", count=1)
    rec = ex.start_migration(ctx, 111, "n2", actor="test", origin="manual")
    done = ex.wait(ctx, rec["migration_id"])
    assert done["state"] == "failed" and done["error"]
    assert sim.cluster.guest(111).node == "n1"


def test_validation_failure_starts_nothing(ctx, sim):
    with pytest.raises(ConflictError) as err:
        ex.start_migration(ctx, 109, "n2", actor="test", origin="manual")
    assert err.value.details["validation"]["passed"] is False
    assert sim_migration_tasks(sim) == [] and mlog.query(ctx.store.engine)[1] == 0


def test_outcome_measured_after_the_delay(ctx, sim, settings):
    from proxbalance.executor import outcomes as oc
    rec = ex.start_migration(ctx, 100, "n2", actor="test", origin="manual")
    ex.wait(ctx, rec["migration_id"])
    out = oc.outcomes(ctx, vmid=100)
    assert out[0]["status"] == "pending" and "target_mem_pct" in out[0]["predicted"]
    assert oc.refresh_outcomes(ctx) == {"measured": 0, "pending": 1}
    sim.advance(60 * float(settings["executor.outcome_delay_minutes"]) + 1)
    assert oc.refresh_outcomes(ctx)["measured"] == 1
    out = oc.outcomes(ctx, vmid=100)[0]
    assert out["status"] == "measured" and out["actual"]["guest_node"] == "n2" and "target_mem_pct" in out["actual"]
