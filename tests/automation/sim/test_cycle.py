"""Automation cycles against the simulator (demo scenario, stepped time): modes, and the gates that depend on
live cluster data, each firing in its own test."""

from __future__ import annotations

from proxbalance.executor.maintenance import set_maintenance
from proxbalance.executor.migrations import list_migrations, start_migration, wait
from proxbalance.store import automation as repo
from tests.automation.simfix import by_vmid, collect, cycle, gates_of, make_ctx, pve


def sim_migration_tasks(sim):
    """The witness: every migration task the simulator ran (HA requests included)."""
    return [t for t in sim.tasks.tasks.values() if t.type in ("qmigrate", "vzmigrate", "hamigrate")]


def test_dry_run_is_the_default_and_starts_nothing(sim, asettings, astore):
    s = asettings.replace(automation__dry_run=True)
    out = cycle(sim, s, astore)
    assert out["mode"] == "dry_run" and out["summary"]["candidates"] > 0
    assert out["summary"]["would_execute"] >= 1 and out["summary"]["executed"] == 0
    assert {r["verdict"] for r in out["verdicts"]} <= {"dry_run", "blocked"}
    assert sim_migration_tasks(sim) == [] and list_migrations(astore)[1] == 0
    # every candidate's verdict is recorded with its reason
    rows, total = repo.verdicts(astore.engine, cycle_id=out["cycle_id"])
    assert total == out["summary"]["candidates"] and all(r["reason"] for r in rows)


def test_switched_off_every_candidate_is_held_by_enabled(sim, asettings, astore):
    out = cycle(sim, asettings.replace(automation__enabled=False), astore)
    assert out["summary"]["candidates"] > 0 and gates_of(out) == {"enabled"}
    assert sim_migration_tasks(sim) == []


def test_test_cycle_changes_nothing_whatever_the_config(sim, asettings, astore):
    out = cycle(sim, asettings, astore, test=True)  # live config, but a test
    assert out["mode"] == "test" and out["summary"]["would_execute"] >= 1
    assert sim_migration_tasks(sim) == [] and repo.streaks(astore.engine) == {}


def test_live_cycle_migrates_through_the_executor(sim, asettings, astore):
    out = cycle(sim, asettings, astore)
    executed = [r for r in out["verdicts"] if r["verdict"] == "executed"]
    assert 1 <= len(executed) <= 2  # automation.max_migrations_per_run / max_concurrent
    rows, _ = list_migrations(astore, origin="automation")
    assert {r["migration_id"] for r in rows} == {r["migration_id"] for r in executed}
    assert {int(t.id) for t in sim_migration_tasks(sim)} == {r["vmid"] for r in executed}
    held = [r for r in out["verdicts"] if r["verdict"] == "blocked"]
    assert held and all(r["gate"] for r in held)


def test_quorum_loss_holds_everything(sim, asettings, astore):
    sim.cluster.quorate = False
    sim.faults.quorum_lost = True
    out = cycle(sim, asettings, astore)
    assert out["summary"]["candidates"] > 0
    assert gates_of(out) == {"cluster_health"} and "no quorum" in out["verdicts"][0]["reason"]


def test_migrations_already_running_in_the_cluster(sim, asettings, astore):
    # an admin's migration outside ProxBalance, seen only in PVE's task list
    api = pve(sim)
    guest = next(g for g in api.cluster.resources.get(type="vm") if g["status"] == "running"
                 and g["type"] == "qemu" and not g.get("hastate"))
    target = next(n["node"] for n in api.nodes.get() if n["node"] != guest["node"])
    api.nodes(guest["node"]).qemu(guest["vmid"]).migrate.post(target=target, online=1)
    out = cycle(sim, asettings.replace(automation__max_concurrent=1), astore)
    assert "in_flight" in gates_of(out)
    assert out["summary"]["executed"] == 0


def test_no_auto_migrate_tag_set_in_pve(sim, asettings, astore):
    first = next(r for r in cycle(sim, asettings, astore, test=True)["verdicts"] if r["verdict"] == "dry_run")
    api = pve(sim)
    kind = next(g["type"] for g in api.cluster.resources.get(type="vm") if g["vmid"] == first["vmid"])
    getattr(api.nodes(first["source_node"]), kind)(first["vmid"]).config.put(tags="no-auto-migrate")
    out = cycle(sim, asettings, astore, test=True)
    row = by_vmid(out)[first["vmid"]]
    assert row["gate"] == "tags" and "no-auto-migrate" in row["reason"]


def test_whitelist_mode_needs_auto_migrate_ok(sim, asettings, astore):
    out = cycle(sim, asettings.replace(automation__whitelist_mode=True), astore, test=True)
    assert gates_of(out) == {"tags"}


def test_crs_auto_rebalance_is_reported_as_a_conflict(sim, asettings, astore):
    pve(sim).cluster.options.put(crs="ha=static,ha-rebalance-on-start=1")
    out = cycle(sim, asettings.replace(automation__crs_conflict="pause"), astore, test=True)
    assert gates_of(out) == {"crs_conflict"}
    assert any("ha-rebalance-on-start=1" in c for c in out["summary"]["conflicts"])


def test_window_on_the_cluster_clock(sim, asettings, astore):
    # the simulator's clock starts on a Monday 08:00 UTC: a weekend-only window is closed
    out = cycle(sim, asettings.replace(automation__windows=["sat,sun 00:00-00:00"]), astore, test=True)
    assert gates_of(out) == {"window"}
    out = cycle(sim, asettings.replace(automation__windows=["mon 07:00-09:00"],
                                       automation__blackouts=["mon 07:30-08:30"]), astore, test=True)
    assert gates_of(out) == {"blackout"}


def test_maintenance_evacuation_goes_first(sim, asettings, astore):
    set_maintenance(astore, "n1", True, actor="admin", now=sim.now())
    out = cycle(sim, asettings.replace(automation__max_migrations_per_run=100, automation__max_concurrent=16),
                astore, test=True)
    evac = [r for r in out["verdicts"] if r["source_node"] == "n1"]
    others = [r for r in out["verdicts"] if r["source_node"] != "n1"]
    assert evac and all(r["detail"]["kind"] == "evacuation" for r in evac)
    assert out["verdicts"][0]["source_node"] == "n1"  # evacuations first
    assert all(r["target_node"] != "n1" for r in out["verdicts"])
    assert all(r["gate"] == "maintenance_priority" for r in others)


def test_observation_k_cycles_over_t_minutes(sim, asettings, astore):
    # one snapshot for all three cycles, so the plan is the same each time
    s = asettings.replace(automation__observation_cycles=3, automation__observation_minutes=30,
                          automation__refresh_after_seconds=86400, thresholds__stale_minutes=120,
                          automation__dry_run=True)
    seen = []
    for _ in range(3):
        out = cycle(sim, s, astore)
        seen.append(out)
        sim.advance(15 * 60)
    assert gates_of(seen[0]) == gates_of(seen[1]) == {"observation"} | (gates_of(seen[0]) - {"observation"})
    assert all(r["gate"] is not None for r in seen[0]["verdicts"] + seen[1]["verdicts"])
    assert "recommended 2 consecutive cycle(s) over 15.0 min" in seen[1]["verdicts"][0]["reason"]
    assert seen[2]["summary"]["would_execute"] >= 1  # third cycle, 30 minutes: it may go


def _manual_moves(sim, asettings, astore, via):
    """Move the first candidate's guest from n1 to each node of ``via`` and back by hand."""
    first = next(r for r in cycle(sim, asettings, astore, test=True)["verdicts"] if r["verdict"] == "dry_run")
    assert first["source_node"] == "n1"
    ctx = make_ctx(sim, asettings, astore)
    for src, dst in [leg for node in via for leg in (("n1", node), (node, "n1"))]:
        rec = start_migration(ctx, first["vmid"], dst, source_node=src, actor="admin", origin="manual")
        assert wait(ctx, rec["migration_id"])["state"] == "completed"
        collect(sim, asettings, astore)
    return first


def test_cooldown_grows_after_repeated_moves(sim, asettings, astore):
    first = _manual_moves(sim, asettings, astore, ["n2"])
    s = asettings.replace(automation__no_return_hours=0, automation__cooldown_minutes=30)
    row = by_vmid(cycle(sim, s, astore, test=True)).get(first["vmid"])
    assert row is not None and row["gate"] == "cooldown"
    assert "moved 2 time(s)" in row["reason"] and "cooldown 60 min" in row["reason"]


def test_no_return_to_the_node_it_left(sim, asettings, astore):
    first = _manual_moves(sim, asettings, astore, ["n2", "n3"])  # it left both other nodes
    s = asettings.replace(automation__cooldown_minutes=0)
    row = by_vmid(cycle(sim, s, astore, test=True)).get(first["vmid"])
    assert row is not None and row["gate"] == "no_return" and row["target_node"] in row["reason"]


def test_ha_guests_move_only_through_ha(sim, asettings, astore):
    s = asettings.replace(automation__max_concurrent=16, automation__max_migrations_per_run=16)
    plan = cycle(sim, s, astore, test=True)
    ha = [r for r in plan["verdicts"] if r["vmid"] in (103, 104) and r["verdict"] == "dry_run"]
    assert ha, "the plan should move an HA guest off the hot node"
    held = by_vmid(cycle(sim, s.replace(automation__move_ha_guests=False), astore, test=True))
    assert all(held[r["vmid"]]["gate"] == "ha_managed" for r in ha)
    out = cycle(sim, s, astore)
    started = {r["vmid"]: r for r in out["verdicts"] if r["verdict"] == "executed"}
    recs = {r["vmid"]: r for r in list_migrations(astore, origin="automation")[0]}
    for vmid in set(started) & {103, 104}:
        assert recs[vmid]["ha"] is True and recs[vmid]["request_upid"]  # filed with the HA manager
        assert any(t.type == "hamigrate" and t.id == str(vmid) for t in sim.tasks.tasks.values())
    assert set(started) & {103, 104}
