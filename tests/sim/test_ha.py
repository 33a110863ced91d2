"""The HA stack as PVE 9 (pve-ha-manager 5.0) behaves: local disks, resource-affinity, strict node-affinity,
fencing and recovery; plus the CT online-migration task failure and token task owners."""

from __future__ import annotations

from pathlib import Path

import pytest

from proxbalance.sim import SimServer
from tests.sim.conftest import admin, client

HA = str(Path(__file__).resolve().parent / "ha.toml")


@pytest.fixture
def ha():
    with SimServer(scenario=HA, seed=0, stepped=True) as sim:
        yield sim


def where(px, vmid: int) -> dict:
    return next(r for r in px.cluster.resources.get(type="vm") if r["vmid"] == vmid)


def tasks_of(px, vmid: int, ttype: str) -> list[dict]:
    return [t for t in px.cluster.tasks.get() if t["id"] == str(vmid) and t["type"] == ttype]


def test_ha_vm_with_local_disks_migrates_like_the_lrm(ha):
    """The LRM migrates with with-local-disks=1 and force=1 (PVEVM.pm), so a live VM on local-lvm moves."""
    px = client(ha)
    assert px.cluster.ha.resources("vm:200").migrate.post(node="h2") == {"sid": "vm:200", "requested-node": "h2"}
    ha.advance(300)
    assert where(px, 200)["node"] == "h2"
    (task,) = tasks_of(px, 200, "qmigrate")
    assert task["status"] == "OK"
    log = [x["t"] for x in px.nodes("h1").tasks(task["upid"]).log.get(limit=1000)]
    assert any("drive-scsi0: transferred" in line for line in log)


def test_negative_affinity_blocks_manual_migration(ha):
    px = client(ha)
    info = px.nodes("h1").qemu(201).migrate.get()
    assert "h2" not in info["allowed_nodes"]
    assert info["not_allowed_nodes"]["h2"] == {"blocking-ha-resources": [{"sid": "vm:202",
                                                                          "cause": "resource-affinity"}]}
    assert info["dependent-ha-resources"] == []
    res = px.cluster.ha.resources("vm:201").migrate.post(node="h2")
    assert res == {"sid": "vm:201", "requested-node": "h2",
                   "blocking-resources": [{"sid": "vm:202", "cause": "resource-affinity"}]}
    ha.advance(300)
    assert where(px, 201)["node"] == "h1" and not tasks_of(px, 201, "qmigrate")
    assert any("in negative affinity with service 'vm:201'" in m for _, _, m in ha.ha.log)
    # a target without the partner is fine
    assert "blocking-resources" not in px.cluster.ha.resources("vm:201").migrate.post(node="h3")
    ha.advance(300)
    assert where(px, 201)["node"] == "h3"


def test_positive_affinity_comigrates_partner(ha):
    px = client(ha)
    assert px.nodes("h3").qemu(203).migrate.get()["dependent-ha-resources"] == ["vm:204"]
    res = px.cluster.ha.resources("vm:203").migrate.post(node="h4")
    assert res == {"sid": "vm:203", "requested-node": "h4", "comigrated-resources": ["vm:204"]}
    ha.advance(6)  # the CRM acted (5 s), both migrations run
    assert where(px, 203)["hastate"] == "migrate" and where(px, 204)["hastate"] == "migrate"
    ha.advance(300)
    assert where(px, 203)["node"] == "h4" and where(px, 204)["node"] == "h4"
    assert where(px, 204)["hastate"] == "started"


def test_plain_migrate_of_positive_partner_goes_through_ha(ha):
    px = client(ha)
    upid = px.nodes("h3").qemu(204).migrate.post(target="h1", online=1)
    assert ":hamigrate:204:" in upid
    ha.advance(300)
    assert where(px, 203)["node"] == "h1" and where(px, 204)["node"] == "h1"


def test_strict_node_affinity_accepted_then_moved_back(ha):
    """PVE 9 accepts the request (no API check), migrates, and the CRM then puts the service back on its
    highest-priority allowed node (Manager.pm next_state_started -> select_service_node)."""
    px = client(ha)
    assert px.cluster.ha.resources("vm:205").migrate.post(node="h3") == {"sid": "vm:205", "requested-node": "h3"}
    ha.advance(11)  # CRM after 5 s, a few seconds of live migration
    assert where(px, 205)["node"] == "h3"  # the manual migration happened
    ha.advance(300)
    assert where(px, 205)["node"] == "h1"
    moves = sorted(tasks_of(px, 205, "qmigrate"), key=lambda t: t["starttime"])
    assert [t["node"] for t in moves] == ["h1", "h3"] and all(t["status"] == "OK" for t in moves)
    # a plain migrate call gives an OK hamigrate task (ha-manager accepts the command)
    upid = px.nodes("h1").qemu(205).migrate.post(target="h2", online=1)
    ha.advance(2)
    assert px.nodes("h1").tasks(upid).status.get()["exitstatus"] == "OK"
    ha.advance(300)
    assert where(px, 205)["node"] == "h1"  # h2 is allowed but at a lower priority: failback


def test_node_maintenance_moves_ha_guests_away_and_back(ha):
    """``ha-manager crm-command node-maintenance enable h1`` (the admin API here: PVE's REST API has none):
    every HA service on h1 leaves, none is failed back while it lasts (vm:205's strict rule prefers h1), an
    HA migrate request to h1 is refused by the CRM, plain guests stay; disabling it brings them back."""
    px = client(ha)
    ha_on_h1 = sorted(g.vmid for g in ha.cluster.guests if g.node == "h1" and g.sid in ha.cluster.ha_resources)
    assert 205 in ha_on_h1 and 200 in ha_on_h1
    admin(ha, "POST", "nodes/h1/maintenance", enable=1)
    assert px.cluster.ha.status.manager_status.get()["manager_status"]["node_status"]["h1"] == "maintenance"
    ha.advance(120)
    for vmid in ha_on_h1:
        assert where(px, vmid)["node"] != "h1", vmid
    assert where(px, 205)["node"] == "h2"  # its only other allowed node
    assert where(px, 207)["node"] == "h4"  # not HA-managed: HA leaves it alone
    px.cluster.ha.resources("vm:201").migrate.post(node="h1")
    ha.advance(600)  # many CRM rounds
    for vmid in ha_on_h1:
        assert where(px, vmid)["node"] != "h1", vmid
    assert any("node not online: migrate vm:201 h1" in m for _, _, m in ha.ha.log)
    admin(ha, "POST", "nodes/h1/maintenance", enable=0)
    ha.advance(300)
    for vmid in ha_on_h1:
        assert where(px, vmid)["node"] == "h1", vmid
    back = [m for _, _, m in ha.ha.log if "back to 'h1', node came back from maintenance" in m]
    assert len(back) == len(ha_on_h1)
    for vmid in ha_on_h1:  # away once, back once
        assert len(tasks_of(px, vmid, "qmigrate")) == 2, vmid


def test_failback_off_keeps_a_service_where_it_was_moved(ha):
    """PVE 9 resource option ``failback`` (PUT /cluster/ha/resources/{sid}): off, the CRM leaves vm:205 on h2
    although its strict rule prefers h1; on again, the next CRM round fails it back."""
    px = client(ha)
    px.cluster.ha.resources("vm:205").put(failback=0)
    assert px.cluster.ha.resources("vm:205").get()["failback"] == 0
    px.cluster.ha.resources("vm:205").migrate.post(node="h2")
    ha.advance(600)
    assert where(px, 205)["node"] == "h2"
    px.cluster.ha.resources("vm:205").put(delete="failback")
    ha.advance(300)
    assert where(px, 205)["node"] == "h1"


def test_fencing_recovers_ha_guests_of_an_offline_node(ha):
    px = client(ha)
    admin(ha, "POST", "nodes/h4/offline")
    ha.advance(30)
    node = next(r for r in px.cluster.resources.get(type="node") if r["node"] == "h4")
    assert node["status"] == "offline" and node["hastate"] == "unknown"
    assert where(px, 206)["hastate"] == "started" and where(px, 206)["status"] == "unknown"
    ha.advance(40)  # past the 60 s fence delay
    assert next(r for r in px.cluster.resources.get(type="node") if r["node"] == "h4")["hastate"] == "fence"
    assert where(px, 206)["hastate"] == "fence"
    ms = px.cluster.ha.status.manager_status.get()
    assert ms["manager_status"]["node_status"]["h4"] == "fence"
    assert ms["lrm_status"]["h4"]["state"] == "lost_agent_lock"
    ha.advance(60)  # the dead node's agent lock expired (120 s): fenced, services recovered
    vm, ct, plain = where(px, 206), where(px, 208), where(px, 207)
    assert vm["node"] == "h3"  # strict rule h4:2,h3: the only allowed node left
    assert ct["node"] != "h4"
    assert plain["node"] == "h4" and plain["status"] == "unknown"  # not HA: stays with its node
    ha.advance(5)
    assert where(px, 206)["status"] == "running" and where(px, 208)["status"] == "running"
    assert tasks_of(px, 206, "qmstart") and tasks_of(px, 208, "vzstart")
    assert next(r for r in px.cluster.resources.get(type="node") if r["node"] == "h4")["hastate"] == "unknown"
    admin(ha, "POST", "nodes/h4/online")
    assert next(r for r in px.cluster.resources.get(type="node") if r["node"] == "h4")["hastate"] == "online"


def test_node_back_before_fence_delay_keeps_guests(ha):
    px = client(ha)
    admin(ha, "POST", "nodes/h4/offline")
    ha.advance(30)
    admin(ha, "POST", "nodes/h4/online")
    ha.advance(300)
    assert where(px, 206)["node"] == "h4" and where(px, 206)["hastate"] == "started"


def test_running_ct_online_migration_is_a_failing_task(ha):
    px = client(ha)
    upid = px.nodes("h2").lxc(210).migrate.post(target="h1", online=1)
    assert ":vzmigrate:210:" in upid
    ha.advance(10)
    st = px.nodes("h2").tasks(upid).status.get()
    assert st["status"] == "stopped" and st["exitstatus"] == "migration aborted"
    log = [x["t"] for x in px.nodes("h2").tasks(upid).log.get()]
    assert any("lxc live migration is currently not implemented" in t for t in log)
    assert where(px, 210)["node"] == "h2" and where(px, 210)["status"] == "running"


def test_token_tasks_split_user_and_tokenid(ha):
    px = client(ha)
    upid = px.nodes("h2").lxc(210).migrate.post(target="h1", restart=1)
    assert ":root@pam!proxbalance:" in upid  # the UPID keeps the full auth id
    st = px.nodes("h2").tasks(upid).status.get()
    assert st["user"] == "root@pam" and st["tokenid"] == "proxbalance"
    ha.advance(120)
    row = next(t for t in px.nodes("h2").tasks.get() if t["upid"] == upid)
    assert row["user"] == "root@pam" and row["tokenid"] == "proxbalance"
    row = next(t for t in px.cluster.tasks.get() if t["upid"] == upid)
    assert row["user"] == "root@pam" and row["tokenid"] == "proxbalance"
    assert px.nodes("h2").tasks.get(userfilter="root@pam")
    assert not px.nodes("h2").tasks.get(userfilter="nobody")


def test_allowed_nodes_follow_rule_priorities():
    """NodeAffinity.pm get_node_affinity: highest online priority; strict never leaves its nodes, non-strict
    falls back to every node."""
    from proxbalance.sim import ha_rules
    from proxbalance.sim.scenarios import build, load_scenario
    from proxbalance.sim.traces import Trace
    c = build(load_scenario(HA), 0, Trace.load(), 1.0, True)
    online = ["h1", "h2", "h3", "h4"]
    assert ha_rules.allowed_nodes(c, "vm:205", online) == ["h1"]
    assert ha_rules.allowed_nodes(c, "vm:205", ["h2", "h3", "h4"]) == ["h2"]
    assert ha_rules.allowed_nodes(c, "vm:205", ["h3", "h4"]) == []
    assert ha_rules.allowed_nodes(c, "vm:200", online) == online  # no rule
    c.ha_rules[2]["strict"] = 0
    assert ha_rules.allowed_nodes(c, "vm:205", ["h3", "h4"]) == ["h3", "h4"]
    assert ha_rules.affinitive(c, "vm:201") == ([], ["vm:202"])
    assert ha_rules.affinitive(c, "vm:203") == (["vm:204"], [])
