"""Recommendations, node scores and penalty config through the API, on a hand-built snapshot in the store."""

from __future__ import annotations

import csv
import io

import pytest

from proxbalance.model import ClusterSnapshot, Guest, Node

GIB = 1024**3


def node(name, cores=16, mem_gib=64, **kw):
    return Node(name=name, online=True, maxcpu=cores, cpu=0.0, maxmem=mem_gib * GIB, mem=0, **kw)


def guest(vmid, node_name, cores=4, cpu=0.8, mem_gib=6, **kw):
    return Guest(vmid=vmid, name=kw.pop("name", f"vm{vmid}"), type=kw.pop("type", "qemu"), node=node_name,
                 status=kw.pop("status", "running"), maxcpu=cores, cpu=cpu, maxmem=mem_gib * GIB,
                 mem=mem_gib * GIB, **kw)


def imbalanced_snapshot(t=1_800_000_000.0) -> ClusterSnapshot:
    """pve1 carries almost everything; pve2 and pve3 are idle. vm 109 is tagged ignore."""
    guests = [guest(100 + i, "pve1") for i in range(9)]
    guests.append(guest(109, "pve1", tags=("ignore",)))
    guests.append(guest(200, "pve2", cores=2, cpu=0.1, mem_gib=2))
    nodes = []
    for n in (node("pve1"), node("pve2"), node("pve3")):
        mine = [g for g in guests if g.node == n.name]
        nodes.append(Node(**{**{f: getattr(n, f) for f in n.__slots__},
                             "cpu": sum(g.cpu * g.maxcpu for g in mine) / n.maxcpu,
                             "mem": sum(g.mem for g in mine) + 2 * GIB}))
    return ClusterSnapshot(time=t, nodes=tuple(nodes), guests=tuple(guests), quorate=True, cluster_name="test")


@pytest.fixture
def snapshot_in_store(store):
    from proxbalance.store.snapshots import save_snapshot

    snap = imbalanced_snapshot()
    with store.engine.begin() as conn:
        save_snapshot(conn, snap)
    return snap


def h(key):
    return {"X-API-Key": key}


def test_no_data_yet_is_503(client, admin_key):
    resp = client.post("/api/recommendations", json={}, headers=h(admin_key))
    assert resp.status_code == 503 and resp.get_json()["error"]["code"] == "no_data"
    assert client.get("/api/recommendations", headers=h(admin_key)).status_code == 503


def test_generate_and_read_back(client, admin_key, read_key, snapshot_in_store):
    resp = client.post("/api/recommendations", json={"cpu_threshold": 60, "mem_threshold": 70},
                       headers=h(admin_key))
    assert resp.status_code == 200, resp.get_json()
    run = resp.get_json()
    recs = run["recommendations"]
    assert recs, "an overloaded node must produce moves"
    for r in recs:
        assert r["source_node"] == "pve1" and r["target_node"] in ("pve2", "pve3")
        assert r["vmid"] != 109  # ignore tag
        for key in ("score_improvement", "confidence_score", "risk_score", "suitability", "priority", "reason",
                    "predicted", "migration", "breakdown", "order"):
            assert key in r
        assert 0 <= r["confidence_score"] <= 100 and 0 <= r["suitability"] <= 100
    assert run["batch_impact"]["after"]["peak_pct"] < run["batch_impact"]["before"]["peak_pct"]
    listed = client.get("/api/recommendations", headers=h(read_key)).get_json()
    assert [r["vmid"] for r in listed["recommendations"]] == [r["vmid"] for r in recs]
    assert listed["total_count"] == listed["filtered_count"] == listed["count"] == len(recs)


def test_filters_sort_and_paging(client, admin_key, snapshot_in_store):
    recs = client.post("/api/recommendations", json={}, headers=h(admin_key)).get_json()["recommendations"]
    page = client.get("/api/recommendations?limit=1&offset=1&sort=confidence_score&sort_dir=asc",
                      headers=h(admin_key)).get_json()
    ordered = sorted(recs, key=lambda r: r["confidence_score"])
    assert page["count"] == 1 and page["total_count"] == len(recs)
    assert page["recommendations"][0]["confidence_score"] == ordered[1]["confidence_score"]
    none = client.get("/api/recommendations?source_node=pve3", headers=h(admin_key)).get_json()
    assert none["filtered_count"] == 0 and none["total_count"] == len(recs)
    high = client.get("/api/recommendations?min_confidence=101", headers=h(admin_key))
    assert high.status_code == 400 and high.get_json()["error"]["details"]["field"] == "min_confidence"
    bad = client.get("/api/recommendations?sort=vmid", headers=h(admin_key))
    assert bad.status_code == 400 and bad.get_json()["error"]["details"]["field"] == "sort"


def test_skipped_reasons(client, admin_key, snapshot_in_store):
    client.post("/api/recommendations", json={}, headers=h(admin_key))
    body = client.get("/api/recommendations/skipped?reason=ignored", headers=h(admin_key)).get_json()
    assert [s["vmid"] for s in body["skipped"]] == [109]
    assert body["skip_reason_breakdown"]["ignored"] == 1


def test_export_csv_and_json(client, admin_key, snapshot_in_store):
    recs = client.post("/api/recommendations", json={}, headers=h(admin_key)).get_json()["recommendations"]
    resp = client.get("/api/recommendations/export?format=csv", headers=h(admin_key))
    assert resp.status_code == 200 and resp.mimetype == "text/csv"
    rows = list(csv.DictReader(io.StringIO(resp.get_data(as_text=True))))
    assert [int(r["vmid"]) for r in rows] == [r["vmid"] for r in recs]
    js = client.get("/api/recommendations/export", headers=h(admin_key)).get_json()
    assert len(js["recommendations"]) == len(recs)
    assert client.get("/api/recommendations/export?format=xml", headers=h(admin_key)).status_code == 400


def test_feedback(client, admin_key, read_key, snapshot_in_store):
    assert client.post("/api/recommendations/feedback", json={"vmid": 100, "rating": "helpful"},
                       headers=h(read_key)).status_code == 403
    assert client.post("/api/recommendations/feedback", json={"vmid": 100, "rating": "great"},
                       headers=h(admin_key)).status_code == 400
    for rating in ("helpful", "helpful", "not_helpful"):
        assert client.post("/api/recommendations/feedback", json={"vmid": 100, "rating": rating},
                           headers=h(admin_key)).status_code == 201
    stats = client.get("/api/recommendations/feedback", headers=h(read_key)).get_json()["stats"]
    assert stats == {"total": 3, "helpful": 2, "not_helpful": 1, "helpful_rate": 66.7}


def test_node_scores_and_migration_options(client, admin_key, snapshot_in_store):
    body = client.post("/api/node-scores", json={"vmid": 100}, headers=h(admin_key)).get_json()["node_scores"]
    assert body["current_node"] == "pve1" and body["best_node"] in ("pve2", "pve3")
    assert {n["node"] for n in body["nodes"]} == {"pve1", "pve2", "pve3"}
    hypo = client.post("/api/node-scores", json={"cpu_cores": 2, "mem_bytes": 4 * GIB}, headers=h(admin_key))
    assert hypo.status_code == 200 and hypo.get_json()["node_scores"]["hypothetical"] is True
    assert client.post("/api/node-scores", json={}, headers=h(admin_key)).status_code == 400
    opts = client.post("/api/guest/100/migration-options", json={}, headers=h(admin_key)).get_json()
    assert opts["current_node"] == "pve1" and len(opts["options"]) == 3
    missing = client.post("/api/guest/4242/migration-options", json={}, headers=h(admin_key))
    assert missing.status_code == 404


def test_penalty_config_lifecycle(client, admin_key, read_key):
    original = client.get("/api/penalty-config", headers=h(read_key)).get_json()
    assert original["customized"] is False and original["preset"] == "balanced"
    assert {p["name"] for p in original["presets"]} == {"conservative", "balanced", "aggressive", "cpu_focus",
                                                        "memory_focus"}
    bad = client.post("/api/penalty-config", json={"config": {"cpu_high_penalty": 30, "no_such_key": 1}},
                      headers=h(admin_key))
    assert bad.status_code == 400 and bad.get_json()["error"]["details"]["key"] == "no_such_key"
    assert client.get("/api/penalty-config", headers=h(read_key)).get_json() == original  # nothing saved
    ok = client.post("/api/penalty-config", json={"config": {"cpu_high_penalty": 30}}, headers=h(admin_key))
    assert ok.status_code == 200 and ok.get_json()["config"]["cpu_high_penalty"] == 30
    assert ok.get_json()["customized"] is True
    preset = client.post("/api/penalty-config/presets/aggressive", headers=h(admin_key)).get_json()
    assert preset["preset"] == "aggressive"
    assert client.post("/api/penalty-config/presets/wild", headers=h(admin_key)).status_code == 404
    reset = client.post("/api/penalty-config/reset", headers=h(admin_key)).get_json()
    assert reset["config"] == original["config"] and reset["customized"] is False


def test_simulate_saves_nothing(client, admin_key, snapshot_in_store):
    before = client.get("/api/penalty-config", headers=h(admin_key)).get_json()
    resp = client.post("/api/penalty-config/simulate", json={"config": {"max_moves": 1}, "cpu_threshold": 90},
                       headers=h(admin_key))
    assert resp.status_code == 200
    body = resp.get_json()
    assert body["proposed"]["count"] == 1 and body["current"]["count"] > 1
    current = body["current"]["count"]
    assert len(body["changes"]["removed"]) >= current - 1  # the other moves are gone from the proposal
    assert len(body["changes"]["removed"]) - len(body["changes"]["added"]) == current - 1
    assert client.get("/api/penalty-config", headers=h(admin_key)).get_json() == before
    assert client.get("/api/recommendations", headers=h(admin_key)).status_code == 503  # no run stored


def test_suggestions_and_diagnostics(client, admin_key, snapshot_in_store):
    sug = client.get("/api/recommendations/threshold-suggestions", headers=h(admin_key)).get_json()
    assert 40 <= sug["suggested_cpu_threshold"] <= 85 and 50 <= sug["suggested_mem_threshold"] <= 90
    empty = client.get("/api/recommendations/diagnostics", headers=h(admin_key)).get_json()["diagnostics"]
    assert empty["last_generation"] is None
    run = client.post("/api/recommendations", json={}, headers=h(admin_key)).get_json()
    diag = client.get("/api/recommendations/diagnostics", headers=h(admin_key)).get_json()["diagnostics"]
    assert diag["guests_evaluated"] == 11
    assert diag["guests_recommended"] == len(run["recommendations"])
    assert diag["guests_skipped"] == len(run["skipped"])
    assert diag["skip_reason_breakdown"] == run["skip_reason_breakdown"]
