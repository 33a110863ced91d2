"""Every fault, through the admin API, observed through the PVE API."""

from __future__ import annotations

import time

import pytest
from proxmoxer.core import ResourceException

from proxbalance.sim import SimServer
from tests.sim.conftest import SMALL, admin, client


def vm(px, vmid: int) -> dict:
    return next(r for r in px.cluster.resources.get(type="vm") if r["vmid"] == vmid)


def test_node_offline_and_online(small):
    px = client(small)
    admin(small, "POST", "nodes/n2/offline")
    with pytest.raises(ResourceException) as e:
        px.nodes("n2").status.get()
    assert e.value.status_code == 595
    node = next(r for r in px.cluster.resources.get(type="node") if r["node"] == "n2")
    assert node["status"] == "offline" and "cpu" not in node
    assert vm(px, 108)["status"] == "unknown"
    assert next(r for r in px.cluster.status.get() if r.get("name") == "n2")["online"] == 0
    admin(small, "POST", "nodes/n2/online")
    assert px.nodes("n2").status.get()["uptime"] > 0
    assert vm(px, 108)["status"] == "running"


def test_maintenance_moves_ha_guests_away(small):
    px = client(small)
    admin(small, "POST", "nodes/n2/maintenance", enable=1)
    lrm = next(r for r in px.cluster.ha.status.current.get() if r["id"] == "lrm:n2")
    assert "maintenance mode" in lrm["status"]
    assert px.cluster.ha.status.manager_status.get()["manager_status"]["node_status"]["n2"] == "maintenance"
    small.advance(900)
    assert vm(px, 108)["node"] != "n2"  # HA guest left
    assert vm(px, 105)["node"] == "n4"  # strict rule n2,n4: only n4 allowed
    admin(small, "POST", "nodes/n2/maintenance", enable=0)
    assert px.cluster.ha.status.manager_status.get()["manager_status"]["node_status"]["n2"] == "online"


def test_api_latency_and_errors(small):
    px = client(small)
    admin(small, "POST", "api-faults", prefix="/version", latency_ms=300)
    t = time.perf_counter()
    px.version.get()
    assert time.perf_counter() - t >= 0.3
    admin(small, "POST", "api-faults", node="n1", error_rate=1.0, status=503, message="simulated outage")
    with pytest.raises(ResourceException) as e:
        px.nodes("n1").status.get()
    assert e.value.status_code == 503 and "simulated outage" in str(e.value)
    px.nodes("n4").status.get()  # other nodes unaffected
    admin(small, "DELETE", "api-faults")
    px.nodes("n1").status.get()
    t = time.perf_counter()
    px.version.get()
    assert time.perf_counter() - t < 0.3


def test_load_spike(small):
    px = client(small)
    before = vm(px, 109)["cpu"]
    admin(small, "POST", "guests/109/spike", cpu=0.95, duration=600)
    small.advance(10)
    assert vm(px, 109)["cpu"] >= 0.9 > before
    small.advance(900)
    assert vm(px, 109)["cpu"] < 0.9


def test_time_jump_and_state(small):
    t0 = admin(small, "GET", "state")["time"]
    st = admin(small, "POST", "fault", action="time_jump", seconds=3600)
    assert st["time"] >= t0 + 3600
    assert admin(small, "POST", "advance", seconds=60)["time"] >= t0 + 3660
    r = admin(small, "GET", "state")
    assert r["scenario"] == "small" and r["stepped"] is True


def test_scenario_faults_fire_at_their_time():
    with SimServer(scenario="maintenance", stepped=True) as sim:
        px = client(sim)
        assert all(n["status"] == "online" for n in px.nodes.get())
        sim.advance(3601)
        assert px.cluster.ha.status.manager_status.get()["manager_status"]["node_status"]["pve2"] == "maintenance"
        sim.advance(3600)
        assert next(n for n in px.nodes.get() if n["node"] == "pve4")["status"] == "offline"
        sim.advance(1800)
        assert next(n for n in px.nodes.get() if n["node"] == "pve4")["status"] == "online"


def test_quorum_loss_when_majority_offline():
    with SimServer(scenario=SMALL, stepped=True) as sim:
        for n in ("n2", "n3", "n4"):
            sim.fault("node_offline", node=n)
        assert client(sim).cluster.status.get()[0]["quorate"] == 0
