"""Migrations through proxmoxer: locks, task states and logs, the guest's new node, PVE's errors, cancel."""

from __future__ import annotations

import pytest
from proxmoxer.core import ResourceException

from tests.sim.conftest import admin, client


def guest(px, vmid: int) -> dict:
    return next(r for r in px.cluster.resources.get(type="vm") if r["vmid"] == vmid)


def run_task(sim, px, node: str, upid: str, seconds: float = 600) -> dict:
    sim.advance(seconds)
    return px.nodes(node).tasks(upid).status.get()


def log_text(px, node: str, upid: str) -> list[str]:
    return [line["t"] for line in px.nodes(node).tasks(upid).log.get(limit=1000)]


def test_vm_live_migration_lock_task_and_new_node(small):
    px = client(small)
    upid = px.nodes("n1").qemu(100).migrate.post(target="n2", online=1)
    assert upid.startswith("UPID:n1:") and ":qmigrate:100:root@pam!proxbalance:" in upid
    small.advance(2)
    assert guest(px, 100)["lock"] == "migrate"
    assert px.nodes("n1").qemu(100).config.get()["lock"] == "migrate"
    st = px.nodes("n1").tasks(upid).status.get()
    assert st["status"] == "running" and "exitstatus" not in st
    assert guest(px, 100)["node"] == "n1"  # moves only at the end
    st = run_task(small, px, "n1", upid)
    assert st["status"] == "stopped" and st["exitstatus"] == "OK"
    g = guest(px, 100)
    assert g["node"] == "n2" and "lock" not in g
    log = log_text(px, "n1", upid)
    assert any("migration active, transferred" in t and "VM-state" in t for t in log)
    assert any("migration finished successfully" in t for t in log) and log[-1] == "TASK OK"
    assert any(t["upid"] == upid and t["status"] == "OK" for t in px.cluster.tasks.get())
    px.nodes("n2").qemu(100).status.current.get()  # reachable on its new node


def test_ct_restart_migration(small):
    px = client(small)
    with pytest.raises(ResourceException) as e:
        px.nodes("n1").lxc(101).migrate.post(target="n2")
    assert e.value.status_code == 500 and "can't migrate running container without --online or --restart" \
        in str(e.value)
    upid = px.nodes("n1").lxc(101).migrate.post(target="n2", restart=1)
    assert ":vzmigrate:101:" in upid
    small.advance(1)
    assert guest(px, 101)["lock"] == "migrate"
    assert run_task(small, px, "n1", upid)["exitstatus"] == "OK"
    assert guest(px, 101)["node"] == "n2" and guest(px, 101)["status"] == "running"
    log = log_text(px, "n1", upid)
    assert log[0].endswith("shutdown CT 101") and any("start container on target node" in t for t in log)


def test_stopped_vm_offline_migration(small):
    px = client(small)
    upid = px.nodes("n1").qemu(106).migrate.post(target="n4")
    assert run_task(small, px, "n1", upid)["exitstatus"] == "OK"
    assert guest(px, 106)["node"] == "n4"


@pytest.mark.parametrize("call, status, text", [
    (lambda px: px.nodes("n1").qemu(102).migrate.post(target="n1", online=1), 400, "target is local node."),
    (lambda px: px.nodes("n1").qemu(102).migrate.post(target="n2"), 500,
     "can't migrate running VM without --online"),
    (lambda px: px.nodes("n1").qemu(103).migrate.post(target="n2", online=1), 500,
     "storage 'local-zfs' is not available on node 'n2'"),
    (lambda px: px.nodes("n1").qemu(102).migrate.post(target="nope", online=1), 500,
     "no such cluster node 'nope'"),
    (lambda px: px.nodes("n1").lxc(102).migrate.post(target="n2"), 500, "does not exist"),
    (lambda px: px.nodes("n1").qemu(102).migrate.post(online=1), 400, "target"),
])
def test_sync_errors(small, call, status, text):
    px = client(small)
    with pytest.raises(ResourceException) as e:
        call(px)
    assert e.value.status_code == status
    assert text in str(e.value)


def test_param_error_has_errors_dict(small):
    px = client(small)
    with pytest.raises(ResourceException) as e:
        px.nodes("n1").qemu(102).migrate.post(target="n1", online=1)
    assert e.value.errors == {"target": "target is local node."}


def task_error(small, px, vmid, target, **kw) -> tuple[dict, list[str]]:
    upid = px.nodes("n1").qemu(vmid).migrate.post(target=target, **kw)
    st = run_task(small, px, "n1", upid)
    return st, log_text(px, "n1", upid)


def test_local_disks_need_with_local_disks(small):
    px = client(small)
    info = px.nodes("n1").qemu(102).migrate.get()
    assert [d["volid"] for d in info["local_disks"]] == ["local-lvm:vm-102-disk-0"]
    st, log = task_error(small, px, 102, "n2", online=1)
    assert st["exitstatus"] == "migration aborted"
    assert any("can't live migrate attached local disks without with-local-disks option" in t for t in log)
    assert guest(px, 102)["node"] == "n1" and "lock" not in guest(px, 102)
    st, log = task_error(small, px, 102, "n2", online=1, **{"with-local-disks": 1})
    assert st["exitstatus"] == "OK" and any("drive-scsi0: transferred" in t for t in log)
    assert guest(px, 102)["node"] == "n2"


def test_not_enough_memory_on_target(small):
    px = client(small)
    st, log = task_error(small, px, 104, "n3", online=1)
    assert st["exitstatus"] == "migration aborted" and any("not enough memory on node 'n3'" in t for t in log)
    assert guest(px, 104)["node"] == "n1"


def test_local_resources_block(small):
    px = client(small)
    assert px.nodes("n1").qemu(109).migrate.get()["local_resources"] == ["hostpci0"]
    st, log = task_error(small, px, 109, "n2", online=1)
    assert st["exitstatus"] != "OK" and any("uses local devices: hostpci0" in t for t in log)


def test_locked_guest_and_cancel(small):
    px = client(small)
    upid = px.nodes("n1").qemu(110).migrate.post(target="n2", online=1)
    small.advance(3)
    with pytest.raises(ResourceException) as e:
        px.nodes("n1").qemu(110).migrate.post(target="n4", online=1)
    assert e.value.status_code == 500 and "VM is locked (migrate)" in str(e.value)
    assert px.nodes("n1").tasks(upid).status.get()["status"] == "running"
    px.nodes("n1").tasks(upid).delete()
    st = px.nodes("n1").tasks(upid).status.get()
    assert st["status"] == "stopped" and st["exitstatus"] != "OK"
    small.advance(600)
    g = guest(px, 110)
    assert g["node"] == "n1" and "lock" not in g
    assert log_text(px, "n1", upid)[-1].startswith("TASK ERROR")


def test_forced_failure(small):
    px = client(small)
    admin(small, "POST", "guests/111/fail-migration", count=1)
    st, log = task_error(small, px, 111, "n2", online=1)
    assert st["exitstatus"] == "migration problems" and guest(px, 111)["node"] == "n1"
    st, _ = task_error(small, px, 111, "n2", online=1)  # only one failure was asked for
    assert st["exitstatus"] == "OK" and guest(px, 111)["node"] == "n2"


def test_target_offline(small):
    px = client(small)
    admin(small, "POST", "nodes/n4/offline")
    try:
        st, log = task_error(small, px, 104, "n4", online=1)
    finally:
        admin(small, "POST", "nodes/n4/online")
    assert st["exitstatus"] == "migration aborted" and any("No route to host" in t for t in log)


def test_no_quorum_refuses_writes(small):
    px = client(small)
    admin(small, "POST", "quorum", quorate=0)
    try:
        assert px.cluster.status.get()[0]["quorate"] == 0
        with pytest.raises(ResourceException) as e:
            px.nodes("n1").qemu(109).migrate.post(target="n2", online=1)
        assert "cluster not ready - no quorum?" in str(e.value)
    finally:
        admin(small, "POST", "quorum", quorate=1)
    assert px.cluster.status.get()[0]["quorate"] == 1


def test_ha_endpoint_migrates_through_crm(small):
    px = client(small)
    res = px.cluster.ha.resources("vm:108").migrate.post(node="n4")
    assert res == {"sid": "vm:108", "requested-node": "n4"}
    assert guest(px, 108)["node"] == "n2"
    small.advance(10)
    tasks = [t for t in px.cluster.tasks.get() if t["type"] == "qmigrate" and t["id"] == "108"]
    assert tasks, "the HA manager starts a qmigrate task"
    small.advance(600)
    assert guest(px, 108)["node"] == "n4"


def test_plain_migrate_on_ha_guest_is_hamigrate(small):
    px = client(small)
    upid = px.nodes("n2").lxc(112).migrate.post(target="n1", restart=1)
    assert ":hamigrate:112:" in upid
    small.advance(2)
    assert log_text(px, "n2", upid)[0] == "Requesting HA migration for CT 112 to node n1"
    small.advance(600)
    assert guest(px, 112)["node"] == "n1"
    assert any(t["type"] == "vzmigrate" and t["id"] == "112" for t in px.cluster.tasks.get())
