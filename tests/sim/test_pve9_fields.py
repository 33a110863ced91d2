"""One test per PVE 9 field difference of issue 10 (shapes as pve-manager 9.0.10, qemu-server, pve-container
and pve-ha-manager send them), plus guest CPU pressure and rrddata under host CPU contention."""

from __future__ import annotations

import pytest

from proxbalance.sim import SimServer
from tests.sim.conftest import admin, client

CONTENTION = """
name = "contention"
[[nodes]]
name = "busy"
cores = 4
memory_gib = 64
[[nodes]]
name = "idle"
cores = 32
memory_gib = 64
[[storages]]
storage = "ceph"
type = "rbd"
shared = true
"""
for _vmid, _node, _cores, _load in ((300, "busy", 4, 50.0), (301, "busy", 4, 50.0), (302, "busy", 2, 1.0),
                                    (303, "idle", 2, 1.0)):
    CONTENTION += (f"[[guests]]\nvmid = {_vmid}\nnode = \"{_node}\"\ncores = {_cores}\nload = {_load}\n"
                   f"trace = {3 if _vmid >= 302 else 5}\noffset = 0\n")


def res(px, typ: str) -> list[dict]:
    return px.cluster.resources.get(type=typ)


def test_nodes_rows_have_id_type_disk_maxdisk(small):
    px = client(small)
    for n in px.nodes.get():
        assert n["id"] == f"node/{n['node']}" and n["type"] == "node"
        assert 0 < n["disk"] < n["maxdisk"] and isinstance(n["disk"], int)
        assert "cgroup-mode" not in n and "ssl_fingerprint" in n  # resources-only / nodes-only fields
    admin(small, "POST", "nodes/n4/offline")
    try:
        off = next(n for n in px.nodes.get() if n["node"] == "n4")
    finally:
        admin(small, "POST", "nodes/n4/online")
    # extract_node_stats: an offline node keeps its max* (last RRD data) but has no live stats
    assert off["status"] == "offline" and off["maxdisk"] > 0 and off["maxmem"] > 0
    assert not {"disk", "cpu", "mem", "uptime"} & set(off)


def test_cluster_resources_node_hastate(small):
    px = client(small)
    assert {r["node"]: r["hastate"] for r in res(px, "node")} == {f"n{i}": "online" for i in range(1, 5)}
    admin(small, "POST", "nodes/n3/maintenance", enable=1)
    try:
        assert next(r for r in res(px, "node") if r["node"] == "n3")["hastate"] == "maintenance"
    finally:
        admin(small, "POST", "nodes/n3/maintenance", enable=0)


def test_node_disk_usage_is_per_node_and_consistent(demo):
    px = client(demo)
    used = {}
    for n in px.nodes.get():
        st = px.nodes(n["node"]).status.get()["rootfs"]
        assert st["used"] == n["disk"] and st["total"] == n["maxdisk"] and st["free"] == st["total"] - st["used"]
        assert st["avail"] < st["free"]
        rrd = px.nodes(n["node"]).rrddata.get(timeframe="hour")[-1]
        assert rrd["rootused"] == n["disk"] and rrd["roottotal"] == n["maxdisk"]
        used[n["node"]] = n["disk"] / n["maxdisk"]
    assert len({round(u, 3) for u in used.values()}) == len(used), "differs between nodes"
    assert all(0.1 < u < 0.5 for u in used.values()) and any(abs(u - 0.3) > 0.02 for u in used.values())


def test_guest_disk_ct_rootfs_usage_vm_zero(demo):
    px = client(demo)
    rows = res(px, "vm")
    cts = [r for r in rows if r["type"] == "lxc" and r["status"] == "running"]
    assert cts and all(0 < r["disk"] < r["maxdisk"] for r in cts)
    assert all(r["disk"] == 0 for r in rows if r["type"] == "lxc" and r["status"] == "stopped")
    # qemu-server vmstatus: "disk => 0 # no info available"
    assert all(r["disk"] == 0 for r in rows if r["type"] == "qemu")
    ct = cts[0]
    listed = next(r for r in px.nodes(ct["node"]).lxc.get() if r["vmid"] == ct["vmid"])
    assert listed["disk"] == ct["disk"]
    assert px.nodes(ct["node"]).lxc(ct["vmid"]).rrddata.get(timeframe="hour")[-1]["disk"] == ct["disk"]


def test_ct_pid_and_swap(demo, small):
    px = client(demo)
    ct = next(r for r in res(px, "vm") if r["type"] == "lxc" and r["status"] == "running")
    for row in (next(r for r in px.nodes(ct["node"]).lxc.get() if r["vmid"] == ct["vmid"]),
                px.nodes(ct["node"]).lxc(ct["vmid"]).status.current.get()):
        assert isinstance(row["pid"], int) and row["pid"] > 1
        assert row["maxswap"] == 512 * 1024**2 and 0 <= row["swap"] <= row["maxswap"]
        assert row["type"] == "lxc"
    row = client(small).nodes("n2").lxc(107).status.current.get()  # stopped
    assert row["status"] == "stopped"
    assert "pid" not in row and row["swap"] == 0


PSI = ("pressurecpusome", "pressurecpufull", "pressureiosome", "pressureiofull", "pressurememorysome",
       "pressurememoryfull")


def test_pressure_and_memhost_on_guest_lists_and_status(demo):
    px = client(demo)
    rows = res(px, "vm")
    vm = next(r for r in rows if r["type"] == "qemu" and r["status"] == "running")
    assert vm["memhost"] > vm["mem"]  # QEMU's own memory on top of the guest's
    listed = next(r for r in px.nodes(vm["node"]).qemu.get() if r["vmid"] == vm["vmid"])
    cur = px.nodes(vm["node"]).qemu(vm["vmid"]).status.current.get()
    for row in (listed, cur):
        assert row["memhost"] == vm["memhost"] and all(isinstance(row[k], (int, float)) for k in PSI)
    ct = next(r for r in rows if r["type"] == "lxc" and r["status"] == "running")
    assert ct["memhost"] == 0  # pvestatd writes none for containers
    ctl = next(r for r in px.nodes(ct["node"]).lxc.get() if r["vmid"] == ct["vmid"])
    assert "memhost" not in ctl and all(k in ctl for k in PSI)
    stopped = next(r for r in rows if r["type"] == "qemu" and r["status"] == "stopped")
    row = next(r for r in px.nodes(stopped["node"]).qemu.get() if r["vmid"] == stopped["vmid"])
    assert row["memhost"] == 0 and not set(PSI) & set(row)
    assert "memhost" in px.nodes(vm["node"]).qemu(vm["vmid"]).rrddata.get(timeframe="hour")[-1]
    assert "memhost" not in px.nodes(ct["node"]).lxc(ct["vmid"]).rrddata.get(timeframe="hour")[-1]


def test_node_rrddata_memavailable_and_arcsize(demo):
    px = client(demo)
    zfs = {s["node"] for s in res(px, "storage") if s["plugintype"] == "zfspool"}
    assert zfs and len(zfs) < 5
    for n in ("pve1", "pve2"):
        for p in px.nodes(n).rrddata.get(timeframe="day"):
            assert p["memavailable"] == pytest.approx(p["memtotal"] - p["memused"])
            assert (p["arcsize"] > 0) == (n in zfs)


def test_ha_manager_status_has_lrm_status(small):
    ms = client(small).cluster.ha.status.manager_status.get()
    assert set(ms["lrm_status"]) == set(ms["manager_status"]["node_status"]) == {"n1", "n2", "n3", "n4"}
    assert ms["lrm_status"]["n2"]["state"] == "active" and ms["lrm_status"]["n2"]["mode"] == "active"
    assert ms["lrm_status"]["n3"]["state"] == "wait_for_agent_lock"  # no HA service there
    assert isinstance(ms["lrm_status"]["n1"]["timestamp"], int) and ms["quorum"]["quorate"] == 1


def test_pool_ids_and_stats(demo):
    px = client(demo)
    rows = px.cluster.resources.get()
    pools = [r for r in rows if r["type"] == "pool"]
    assert rows[:len(pools)] == pools  # pools come first
    assert {p["id"] for p in pools} == {f"/pool/{p['pool']}" for p in pools}
    for p in pools:
        members = [r for r in rows if r.get("pool") == p["pool"] and r["type"] in ("qemu", "lxc")
                   and r["status"] == "running"]
        assert p["mem"] == sum(m["mem"] for m in members) and p["maxcpu"] == sum(m["maxcpu"] for m in members)
        assert p["cpu"] == pytest.approx(sum(m["cpu"] * m["maxcpu"] for m in members) / p["maxcpu"])
        assert p["uptime"] == max(m["uptime"] for m in members)


def test_subscription_replication_backup(small):
    px = client(small)
    sub = px.nodes("n1").subscription.get()
    assert sub["status"] == "notfound" and sub["message"] == "There is no subscription key" and sub["serverid"]
    assert px.nodes("n1").replication.get() == []
    assert px.cluster.backup.get() == []
    assert {r["name"] for r in px.nodes("n1").get()} >= {"subscription", "replication", "qemu", "tasks"}


def test_guest_pressure_reflects_host_contention(tmp_path):
    """Two identical light guests: the one on an overcommitted 4-core host stalls (CPU PSI from contention,
    not from its own use), the one on an idle host does not; its rrddata show the CPU it got, not asked for."""
    path = tmp_path / "contention.toml"
    path.write_text(CONTENTION)
    with SimServer(scenario=str(path), seed=0, stepped=True) as sim:
        px = client(sim)
        s = sim.cluster.snapshot()
        busy, idle = (next(r for r in px.nodes(n).qemu.get() if r["vmid"] == v) for n, v in (("busy", 302),
                                                                                            ("idle", 303)))
        assert s.node["share"][0] < 0.5 and s.node["share"][1] == 1.0
        assert busy["pressurecpusome"] >= 100 * (1 - s.node["share"][0]) - 0.01
        assert busy["pressurecpusome"] > 40 and idle["pressurecpusome"] < 1
        assert busy["cpu"] < idle["cpu"]  # same demand, less served
        b = px.nodes("busy").qemu(302).rrddata.get(timeframe="hour")
        i = px.nodes("idle").qemu(303).rrddata.get(timeframe="hour")
        assert all(x["cpu"] <= y["cpu"] + 1e-9 for x, y in zip(b, i, strict=True))
        assert sum(x["cpu"] for x in b) < 0.7 * sum(y["cpu"] for y in i)
        assert min(x["pressurecpusome"] for x in b) > 40 and max(y["pressurecpusome"] for y in i) < 1
        assert b[-1]["pressurecpusome"] == pytest.approx(busy["pressurecpusome"], rel=0.2)
