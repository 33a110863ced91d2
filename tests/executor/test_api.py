"""The migration API with the contract's example bodies, through the Flask test client against the simulator."""

from __future__ import annotations

import csv
import io
import threading
import time

from tests.executor.conftest import sim_migration_tasks


def test_validate_contract_example(client):
    r = client.post("/api/migrate/validate", json={"vmid": 100, "source_node": "n1", "target_node": "n2",
                                                   "guest_type": "VM"})
    assert r.status_code == 200, r.get_json()
    v = r.get_json()["validation"]
    assert v["passed"] is True and set(v) == {"passed", "checks", "warnings"}
    assert [c["name"] for c in v["checks"]][:6] == ["staleness", "guest_state", "resources", "storage", "locks",
                                                    "affinity"]


def test_bad_input_is_a_json_error_and_starts_nothing(client, sim):
    cases = [({"vmid": 999, "target_node": "n2"}, 404), ({"vmid": 100, "target_node": "zz"}, 404),
             ({"vmid": 100, "target_node": "n2", "guest_type": "CT"}, 400),
             ({"vmid": 100, "target_node": "n2", "guest_type": "XX"}, 400),
             ({"vmid": 100, "target_node": "n2", "source_node": "n4"}, 409),
             ({"vmid": 100}, 400), ({"vmid": "x", "target_node": "n2"}, 400)]
    for body, status in cases:
        r = client.post("/api/migrate", json=body)
        assert r.status_code == status, (body, r.get_json())
        assert r.get_json()["success"] is False and r.get_json()["error"]["code"]
    assert sim_migration_tasks(sim) == []
    assert client.post("/api/migrations/UPID:bad/cancel").status_code == 400
    assert client.post("/api/tasks/n1/not-a-upid/stop").status_code == 400


def test_migrate_progress_and_history(client, sim):
    r = client.post("/api/migrate", json={"vmid": 100, "source_node": "n1", "target_node": "n2", "guest_type": "VM"})
    assert r.status_code == 202, r.get_json()
    body = r.get_json()
    assert body["upid"].startswith("UPID:n1:") and body["state"] == "started" and body["migration_id"]
    seen = []
    for _ in range(200):
        sim.advance(3)
        st = client.get("/api/guests/100/migration-status").get_json()
        if st["state"] != "started":
            break
        seen.append(st["percent"])
        assert st["migrating"] is True
    assert st["state"] == "completed" and st["percent"] == 100.0
    assert len({p for p in seen if p}) >= 2
    h = client.get("/api/automigrate/history").get_json()
    assert h["total"] == 1 and h["history"][0]["actor"] == "key:bootstrap:bootstrap"
    csv_text = client.get("/api/automigrate/history/export?format=csv&from=2000-01-01T00:00:00Z").get_data(as_text=True)
    rows = list(csv.DictReader(io.StringIO(csv_text)))
    assert rows[0]["vmid"] == "100" and rows[0]["state"] == "completed"
    assert client.get("/api/automigrate/history/export?format=json&to=2000-01-01T00:00:00Z").get_json()["count"] == 0
    assert client.get("/api/automigrate/history/export?from=yesterday").status_code == 400
    # every write is audited with actor and request id
    from proxbalance.store.audit import entries
    rows, _ = entries(client.application.extensions["proxbalance"].store.engine)
    assert any(e.path == "/api/migrate" and e.actor == "key:bootstrap:bootstrap" and e.request_id for e in rows)


def test_cancel_by_upid_and_task_stop_only_migrations(client, sim):
    r = client.post("/api/migrate", json={"vmid": 110, "target_node": "n2"}).get_json()
    sim.advance(5)
    c = client.post(f"/api/migrations/{r['upid']}/cancel")
    assert c.status_code == 200 and c.get_json()["state"] == "cancelled"
    from tests.sim.conftest import client as px
    upid = px(sim).nodes("n1").qemu(111).status.shutdown.post()
    s = client.post(f"/api/tasks/n1/{upid}/stop")
    assert s.status_code == 403 and s.get_json()["error"]["code"] == "not_a_migration_task"


def test_batch_endpoint_and_rollback(client, sim, app, collect):
    stop = threading.Event()

    def ticker():  # the batch runs in a thread of the app; move simulated time while it polls
        while not stop.is_set():
            sim.advance(5)
            time.sleep(0.01)
    t = threading.Thread(target=ticker, daemon=True)
    t.start()
    try:
        r = client.post("/api/migrate/batch", json={"migrations": [
            {"vmid": 122, "source_node": "n1", "target_node": "n2", "guest_type": "VM"},
            {"vmid": 101, "source_node": "n1", "target_node": "n4", "guest_type": "ct"}]})
        assert r.status_code == 202, r.get_json()
        bid = r.get_json()["batch_id"]
        for _ in range(500):
            b = client.get(f"/api/migrate/batch/{bid}").get_json()
            if b["state"] in ("completed", "failed"):
                break
            time.sleep(0.02)
        assert b["state"] == "completed", b
        stop.set()
        t.join()
        collect()  # simulated time ran fast: fresh data, or staleness (rightly) refuses the rollback
        info = client.get("/api/migrate/rollback-info/122").get_json()["rollback"]
        assert info["original_node"] == "n1" and info["available"] is True
        assert info["validation"]["passed"] is True and "mem_percent" in info["original_node_load"]
        rb = client.post("/api/migrate/rollback", json={"vmid": 122})
        assert rb.status_code == 202, rb.get_json()
        mid = rb.get_json()["migration_id"]
        for _ in range(500):
            sim.advance(5)
            rec = client.get(f"/api/migrations/{mid}").get_json()["migration"]
            if rec["state"] != "started":
                break
        assert rec["state"] == "completed" and rec["origin"] == "rollback" and rec["rollback_of"]
    finally:
        stop.set()
        t.join()
    assert sim.cluster.guest(122).node == "n1"
    assert len(sim_migration_tasks(sim, 122)) == 2


def test_tags_round_trip(client, sim):
    r = client.post("/api/guests/102/tags", json={"tag": "exclude_db"})
    assert r.status_code == 200, r.get_json()
    assert "exclude_db" in r.get_json()["tags"]
    assert "exclude_db" in sim.cluster.guest(102).tags
    assert client.post("/api/guests/102/tags", json={"tag": "exclude_db"}).status_code == 409
    assert client.post("/api/guests/102/tags", json={"tag": "-bad"}).status_code == 400
    assert client.post("/api/guests/102/tags", json={"tag": "a;b"}).status_code == 400
    assert client.post("/api/guests/102/tags/refresh").get_json()["tags"] == ["exclude_db"]
    d = client.delete("/api/guests/102/tags/exclude_db")
    assert d.status_code == 200 and d.get_json()["tags"] == []
    assert "exclude_db" not in (sim.cluster.guest(102).tags or "")
    assert client.delete("/api/guests/102/tags/exclude_db").status_code == 404


def test_storage_verify(client):
    r = client.post("/api/storage/verify", json={"vmid": 103, "target_node": "n2"}).get_json()
    assert r["compatible"] is False and "local-zfs" in r["detail"]
    r = client.post("/api/storage/verify", json={"vmid": 103, "target_node": "n2", "targetstorage": "local-lvm"})
    assert r.get_json()["compatible"] is True and r.get_json()["with_local_disks"] is True
