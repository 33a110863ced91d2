"""Evacuating n1 (17 guests: running and stopped, VMs and CTs, local disks, an HA guest, one pinned, one with a
passthrough device, one whose storage exists only on n1): every guest ends elsewhere or is reported with its
reason; the run executes the reviewed preview; cancel leaves a consistent session; a killed runner resumes."""

from __future__ import annotations

from proxbalance.executor import evacuation as ev
from proxbalance.executor.maintenance import maintenance_nodes
from proxbalance.store import maintenance as repo
from tests.executor.conftest import sim_migration_tasks
from tests.sim.conftest import client as px


def pin_111(sim, collect):
    px(sim).nodes("n1").qemu(111).config.put(tags="pinned")
    collect()


def test_preview_then_run_moves_everything_or_says_why(ctx, sim, collect):
    pin_111(sim, collect)
    on_n1 = {g.vmid for g in sim.cluster.guests if g.node == "n1"}
    assert len(on_n1) >= 15
    preview = ev.create_session(ctx, "n1", dry_run=True, actor="test")
    assert preview["state"] == "preview" and sim_migration_tasks(sim) == []
    left = {x["vmid"]: x["reason"] for x in preview["left"]}
    assert "pinned" in left[111] and "passthrough" in left[109]
    assert 103 in left  # local-zfs exists only on n1
    planned = {m["vmid"]: m["target_node"] for m in preview["moves"]}
    assert set(planned) | set(left) == on_n1 and 106 in planned and 130 in planned and 102 in planned
    run = ev.create_session(ctx, "n1", dry_run=False, actor="test", from_preview=preview["session_id"])
    done = ev.run_session(ctx, run["session_id"])
    assert {m["vmid"]: m.get("replanned_from") or m["target_node"] for m in done["moves"]} == planned
    assert done["state"] == "completed_with_errors"  # pinned, passthrough and local-zfs guests keep running there
    remaining = {x["vmid"]: x["reason"] for x in done["summary"]["remaining"]}
    assert set(remaining) == set(left) and all(remaining.values())
    for m in done["moves"]:
        assert m["state"] == "completed", m
        assert sim.cluster.guest(m["vmid"]).node == m["target_node"] != "n1"
    tasks = sim_migration_tasks(sim)
    assert len(tasks) == len({t.id for t in tasks}) == len(planned)  # none twice
    assert "n1" in maintenance_nodes(ctx.store)
    assert [e["event"] for e in done["events"]][0] == "planned"


def test_cancel_halfway_leaves_a_consistent_session(ctx, sim, settings):
    ctx.settings = settings.replace(executor__max_in_flight_per_node=1)
    s = ev.create_session(ctx, "n1", dry_run=False, actor="test")
    loops = {"n": 0}

    def sleep(_s):
        loops["n"] += 1
        if loops["n"] == 3:
            ev.cancel_session(ctx, s["session_id"])
        sim.advance(5)
    ctx.sleep = sleep
    done = ev.run_session(ctx, s["session_id"])
    assert done["state"] == "cancelled"
    states = {m["state"] for m in done["moves"]}
    assert "skipped" in states and states <= {"completed", "failed", "cancelled", "skipped"}
    for m in done["moves"]:
        node = sim.cluster.guest(m["vmid"]).node
        assert node == (m["target_node"] if m["state"] == "completed" else "n1")


def test_killed_runner_resumes_from_its_intents(ctx, sim, settings):
    s = ev.create_session(ctx, "n1", dry_run=False, actor="test")
    loops = {"n": 0}

    class Killed(Exception):
        pass

    def sleep(_s):
        loops["n"] += 1
        if loops["n"] == 2:
            raise Killed()  # the runner dies with migrations in flight
        sim.advance(5)
    ctx.sleep = sleep
    try:
        ev.run_session(ctx, s["session_id"])
    except Killed:
        pass
    assert repo.load_session(ctx.store.engine, s["session_id"])["state"] == "running"
    ctx.sleep = lambda _s: sim.advance(5)
    sim.advance(120)
    done = ev.run_session(ctx, s["session_id"])  # what resume_orphans runs in a thread after a restart
    assert done["state"] in ("completed", "completed_with_errors")
    tasks = sim_migration_tasks(sim)
    assert len(tasks) == len({t.id for t in tasks})
    assert all(m["state"] == "completed" for m in done["moves"]), [(m["vmid"], m["state"], m["error"]) for m in done["moves"]] + done["events"]


def test_failed_migration_mid_evacuation_is_reported_not_retried(ctx, sim):
    from tests.sim.conftest import admin
    admin(sim, "POST", "guests/122/fail-migration", count=1)
    s = ev.create_session(ctx, "n1", dry_run=False, actor="test")
    done = ev.run_session(ctx, s["session_id"])
    assert done["state"] == "completed_with_errors"
    bad = {m["vmid"]: m for m in done["moves"] if m["state"] != "completed"}
    assert set(bad) == {122} and bad[122]["state"] == "failed"
    remaining = {x["vmid"]: x["reason"] for x in done["summary"]["remaining"]}
    assert "failed" in remaining[122]
    assert len(sim_migration_tasks(sim, 122)) == 1


def test_quorum_lost_mid_evacuation(ctx, sim):
    from tests.sim.conftest import admin
    s = ev.create_session(ctx, "n1", dry_run=False, actor="test")
    loops = {"n": 0}

    def sleep(_s):
        loops["n"] += 1
        if loops["n"] == 2:
            admin(sim, "POST", "quorum", quorate=0)
        sim.advance(5)
    ctx.sleep = sleep
    done = ev.run_session(ctx, s["session_id"])
    assert done["state"] == "completed_with_errors"
    failed = [m for m in done["moves"] if m["state"] == "failed"]
    assert failed and all("quorum" in m["error"] for m in failed)
    tasks = sim_migration_tasks(sim)
    assert len(tasks) == len({t.id for t in tasks})
    for m in done["moves"]:  # every guest is where the session says
        assert sim.cluster.guest(m["vmid"]).node == (m["target_node"] if m["state"] == "completed" else "n1")


def test_api_drops_mid_evacuation(ctx, sim, settings):
    """Two drops: the connection of one migrate POST is closed after PVE acted on it (the answer is lost), and
    later every API call's connection is dropped for a minute. The lost answer is adopted, not retried; the
    outage starts nothing and decides nothing; the session records both and ends with every guest placed."""
    from proxbalance.pve.client import PveClient
    from proxbalance.store import migrations_log as mlog
    from tests.sim.conftest import admin
    ctx.settings = settings.replace(proxmox__retries=1)  # reads are retried once; a write never is
    ctx.pve = PveClient(ctx.settings)
    on_n1 = {g.vmid for g in sim.cluster.guests if g.node == "n1"}
    s = ev.create_session(ctx, "n1", dry_run=False, actor="test")
    first = s["moves"][0]["vmid"]
    kind = "qemu" if s["moves"][0]["guest_type"] == "qemu" else "lxc"
    admin(sim, "POST", "api-faults", prefix=f"/nodes/n1/{kind}/{first}/migrate", error_rate=1, drop="after")
    loops = {"n": 0, "outage": None}

    def sleep(_s):
        loops["n"] += 1
        recs, _ = mlog.query(ctx.store.engine, session_id=s["session_id"], limit=None, newest_first=False)
        done_moves = sum(r["state"] == "completed" for r in recs)
        if loops["outage"] is None and done_moves >= 3:
            admin(sim, "DELETE", "api-faults")
            admin(sim, "POST", "api-faults", prefix="", error_rate=1, drop="before")
            loops["outage"] = loops["n"]
        elif loops["outage"] is not None and loops["n"] == loops["outage"] + 12:
            admin(sim, "DELETE", "api-faults")
        sim.advance(5)
    ctx.sleep = sleep
    done = ev.run_session(ctx, s["session_id"])
    assert loops["outage"] is not None
    assert done["state"] == "completed_with_errors"  # passthrough and local-zfs guests stay, with reasons
    assert all(m["state"] == "completed" for m in done["moves"]), [(m["vmid"], m["state"], m["error"]) for m in done["moves"]] + done["events"]
    for vmid in on_n1:  # no guest lost: each is exactly where the session says
        g = sim.cluster.guest(vmid)
        move = next((m for m in done["moves"] if m["vmid"] == vmid), None)
        assert g is not None and g.node == (move["target_node"] if move else "n1")
    tasks = sim_migration_tasks(sim)
    assert len(tasks) == len({t.id for t in tasks}) == len(done["moves"])  # none twice
    lost = mlog.query(ctx.store.engine, session_id=s["session_id"], limit=None)[0]
    rec = next(r for r in lost if r["vmid"] == first)
    assert [e["state"] for e in mlog.events(ctx.store.engine, rec["migration_id"])][:3] == \
        ["pending", "unknown", "started"]
    events = [e["event"] for e in done["events"]]
    assert events.count("api_unreachable") == events.count("api_restored") == 1
    assert events.index("api_unreachable") < events.index("api_restored")
    outage = events[events.index("api_unreachable"):events.index("api_restored")]
    assert "started" not in outage and "completed" not in outage  # nothing starts or is decided meanwhile
    for m in done["moves"]:
        mine = [e["event"] for e in done["events"] if e.get("vmid") == m["vmid"]]
        assert mine == ["started", "completed"], (m["vmid"], mine)
    assert events[-1] == "completed_with_errors"


def test_ha_guest_whose_rule_prefers_the_node_is_not_failed_back(ctx, sim, client):
    """vm:105's strict rule is ``n2:2,n4``: moved to n4, the HA manager would fail it back to n2 in its next
    round. PVE has no API for HA node maintenance, so the evacuation switches vm:105's HA failback off first;
    it stays on n4 for as long as n2 is in maintenance, and clearing maintenance gives it back to HA."""
    preview = ev.create_session(ctx, "n2", dry_run=True, actor="test")
    m105 = next(m for m in preview["moves"] if m["vmid"] == 105)
    assert m105["target_node"] == "n4" and m105["ha_failback_off"]
    assert not any(m.get("ha_failback_off") for m in preview["moves"] if m["vmid"] != 105)
    run = ev.create_session(ctx, "n2", dry_run=False, actor="test", from_preview=preview["session_id"])
    done = ev.run_session(ctx, run["session_id"])
    assert done["state"] == "completed", done["summary"]
    for _ in range(60):  # ten minutes of CRM rounds after the evacuation
        sim.advance(10)
    assert sim.cluster.guest(105).node == "n4"
    assert len(sim_migration_tasks(sim, 105)) == 1
    assert not any("vm:105" in msg and "'n2'" in msg for _, _, msg in sim.ha.log)
    assert sim.cluster.ha_resources["vm:105"]["failback"] == 0
    assert [e["event"] for e in done["events"] if e.get("vmid") == 105] == ["ha_failback_off", "started",
                                                                             "completed"]
    assert [x["sid"] for x in done["ha_failback"]] == ["vm:105"]
    r = client.post("/api/nodes/n2/maintenance", json={"enable": False})
    assert r.status_code == 200 and r.get_json()["ha_failback_restored"] == ["vm:105"]
    assert sim.cluster.ha_resources["vm:105"]["failback"] == 1
    after = repo.load_session(ctx.store.engine, run["session_id"])
    assert after["ha_failback"][0]["restored_at"] and after["events"][-1]["event"] == "ha_failback_on"
    for _ in range(60):  # the rule prefers n2 again: HA moves it back, as after PVE's own maintenance
        sim.advance(10)
    assert sim.cluster.guest(105).node == "n2"
    assert client.post("/api/nodes/n2/maintenance", json={"enable": False}).get_json()["ha_failback_restored"] == []


def test_evacuation_finished_is_notified_once(ctx, sim, settings):
    """A real delivery to a local apprise ``json://`` endpoint when the session ends, with the numbers and
    every guest left and why; the session ending again (a resumed runner) sends nothing more."""
    from tests.automation.servers import HttpReceiver
    hook = HttpReceiver()
    try:
        ctx.settings = settings.replace(notifications__enabled=True, notifications__urls=[hook.url()],
                                        notifications__events=["evacuation_finished"])
        s = ev.create_session(ctx, "n1", dry_run=False, actor="test")
        done = ev.run_session(ctx, s["session_id"])
        assert done["state"] == "completed_with_errors" and len(hook.received) == 1
        path, _, payload = hook.received[0]
        assert path == "/hook" and payload["title"] == "ProxBalance: evacuation of n1 finished with guests left " \
                                                       "on the node"
        assert payload["type"] == "warning"
        assert f"{done['summary']['moved']} guest(s) moved, 0 failed" in payload["message"]
        for x in done["summary"]["remaining"]:
            assert f"- {x['vmid']} ({x['name']}, {x['status']}): {x['reason']}" in payload["message"]
        ev.run_session(ctx, s["session_id"])
        assert len(hook.received) == 1
    finally:
        hook.close()


def test_guest_moved_along_by_ha_is_not_migrated_again(ctx, sim, collect):
    """vm:121 and vm:130 in a positive HA resource-affinity rule, both on n1: the HA manager moves the partner
    along with the first one ProxBalance moves. The partner's own move is then done, not re-planned, failed
    or migrated a second time."""
    c = sim.cluster
    c.ha_resources["vm:121"] = {"state": "started", "max_relocate": 1, "max_restart": 1, "failback": 1}
    c.ha_rules.append({"rule": "together-121-130", "type": "resource-affinity", "resources": "vm:121,vm:130",
                       "affinity": "positive"})
    c.touch()
    collect()
    s = ev.create_session(ctx, "n1", dry_run=False, actor="test")
    planned = {m["vmid"]: m["target_node"] for m in s["moves"]}
    assert {121, 130} <= set(planned)
    done = ev.run_session(ctx, s["session_id"])
    pair = {m["vmid"]: m for m in done["moves"] if m["vmid"] in (121, 130)}
    assert all(m["state"] == "completed" and not m.get("replanned_from") for m in pair.values()), pair
    assert c.guest(121).node == c.guest(130).node != "n1"
    assert len(sim_migration_tasks(sim, 121)) == len(sim_migration_tasks(sim, 130)) == 1
    along = [m for m in pair.values() if m.get("landed_on")]
    assert len(along) == 1 and along[0]["landed_on"] == c.guest(along[0]["vmid"]).node
    assert any(e["event"] == "moved_outside" and e.get("vmid") == along[0]["vmid"] for e in done["events"])


def test_node_already_in_pve_ha_maintenance(ctx, sim, collect):
    """An admin ran ``ha-manager crm-command node-maintenance enable n2`` first: the HA manager moves n2's HA
    guests itself. The evacuation moves the rest, counts the HA guests HA moved as done (not migrated again),
    leaves their failback alone (HA maintenance already keeps them away) and none comes back to n2."""
    from tests.sim.conftest import admin
    admin(sim, "POST", "nodes/n2/maintenance", enable=1)
    collect()
    s = ev.create_session(ctx, "n2", dry_run=False, actor="test")
    done = ev.run_session(ctx, s["session_id"])
    assert done["state"] == "completed" and all(m["state"] == "completed" for m in done["moves"])
    events = [e["event"] for e in done["events"]]
    assert "ha_maintenance" in events and "ha_failback_off" not in events
    assert sim.cluster.ha_resources["vm:105"]["failback"] == 1
    for _ in range(60):
        sim.advance(10)
    for m in done["moves"]:
        assert sim.cluster.guest(m["vmid"]).node != "n2"
    tasks = sim_migration_tasks(sim)
    assert len(tasks) == len({t.id for t in tasks}) == len(done["moves"])
