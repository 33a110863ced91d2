"""Collections against the simulator over HTTPS (proxmoxer -> sim, nothing mocked in between)."""

from __future__ import annotations

import pytest
from proxmoxer import ProxmoxAPI
from sqlalchemy import func, select

from proxbalance.collector import cycle as collector_mod
from proxbalance.errors import ProxmoxAuthError, UpstreamError
from proxbalance.pve.client import PveClient
from proxbalance.store import inventory as inventory_mod
from proxbalance.store.history import usage_history
from proxbalance.store.schema import guest_1h, guest_inventory, guest_raw, node_raw, snapshots
from proxbalance.store.snapshots import latest_snapshot, snapshot_age_seconds

from .conftest import sim_settings


def raw_api(sim):
    return ProxmoxAPI(sim.host, port=sim.port, user=sim.token_user, token_name=sim.token_name,
                      token_value=sim.token_value, verify_ssl=sim.ca_file)


def count(store, table):
    with store.engine.connect() as conn:
        return conn.execute(select(func.count()).select_from(table)).scalar()


def test_snapshot_equals_what_the_simulator_reports(sim, collect, store):
    collect()
    sim.advance(60)
    res1 = raw_api(sim).cluster.resources.get()
    result = collect()
    snap = latest_snapshot(store.engine)
    assert result.snapshot_id and not result.errors and snap.quorate
    guests = {r["vmid"]: r for r in res1 if r["type"] in ("qemu", "lxc")}
    nodes = {r["node"]: r for r in res1 if r["type"] == "node"}
    assert {g.vmid for g in snap.guests} == set(guests)
    assert {n.name for n in snap.nodes} == set(nodes)
    for g in snap.guests:
        r = guests[g.vmid]
        assert (g.node, g.type, g.status, g.name) == (r["node"], r["type"], r["status"], r["name"])
        assert g.cpu == pytest.approx(r["cpu"]) and g.mem == r["mem"] and g.maxmem == r["maxmem"]
        assert g.tags == tuple(t for t in (r.get("tags") or "").split(";") if t)
        assert g.lock == r.get("lock")
    for n in snap.nodes:
        assert n.online and n.reachable and n.maxcpu == nodes[n.name]["maxcpu"]
    api = raw_api(sim)
    # disks come from the guest configs
    g = next(g for g in snap.guests if g.type == "qemu" and not g.template)
    cfg = api.nodes(g.node).qemu(g.vmid).config.get()
    disk_keys = {k for k, v in cfg.items() if k.startswith(("scsi", "virtio", "sata", "ide")) and k[-1].isdigit()
                 and "media=cdrom" not in str(v)}
    assert {d.key for d in g.disks} == disk_keys
    # storages per node and HA rules
    st = api.nodes(snap.nodes[0].name).storage.get()
    assert {s.storage for s in snap.storages if s.node == snap.nodes[0].name} == {s["storage"] for s in st}
    assert {r.rule for r in snap.ha_rules} == {r["rule"] for r in api.cluster.ha.rules.get()}
    ha = {r["sid"] for r in api.cluster.ha.resources.get()}
    assert {g.sid for g in snap.guests if g.ha_managed} == ha
    assert snapshot_age_seconds(store.engine, now=snap.time + 5) == pytest.approx(5)


def test_rates_come_from_counter_differences(sim, collect, store):
    api = raw_api(sim)
    before = {r["vmid"]: r for r in api.cluster.resources.get(type="vm")}
    collect()
    sim.advance(120)
    after = {r["vmid"]: r for r in api.cluster.resources.get(type="vm")}
    collect()
    snap = latest_snapshot(store.engine)
    moving = 0
    for g in snap.guests:
        a, b = before[g.vmid], after[g.vmid]
        if a["node"] != b["node"]:
            continue
        for key in ("diskread", "diskwrite", "netin", "netout"):
            expect = (b[key] - a[key]) / 120 if b[key] >= a[key] else 0.0
            assert getattr(g, key) == pytest.approx(expect), (g.vmid, key)
            moving += expect > 0
    assert moving > 0


def test_steady_state_call_budget_and_config_cache(sim, collect, store):
    first = collect()
    n = first.nodes
    assert first.configs_read == first.guests - 0  # every config read once
    sim.advance(60)
    second = collect()
    assert second.configs_read == 0
    assert second.api_calls <= 4 * n + 10
    # a tag change makes exactly that guest's config be re-read
    api = raw_api(sim)
    g = next(g for g in latest_snapshot(store.engine).guests if g.type == "qemu" and not g.template)
    api.nodes(g.node).qemu(g.vmid).config.put(tags="newtag")
    sim.advance(60)
    third = collect()
    assert third.configs_read == 1
    assert latest_snapshot(store.engine).guest(g.vmid).tags == ("newtag",)


def test_due_configs_are_capped_per_cycle(sim, store, tmp_path):
    settings = sim_settings(sim, tmp_path / "d2", **{"collection.config_refresh_cycles": 1,
                                                     "collection.config_reads_per_cycle": 3})
    st = type(store).open(settings)
    collector_mod.collect_once(settings, st, now=sim.now())
    sim.advance(60)
    res = collector_mod.collect_once(settings, st, now=sim.now())
    assert res.configs_read == 3
    assert res.api_calls <= 4 * res.nodes + 10


def test_offline_node_is_recorded_and_cycle_continues(sim, collect, store):
    collect()
    sim.fault("node_offline", node="pve2")
    sim.advance(60)
    result = collect()
    snap = latest_snapshot(store.engine)
    pve2 = snap.node("pve2")
    assert pve2 is not None and not pve2.online and not pve2.reachable
    assert all(n.online for n in snap.nodes if n.name != "pve2")
    assert len(snap.guests) == result.guests > 0
    assert snap.quorate  # 4 of 5 still have quorum


def test_unreachable_node_is_recorded(sim, collect, store):
    sim.fault("api_fault", node="pve3", status=595, error_rate=1.0, message="no route to host")
    result = collect()
    snap = latest_snapshot(store.engine)
    assert result.unreachable_nodes == ("pve3",)
    assert snap.node("pve3").online and not snap.node("pve3").reachable
    assert any("pve3" in e for e in snap.errors)
    assert snap.node("pve1").reachable and snap.node("pve1").loadavg > 0
    with store.engine.connect() as conn:
        nodes = {r[0] for r in conn.execute(select(node_raw.c.node))}
    assert "pve3" not in nodes and "pve1" in nodes


def test_lost_quorum_is_recorded(sim, collect, store):
    sim.fault("quorum_loss")
    result = collect()
    assert result.quorate is False
    assert latest_snapshot(store.engine).quorate is False
    sim.fault("quorum_restore")
    sim.advance(60)
    assert collect().quorate is True


@pytest.mark.parametrize("prefix", ["", "/cluster/resources", "/cluster/status"])
def test_cluster_failure_writes_nothing(sim, collect, store, prefix):
    sim.fault("api_fault", prefix=prefix, status=500, error_rate=1.0, message="cluster not ready")
    with pytest.raises(UpstreamError, match="nothing written"):
        collect()
    assert count(store, snapshots) == 0 and count(store, guest_raw) == 0 and count(store, guest_inventory) == 0


def test_unreachable_cluster_names_the_host(sim, store, tmp_path):
    settings = sim_settings(sim, tmp_path / "d3", **{"proxmox.port": 1, "proxmox.retries": 0})
    with pytest.raises(UpstreamError) as err:
        collector_mod.collect_once(settings, store, now=sim.now())
    assert "127.0.0.1:1" in err.value.message and err.value.status == 503
    assert count(store, snapshots) == 0


def test_bad_token_says_so_and_writes_nothing(sim, store, tmp_path):
    settings = sim_settings(sim, tmp_path / "d4", **{"proxmox.token_secret": "00000000-bad"})
    with pytest.raises(ProxmoxAuthError, match="rejected API token"):
        collector_mod.collect_once(settings, store, now=sim.now())
    assert count(store, snapshots) == 0


def test_failure_during_write_leaves_no_half_snapshot(sim, collect, store, monkeypatch):
    collect()
    before = (count(store, snapshots), count(store, guest_raw))

    def boom(*a, **k):
        raise RuntimeError("disk full")

    monkeypatch.setattr(collector_mod, "replace_inventory", boom)
    sim.advance(60)
    with pytest.raises(RuntimeError):
        collect()
    assert (count(store, snapshots), count(store, guest_raw)) == before
    monkeypatch.setattr(collector_mod, "replace_inventory", inventory_mod.replace_inventory)


def test_latency_and_transient_5xx_still_collect(sim, collect, store):
    sim.fault("api_fault", latency_ms=20)
    sim.fault("api_fault", prefix="/nodes/pve1/status", status=503, error_rate=0.5, message="busy")
    result = collect()
    assert result.duration >= 0.02 * 2  # two dependent phases, each at least one slow call
    assert result.nodes == 5 and latest_snapshot(store.engine) is not None


def test_backfill_fills_history_on_first_run_only(sim, collect, store, settings):
    on = settings.replace(collection__backfill=True)
    first = collect(settings=on)
    assert first.backfill_rows > 0 and count(store, guest_1h) > 0
    hist = usage_history(store.engine, now=sim.now())
    snap = latest_snapshot(store.engine)
    running = [g for g in snap.guests if g.status == "running" and not g.template]
    assert running and all(g.vmid in hist.guests for g in running)
    assert all(n.name in hist.nodes for n in snap.nodes)
    sim.advance(60)
    assert collect(settings=on).backfill_rows == 0
    # after a gap (collector down for 3 hours) it backfills the missing hours again
    sim.advance(3 * 3600)
    again = collect(settings=on)
    assert again.backfill_rows > 0
    with store.engine.connect() as conn:
        hours = {r[0] for r in conn.execute(select(guest_1h.c.t).where(guest_1h.c.t > first.time))}
    assert len(hours) >= 2


def test_client_counts_calls_per_endpoint(sim, settings, store):
    client = PveClient(settings)
    collector_mod.collect_once(settings, store, client=client, now=sim.now())
    assert client.calls_by_endpoint["/cluster/resources"] == 1
    assert client.calls_by_endpoint["/nodes/{node}/status"] == 5


def test_two_cycles_in_the_same_second_both_succeed(sim, collect, store):
    collect()
    second = collect()  # stepped simulator: same time again
    assert second.snapshot_id == 2 and count(store, snapshots) == 2
