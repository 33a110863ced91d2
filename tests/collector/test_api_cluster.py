"""Cluster endpoints through Flask's test client, with data collected from the simulator."""

from __future__ import annotations

import json

import pytest

from proxbalance.api import create_app
from proxbalance.api.cluster_shape import permissions_report
from proxbalance.pve.client import PveClient
from proxbalance.store.keys import create_key
from proxbalance.store.snapshots import latest_snapshot


@pytest.fixture
def app(settings, store):
    return create_app(settings, store)


@pytest.fixture
def keys(store):
    return {"admin": create_key(store.engine, "a", "admin")[1], "read": create_key(store.engine, "r", "read")[1]}


@pytest.fixture
def api(app, keys):
    client = app.test_client()

    def call(method, path, key="read", **kw):
        return client.open(path, method=method, headers={"X-API-Key": keys[key]}, **kw)
    return call


@pytest.fixture
def collected(collect):
    return collect()


def test_no_data_before_first_collection(api):
    r = api("GET", "/api/analyze")
    assert r.status_code == 503 and r.get_json()["error"]["code"] == "no_data"


def test_refresh_needs_admin_and_collects(api, store, settings):
    assert api("POST", "/api/refresh").status_code == 403
    r = api("POST", "/api/refresh", key="admin")
    body = r.get_json()
    assert r.status_code == 200 and body["success"] and body["collection"]["snapshot_id"] >= 1
    assert body["collection"]["api_calls"] > 0 and latest_snapshot(store.engine) is not None
    assert settings["proxmox.token_secret"] not in r.get_data(as_text=True)


def test_analyze_summary_nodes_guests(api, collected, store):
    snap = latest_snapshot(store.engine)
    body = api("GET", "/api/analyze").get_json()
    for key in ("collected_at", "age_seconds", "summary", "nodes", "guests", "storages", "ha_rules"):
        assert key in body
    assert set(body["nodes"]) == {n.name for n in snap.nodes}
    assert set(body["guests"]) == {str(g.vmid) for g in snap.guests}
    s = api("GET", "/api/cluster-summary").get_json()["summary"]
    assert s["node_count"] == len(snap.nodes) and s["guest_count"] == len(snap.guests)
    assert s["vm_count"] + s["ct_count"] == s["guest_count"] and s["quorate"] is True
    nodes = api("GET", "/api/nodes-only").get_json()
    assert nodes["count"] == len(snap.nodes) and "guests" not in {k for k in nodes if k != "nodes"}
    first = snap.nodes[0]
    assert nodes["nodes"][first.name]["mem_percent"] == pytest.approx(100 * first.mem / first.maxmem, abs=0.01)
    g = api("GET", f"/api/guests-only?node={first.name}&type=qemu").get_json()
    assert g["guests"] and all(v["node"] == first.name and v["type"] == "qemu" for v in g["guests"].values())
    assert api("GET", "/api/guests-only?node=bad name").status_code == 400


def test_locations_tags_storage(api, collected, store):
    snap = latest_snapshot(store.engine)
    g = snap.guests[0]
    loc = api("GET", f"/api/guests/{g.vmid}/location").get_json()
    assert (loc["vmid"], loc["node"]) == (g.vmid, g.node)
    assert api("GET", "/api/guests/99999/location").status_code == 404
    assert api("GET", "/api/guests/5/location").status_code == 400
    locs = api("GET", "/api/guests/locations").get_json()["locations"]
    assert {int(k): v["node"] for k, v in locs.items()} == {x.vmid: x.node for x in snap.guests}
    tagged = next(x for x in snap.guests if x.tags)
    tags = api("GET", f"/api/guests/{tagged.vmid}/tags").get_json()
    assert tags["tags"] == list(tagged.tags)
    st = api("GET", f"/api/nodes/{g.node}/storage").get_json()
    assert {s["storage"] for s in st["storage"]} == {s.storage for s in snap.storages if s.node == g.node}
    assert all(s["avail"] == s["total"] - s["used"] for s in st["storage"])
    assert api("GET", "/api/nodes/nope/storage").status_code == 404
    assert api("GET", "/api/nodes/" + "x" * 51 + "/storage").status_code == 400


def test_affinity_groups_detect_splits(sim, tmp_path):
    from proxbalance.collector import collect_once
    from proxbalance.store import Store

    from .conftest import sim_settings

    aff = type(sim)(scenario="affinity", seed=1, stepped=True).start()
    try:
        settings = sim_settings(aff, tmp_path / "aff")
        store = Store.open(settings)
        collect_once(settings, store, now=aff.now())
        app = create_app(settings, store)
        key = create_key(store.engine, "r", "read")[1]
        body = app.test_client().get("/api/affinity-groups", headers={"X-API-Key": key}).get_json()
    finally:
        aff.stop()
    groups = {g["name"]: g for g in body["affinity_groups"]}
    web = groups["affinity_web"]  # web-a on pve1, web-b on pve2 in the scenario
    assert {m["vmid"] for m in web["members"]} >= {900, 901}
    assert web["is_split"] is True and web["status"] == "split" and web["nodes"] == sorted(set(web["nodes"]))
    assert body["split_groups"] == sum(g["is_split"] for g in body["affinity_groups"])
    assert body["total_groups"] == len(body["affinity_groups"])
    for g in body["affinity_groups"]:
        assert g["is_split"] == (len(g["nodes"]) > 1)
        assert set(g["members"][0]) == {"vmid", "name", "type", "node", "status"}


def test_task_status_live(api, collected, sim, settings, store):
    snap = latest_snapshot(store.engine)
    g = next(x for x in snap.guests if x.type == "qemu" and x.status == "running" and not x.ha_managed
             and not x.lock and all(d.shared for d in x.disks) and not x.passthrough)
    target = next(n.name for n in snap.nodes if n.name != g.node)
    upid = PveClient(settings).migrate(g.node, "qemu", g.vmid, target, online=True)
    r = api("GET", f"/api/tasks/{g.node}/{upid}?log_lines=5")
    body = r.get_json()
    assert r.status_code == 200 and body["task"]["upid"] == upid and body["task"]["type"] == "qmigrate"
    assert body["task"]["status"] in ("running", "stopped")
    sim.advance(3600)
    done = api("GET", f"/api/tasks/{g.node}/{upid}?log_lines=2").get_json()
    assert done["task"]["status"] == "stopped" and done["task"]["ok"] is True
    assert done["log"][-1]["t"].startswith("TASK OK")
    assert api("GET", f"/api/tasks/{target}/{upid}").status_code == 400  # UPID of another node
    assert api("GET", f"/api/tasks/{g.node}/not-a-upid").status_code == 400
    missing = upid.replace(upid.split(":")[2], "0000FFFF")
    assert api("GET", f"/api/tasks/{g.node}/{missing}").status_code == 404


def test_permissions(api, settings):
    body = api("GET", "/api/permissions").get_json()
    assert body["all_ok"] is True and body["missing_features"] == []
    assert "Sys.Audit" in body["privileges"]["/"]
    assert settings["proxmox.token_secret"] not in json.dumps(body)


def test_permissions_report_names_missing_privileges():
    perms = {"/": {"Sys.Audit": 1}, "/vms": {"VM.Audit": 1, "VM.Migrate": 0}, "/storage": {"Datastore.Audit": 1},
             "/vms/100": {"VM.Config.Options": 1}}
    rep = permissions_report(perms, "u@pve!t")
    feats = {f["feature"]: f for f in rep["features"]}
    assert feats["collect"]["available"] and feats["migrate"]["available"]  # granted on /vms itself
    assert not feats["tags"]["available"] and feats["tags"]["missing"] == ["VM.Config.Options on /vms"]
    assert not feats["ha_migrate"]["available"] and "ha_migrate" in rep["missing_features"]
    # a privilege on a parent only counts when it propagates
    assert not permissions_report({"/": {"VM.Migrate": 0}}, "x")["features"][1]["available"]
    assert permissions_report({"/": {"VM.Migrate": 1}}, "x")["features"][1]["available"]


def test_refresh_conflicts_while_a_collection_runs(api):
    from proxbalance import collector

    assert collector._LOCK.acquire(blocking=False)
    try:
        r = api("POST", "/api/refresh", key="admin")
        assert r.status_code == 409 and r.get_json()["error"]["code"] == "conflict"
    finally:
        collector._LOCK.release()


def test_pve_calls_are_exported_to_metrics(api, collected):
    text = api("GET", "/metrics").get_data(as_text=True)
    assert 'proxbalance_pve_calls_total{endpoint="/nodes/{node}/rrddata",outcome="ok"}' in text
    assert 'proxbalance_pve_call_duration_seconds_count{endpoint="/cluster/resources"}' in text
    assert 'proxbalance_collections_total{outcome="ok"}' in text
