"""The automation endpoints against the simulator: status, logs, run, test, config, toggle-timer."""

from __future__ import annotations

import json

import pytest

from proxbalance.api import create_app
from proxbalance.config import REDACTED
from proxbalance.store import leases
from tests.automation.simfix import ADMIN_KEY, collect, config_file


@pytest.fixture
def client(sim, asettings, astore):
    collect(sim, asettings, astore)
    app = create_app(asettings.replace(automation__dry_run=True), astore, clock=sim.now)
    app.extensions["proxbalance"].cache["executor_sleep"] = lambda _s: sim.advance(5.0)
    c = app.test_client()
    c.environ_base["HTTP_X_API_KEY"] = ADMIN_KEY
    return c


def test_run_test_status_and_logs(client, sim):
    r = client.post("/api/automigrate/test")
    assert r.status_code == 200, r.json
    assert r.json["mode"] == "test" and r.json["summary"]["would_execute"] >= 1
    r = client.post("/api/automigrate/run", json={})
    assert r.status_code == 200 and r.json["mode"] == "dry_run"
    st = client.get("/api/automigrate/status").json
    assert st["enabled"] is True and st["dry_run"] is True and st["paused"] is None and st["running"] is None
    assert st["last_cycle"]["cycle_id"] == r.json["cycle_id"] and st["timer"]["mode"] == "in_process"
    assert st["counts"]["dry_run"] >= 2 and st["counts"]["cycles_total"] == 2
    logs = client.get(f"/api/automigrate/logs?cycle_id={r.json['cycle_id']}").json
    assert logs["total_count"] == r.json["summary"]["candidates"]
    assert all(e["verdict"] in ("dry_run", "blocked") and e["reason"] for e in logs["entries"])
    assert client.get("/api/automigrate/logs?verdict=maybe").status_code == 400


def test_a_second_cycle_is_refused_while_one_holds_the_lease(client, astore):
    assert leases.acquire(astore.engine, "automation-cycle", "someone-else", 60)
    r = client.post("/api/automigrate/run", json={})
    assert r.status_code == 409 and r.json["error"]["code"] == "cycle_running"
    assert client.get("/api/automigrate/status").json["running"]["holder"] == "someone-else"


def test_config_is_validated_and_a_redacted_secret_is_kept(client, astore):
    r = client.post("/api/automigrate/config", json={"notifications.urls": ["json://u:topsecret@127.0.0.1:9/x"],
                                                     "automation.windows": ["mon-fri 22:00-06:00"]})
    assert r.status_code == 200, r.json
    got = client.get("/api/automigrate/config").json
    assert got["config"]["notifications.urls"] == REDACTED and "topsecret" not in str(got)
    assert got["sources"]["automation.windows"] == "api"
    # sending back what GET returned never overwrites the secret
    assert client.post("/api/automigrate/config", json={"notifications.urls": REDACTED,
                                                        "automation.max_concurrent": 3}).status_code == 200
    from proxbalance.automation_config import effective
    eff = effective(client.application.extensions["proxbalance"].settings, astore)
    assert eff["notifications.urls"] == ["json://u:topsecret@127.0.0.1:9/x"] and eff["automation.max_concurrent"] == 3
    for bad in ({"automation.windows": ["25:00-01:00"]}, {"automation.max_concurrent": 0},
                {"automation.timezone": "Nowhere/City"}, {"proxmox.host": "evil"}, {"automation.enabled": "yes"}):
        r = client.post("/api/automigrate/config", json=bad)
        assert r.status_code == 400, bad
    assert effective(client.application.extensions["proxbalance"].settings, astore)["automation.max_concurrent"] == 3


def test_toggle_timer_runs_the_in_process_job(client):
    r = client.post("/api/automigrate/toggle-timer", json={"enabled": True})
    assert r.status_code == 200 and r.json["timer"]["mode"] == "in_process"
    assert r.json["timer"]["enabled"] and r.json["timer"]["next_run"] and r.json["timer"]["changed"]
    assert client.get("/api/automigrate/status").json["next_run"] == r.json["timer"]["next_run"]
    r = client.post("/api/automigrate/toggle-timer", json={})
    assert r.json["timer"]["enabled"] is False
    assert client.post("/api/automigrate/toggle-timer", json={"enabled": "x"}).status_code == 400


def test_writes_need_admin(client, astore):
    from proxbalance.store.keys import create_key

    key = create_key(astore.engine, "reader", "read")[1]
    assert client.get("/api/automigrate/status", headers={"X-API-Key": key}).status_code == 200
    for path in ("/api/automigrate/run", "/api/automigrate/test", "/api/automigrate/toggle-timer"):
        assert client.post(path, json={}, headers={"X-API-Key": key}).status_code == 403


def test_cli_automigrate_dry_run(sim, asettings, astore, tmp_path, capsys):
    from proxbalance.cli import main

    conf = config_file(tmp_path, asettings)  # live in the file; --dry-run wins
    assert main(["--config", conf, "automigrate", "--dry-run", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["mode"] == "dry_run" and out["summary"]["would_execute"] >= 1 and out["summary"]["executed"] == 0
    assert main(["--config", conf, "automigrate", "--test"]) == 0
    text = capsys.readouterr().out
    assert text.startswith(f"cycle {out['cycle_id'] + 1} (test):") and "[" in text
