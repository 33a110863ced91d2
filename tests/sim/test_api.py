"""Every read endpoint through proxmoxer over verified HTTPS, rrddata timeframes, auth and error shapes."""

from __future__ import annotations

import pytest
import requests
from proxmoxer import ProxmoxAPI
from proxmoxer.core import AuthenticationError, ResourceException

from tests.sim.conftest import client

TIMEFRAMES = {"hour": 60, "day": 1800, "week": 10800, "month": 43200, "year": 604800, "decade": 604800}


def test_version_nodes_status(demo):
    px = client(demo)
    assert px.version.get()["release"].startswith("9")
    nodes = px.nodes.get()
    assert [n["node"] for n in nodes] == ["pve1", "pve2", "pve3", "pve4", "pve5"]
    for n in nodes:
        assert n["status"] == "online" and isinstance(n["maxcpu"], int) and 0 <= n["cpu"] <= 1
        assert n["mem"] <= n["maxmem"]
    st = px.nodes("pve1").status.get()
    assert st["memory"]["total"] == nodes[0]["maxmem"] and len(st["loadavg"]) == 3
    assert st["cpuinfo"]["cpus"] == nodes[0]["maxcpu"]
    assert px.nodes("pve1").version.get()["version"]


def test_cluster_resources_shapes(demo):
    px = client(demo)
    rows = px.cluster.resources.get()
    types = {r["type"] for r in rows}
    assert types == {"node", "qemu", "lxc", "storage", "pool", "sdn"}
    vms = px.cluster.resources.get(type="vm")
    assert {r["type"] for r in vms} == {"qemu", "lxc"} and len(vms) == len(demo.cluster.guests)
    for r in vms:
        assert r["id"] == f"{r['type']}/{r['vmid']}"
        assert isinstance(r["maxmem"], int) and isinstance(r["diskread"], int) and r["template"] in (0, 1)
        if r["status"] == "running":
            assert 0 <= r["cpu"] <= 1 and r["mem"] > 0
    assert any("hastate" in r for r in vms) and any(";" in r.get("tags", "") for r in vms)
    assert any(r["template"] == 1 for r in vms) and any(r["status"] == "stopped" for r in vms)
    node_cpu = {r["node"]: r["cpu"] for r in px.cluster.resources.get(type="node")}
    assert max(node_cpu.values()) - min(node_cpu.values()) > 0.2, "demo is visibly imbalanced"
    st = px.cluster.resources.get(type="storage")
    assert {"ceph", "local-lvm"} <= {r["storage"] for r in st}
    assert all(r["shared"] == 1 for r in st if r["storage"] == "ceph")


def test_counters_are_cumulative(demo):
    px = client(demo)
    vm = next(r for r in px.cluster.resources.get(type="vm") if r["status"] == "running" and r["netin"] > 0)
    demo.advance(600)
    later = next(r for r in px.cluster.resources.get(type="vm") if r["vmid"] == vm["vmid"])
    assert later["netin"] >= vm["netin"] and later["diskwrite"] >= vm["diskwrite"]
    assert later["netin"] + later["netout"] > vm["netin"] + vm["netout"]


def test_guest_endpoints(demo):
    px = client(demo)
    vms = px.cluster.resources.get(type="vm")
    for kind in ("qemu", "lxc"):
        g = next(r for r in vms if r["type"] == kind and r["status"] == "running")
        api = getattr(px.nodes(g["node"]), kind)
        listed = api.get()
        assert g["vmid"] in {r["vmid"] for r in listed}
        cur = api(g["vmid"]).status.current.get()
        assert cur["status"] == "running" and cur["vmid"] == g["vmid"] and "ha" in cur
        cfg = api(g["vmid"]).config.get()
        assert "digest" in cfg and cfg["cores"] == g["maxcpu"]
        mig = api(g["vmid"]).migrate.get()
        assert mig["running"] == 1 and g["node"] not in mig.get("allowed_nodes", mig.get("allowed-nodes"))


@pytest.mark.parametrize("tf", list(TIMEFRAMES))
@pytest.mark.parametrize("cf", ["AVERAGE", "MAX"])
def test_rrddata_every_timeframe(demo, tf, cf):
    px = client(demo)
    now = demo.now()
    pts = px.nodes("pve1").rrddata.get(timeframe=tf, cf=cf)
    assert len(pts) >= 70
    times = [p["time"] for p in pts]
    assert all(b - a == TIMEFRAMES[tf] for a, b in zip(times, times[1:], strict=False))
    assert times[-1] <= now and times[0] < now - 60 * TIMEFRAMES[tf]  # covers the past
    p = pts[-1]
    for key in ("cpu", "maxcpu", "iowait", "loadavg", "memused", "memtotal", "netin", "netout",
                "pressurecpusome", "pressureiosome", "pressureiofull", "pressurememorysome", "pressurememoryfull"):
        assert key in p
    assert any(q["cpu"] > 0 for q in pts)
    g = next(r for r in px.cluster.resources.get(type="vm") if r["status"] == "running" and r["type"] == "qemu")
    if tf != "decade":
        gp = px.nodes(g["node"]).qemu(g["vmid"]).rrddata.get(timeframe=tf, cf=cf)
        assert len(gp) >= 70 and {"cpu", "mem", "diskread", "netout", "maxmem"} <= set(gp[-1])


def test_rrd_max_is_at_least_average(demo):
    px = client(demo)
    avg = px.nodes("pve1").rrddata.get(timeframe="week", cf="AVERAGE")
    mx = px.nodes("pve1").rrddata.get(timeframe="week", cf="MAX")
    assert all(m["cpu"] >= a["cpu"] - 1e-9 for a, m in zip(avg, mx, strict=True))
    assert any(m["cpu"] > a["cpu"] + 1e-6 for a, m in zip(avg, mx, strict=True))


def test_cluster_endpoints(demo):
    px = client(demo)
    st = px.cluster.status.get()
    assert st[0]["type"] == "cluster" and st[0]["quorate"] == 1 and st[0]["nodes"] == 5
    assert sum(r["type"] == "node" and r["online"] == 1 for r in st) == 5
    assert "crs" in px.cluster.options.get()
    ha = px.cluster.ha.resources.get()
    assert ha and all(r["sid"].split(":")[0] in ("vm", "ct") and r["state"] == "started" for r in ha)
    cur = px.cluster.ha.status.current.get()
    assert {r["type"] for r in cur} >= {"quorum", "master", "lrm", "service"}
    ms = px.cluster.ha.status.manager_status.get()
    assert set(ms["manager_status"]["node_status"]) == {f"pve{i}" for i in range(1, 6)}
    rules = px.cluster.ha.rules.get()
    assert {r["type"] for r in rules} == {"node-affinity", "resource-affinity"}
    assert px.cluster.ha.groups.get() == []
    pools = px.pools.get()
    assert {p["poolid"] for p in pools} == {"prod", "dev", "infra"}
    assert all("vmid" in m for m in px.pools("prod").get()["members"])
    assert {s["storage"] for s in px.storage.get()} >= {"ceph", "local-lvm", "local"}
    ns = px.nodes("pve1").storage.get()
    assert all(s["total"] >= s["used"] for s in ns)
    assert px.access.permissions.get()["/"]["VM.Migrate"] == 1
    nid = int(px.cluster.nextid.get())
    assert nid not in {r["vmid"] for r in px.cluster.resources.get(type="vm")}
    assert px.cluster("backup-info")("not-backed-up").get()
    assert isinstance(px.nodes("pve1").tasks.get(), list)


def test_put_tags(demo):
    px = client(demo)
    g = next(r for r in px.cluster.resources.get(type="vm") if r["type"] == "qemu" and not r.get("lock"))
    px.nodes(g["node"]).qemu(g["vmid"]).config.put(tags="zeta;alpha,pinned")
    assert px.nodes(g["node"]).qemu(g["vmid"]).config.get()["tags"] == "alpha;pinned;zeta"
    row = next(r for r in px.cluster.resources.get(type="vm") if r["vmid"] == g["vmid"])
    assert row["tags"] == "alpha;pinned;zeta"
    with pytest.raises(ResourceException) as e:
        px.nodes(g["node"]).qemu(g["vmid"]).config.put(tags="bad tag!")
    assert e.value.status_code == 400 and "tags" in e.value.errors


def test_param_and_path_errors(demo):
    px = client(demo)
    with pytest.raises(ResourceException) as e:
        px.nodes("pve1").rrddata.get(timeframe="fortnight")
    assert e.value.status_code == 400 and "enumeration" in e.value.errors["timeframe"]
    with pytest.raises(ResourceException) as e:
        px.nodes("pve1").qemu(99999).status.current.get()
    assert e.value.status_code == 500 and "does not exist" in str(e.value)
    with pytest.raises(ResourceException) as e:
        px.nodes("nope").status.get()
    assert e.value.status_code == 500
    with pytest.raises(ResourceException) as e:
        px.nodes("pve1").frobnicate.get()
    assert e.value.status_code == 501


def test_bad_token_is_401(demo):
    bad = ProxmoxAPI(demo.host, port=demo.port, user=demo.token_user, token_name=demo.token_name,
                     token_value="00000000-0000-0000-0000-000000000000", verify_ssl=demo.ca_file)
    with pytest.raises(ResourceException) as e:
        bad.version.get()
    assert e.value.status_code == 401
    r = requests.get(demo.api_url + "/version", verify=demo.ca_file, timeout=5)
    assert r.status_code == 401


def test_ticket_auth_and_csrf(demo):
    with pytest.raises(AuthenticationError):
        ProxmoxAPI(demo.host, port=demo.port, user="root@pam", password="wrong", verify_ssl=demo.ca_file)
    px = ProxmoxAPI(demo.host, port=demo.port, user="root@pam", password=demo.password, verify_ssl=demo.ca_file)
    assert px.nodes.get()
    g = next(r for r in px.cluster.resources.get(type="vm") if r["type"] == "lxc" and not r.get("lock"))
    px.nodes(g["node"]).lxc(g["vmid"]).config.put(tags="viaticket")  # proxmoxer sends the CSRF token
    assert px.nodes(g["node"]).lxc(g["vmid"]).config.get()["tags"] == "viaticket"
    login = requests.post(demo.api_url + "/access/ticket", data={"username": "root@pam", "password": demo.password},
                          verify=demo.ca_file, timeout=5).json()["data"]
    cookies = {"PVEAuthCookie": login["ticket"]}
    url = f"{demo.api_url}/nodes/{g['node']}/lxc/{g['vmid']}/config"
    r = requests.put(url, data={"tags": "nocsrf"}, cookies=cookies, verify=demo.ca_file, timeout=5)
    assert r.status_code == 401
    r = requests.put(url, data={"tags": "withcsrf"}, cookies=cookies, verify=demo.ca_file, timeout=5,
                     headers={"CSRFPreventionToken": login["CSRFPreventionToken"]})
    assert r.status_code == 200 and r.json() == {"data": None}
