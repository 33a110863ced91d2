"""The production path end to end: simulator over HTTPS → proxmoxer → collector → store → engine → API/CLI."""

from __future__ import annotations

import json

import pytest

from proxbalance.api import create_app
from proxbalance.cli import main
from proxbalance.collector import collect_once
from proxbalance.sim import SimServer
from proxbalance.store import Store
from proxbalance.store.keys import create_key
from tests.collector.conftest import sim_settings


@pytest.fixture(scope="module")
def sim():
    server = SimServer(scenario="demo", seed=0, stepped=True).start()
    yield server
    server.stop()


@pytest.fixture
def stack(sim, tmp_path):
    settings = sim_settings(sim, tmp_path / "data", **{"collection.backfill": True})
    store = Store.open(settings)
    collect_once(settings, store, now=sim.now())
    yield settings, store
    store.close()


def test_recommendations_move_load_off_the_hottest_node(stack):
    settings, store = stack
    client = create_app(settings, store).test_client()
    key = create_key(store.engine, "e2e", "admin")[1]
    summary = client.get("/api/cluster-summary", headers={"X-API-Key": key}).get_json()
    assert summary["summary"]["node_count"] == 5 and summary["summary"]["guest_count"] == 60
    run = client.post("/api/recommendations", json={}, headers={"X-API-Key": key}).get_json()
    before, after = run["batch_impact"]["before"], run["batch_impact"]["after"]
    hottest = max(before["nodes"], key=lambda n: max(before["nodes"][n]["cpu_pct"], before["nodes"][n]["mem_pct"]))
    assert run["recommendations"], "the demo cluster is imbalanced by design"
    assert any(r["source_node"] == hottest for r in run["recommendations"])
    assert after["peak_pct"] < before["peak_pct"]
    assert all(after["nodes"][n]["mem_pct"] <= 90.0 for n in after["nodes"])
    skipped = {s["vmid"] for s in run["skipped"]}
    moved = {r["vmid"] for r in run["recommendations"]}
    assert not skipped & moved
    assert len(skipped | moved) == 60  # every guest is either moved or has a skip reason
    health = client.get("/api/health").get_json()
    assert health["components"]["proxmox"]["status"] == "ok"


def test_recommend_cli_prints_the_plan(stack, tmp_path, capsys, monkeypatch):
    settings, _ = stack
    cfg = tmp_path / "config.toml"
    cfg.write_text(f'[paths]\ndata_dir = "{settings["paths.data_dir"]}"\n')
    monkeypatch.delenv("PROXBALANCE_CONFIG", raising=False)
    assert main(["--config", str(cfg), "recommend", "--json"]) == 0
    run = json.loads(capsys.readouterr().out)
    assert run["recommendations"] and run["run_id"] >= 1
    assert main(["--config", str(cfg), "recommend", "--max-moves", "2"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("2 moves planned") or out.startswith("1 moves planned")
    assert "peak node load" in out


def test_health_details_only_for_key_holders(stack):
    settings, store = stack
    client = create_app(settings, store).test_client()
    anonymous = client.get("/api/health").get_json()["components"]["proxmox"]
    assert anonymous == {"status": "ok"}  # no host, port or version for anonymous callers
    key = create_key(store.engine, "reader", "read")[1]
    detailed = client.get("/api/health", headers={"X-API-Key": key}).get_json()["components"]["proxmox"]
    assert detailed["status"] == "ok" and str(settings["proxmox.port"]) in detailed["detail"]
