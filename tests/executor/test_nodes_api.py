"""Maintenance mode and evacuation through the API; the contract's maintenance_nodes on POST /api/recommendations."""

from __future__ import annotations

import threading
import time


def test_maintenance_endpoints_and_validation(client):
    r = client.post("/api/nodes/n4/maintenance", json={"enable": True, "reason": "patching"})
    assert r.status_code == 200 and r.get_json()["maintenance"]["maintenance"] is True
    assert client.get("/api/maintenance").get_json()["maintenance_nodes"] == ["n4"]
    v = client.post("/api/migrate/validate", json={"vmid": 100, "target_node": "n4"}).get_json()["validation"]
    assert not v["passed"] and any(c["name"] == "target" and "maintenance" in c["detail"] for c in v["checks"])
    assert client.post("/api/nodes/zz/maintenance", json={"enable": True}).status_code == 404
    assert client.post("/api/nodes/n4/maintenance", json={"enable": "maybe"}).status_code == 400
    client.post("/api/nodes/n4/maintenance", json={"enable": False})
    assert client.get("/api/maintenance").get_json()["maintenance_nodes"] == []


def test_recommendations_honour_maintenance_nodes(client):
    r = client.post("/api/recommendations", json={"maintenance_nodes": ["n2"], "max_moves": 50})
    assert r.status_code == 200, r.get_json()
    recs = r.get_json()["recommendations"]
    assert recs and all(x["target_node"] != "n2" for x in recs)
    assert any(x["source_node"] == "n2" for x in recs)  # its guests are evacuated first
    assert client.post("/api/recommendations", json={"maintenance_nodes": ["bad name!"]}).status_code == 400


def test_evacuate_preview_run_and_status(client, sim):
    r = client.post("/api/nodes/evacuate", json={"node": "n2", "dry_run": True})
    assert r.status_code == 200, r.get_json()
    preview = r.get_json()["session"]
    assert preview["state"] == "preview" and preview["moves"]
    stop = threading.Event()

    def ticker():
        while not stop.is_set():
            sim.advance(5)
            time.sleep(0.01)
    t = threading.Thread(target=ticker, daemon=True)
    t.start()
    try:
        run = client.post("/api/nodes/evacuate", json={"node": "n2", "from_preview": preview["session_id"]})
        assert run.status_code == 202, run.get_json()
        sid = run.get_json()["session_id"]
        for _ in range(1000):
            s = client.get(f"/api/nodes/evacuate/status/{sid}").get_json()["session"]
            if s["state"] in ("completed", "completed_with_errors", "cancelled"):
                break
            time.sleep(0.02)
    finally:
        stop.set()
        t.join()
    assert s["state"] in ("completed", "completed_with_errors"), s
    assert [m["vmid"] for m in s["moves"]] == [m["vmid"] for m in preview["moves"]]
    assert all(x["reason"] for x in s["summary"]["remaining"])
    assert client.get("/api/nodes/evacuate/status/nothex").status_code == 400
    assert client.get("/api/nodes/evacuate/status/" + "0" * 32).status_code == 404
