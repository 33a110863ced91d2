"""End to end on the real stack: the simulator over HTTPS → collector → store → engine, the AI through the
official ollama client against a local Ollama-protocol server, moves validated live by the executor's
validate_move (PVE read through proxmoxer) plus the engine's checks."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from proxbalance.api import create_app
from proxbalance.collector import collect_once
from proxbalance.sim import SimServer
from proxbalance.store import Store
from proxbalance.store.keys import create_key
from proxbalance.store.snapshots import latest_snapshot
from tests.ai.fake_providers import FakeProvider
from tests.collector.conftest import sim_settings

SCENARIO = str(Path(__file__).resolve().parent / "cluster.toml")


@pytest.fixture(scope="module")
def stack(tmp_path_factory):
    with SimServer(scenario=SCENARIO, seed=0, stepped=True) as sim, FakeProvider("ollama") as fake:
        settings = sim_settings(sim, tmp_path_factory.mktemp("ai") / "data", **{
            "ai.enabled": True, "ai.provider": "ollama", "ai.ollama_host": fake.base_url,
            "ai.ollama_model": "llama3.1:latest", "ai.max_retries": 0, "ai.timeout_seconds": 10.0})
        store = Store.open(settings)
        collect_once(settings, store, now=sim.now())
        key = create_key(store.engine, "admin", "admin")[1]
        yield {"sim": sim, "fake": fake, "settings": settings, "store": store, "key": key,
               "snap": latest_snapshot(store.engine)}
        store.close()


def _client(stack, **settings):
    app = create_app(stack["settings"].replace(**settings), stack["store"], clock=stack["sim"].now)
    return app.test_client()


def _move(vmid, source, target):
    return {"vmid": vmid, "source_node": source, "target_node": target, "priority": "medium",
            "reasoning": f"move {vmid}", "risk_score": 0.3, "estimated_impact": "evens CPU", "best_time": "now"}


def _free_target(snap, vmid):
    """A node other than the guest's own that runs no exclude_db member."""
    g = snap.guest(vmid)
    busy = {x.node for x in snap.guests if "exclude_db" in x.tags}
    return next(n.name for n in snap.nodes if n.name != g.node and n.name not in busy and n.online)


def test_contract_example_with_live_validation(stack):
    snap, fake = stack["snap"], stack["fake"]
    db_a, db_b = snap.guest(902), snap.guest(903)
    target = _free_target(snap, 902)
    fake.answer = {"analysis": "db-a and db-b share pve1.", "predicted_issues": [], "recommendations": [
        _move(902, db_a.node, target),
        _move(903, db_b.node, target),  # fine alone, but db-a is now on target: anti-affinity
        _move(99999, "pve1", target),  # hallucinated
        _move(904, snap.guest(904).node, target),  # pinned
    ]}
    resp = _client(stack).post("/api/ai-recommendations", json={"cpu_threshold": 60, "mem_threshold": 70},
                               headers={"X-API-Key": stack["key"]})
    body = resp.get_json()
    assert resp.status_code == 200, body
    assert body["success"] is True and {"analysis", "recommendations", "predicted_issues"} <= set(body)
    assert body["validation"] == {"source": "executor", "note": None}
    [rec] = body["recommendations"]
    assert (rec["vmid"], rec["name"], rec["source_node"], rec["target_node"]) == (902, "db-a", db_a.node, target)
    names = [c["name"] for c in rec["validation"]["checks"]]
    assert {"staleness", "guest_state", "resources", "storage", "locks", "affinity", "quorum"} <= set(names)
    assert "engine:anti_affinity_strict" in names and rec["validation"]["source"] == "executor"
    assert rec["engine"]["comparison"] in ("same_as_engine", "engine_moves_elsewhere", "engine_does_not_move")
    dropped = {d["vmid"]: d for d in body["dropped"]}
    assert dropped[903]["reason"] == "engine:anti_affinity_strict" and "902" in dropped[903]["detail"]
    assert dropped[99999]["reason"] == "unknown_vmid"
    assert 904 in dropped and dropped[904]["checks"]  # pinned: refused by a check, with the checks listed
    # the prompt carried the real snapshot: every node, and the engine's plan
    sent = json.loads(fake.requests[-1]["body"]["messages"][1]["content"].splitlines()[1])
    assert {n["name"] for n in sent["nodes"]} == {n.name for n in snap.nodes}
    assert "exclude_db" in sent["constraints"]["anti_affinity"]


def test_recommendations_carry_the_ai_insight(stack):
    snap, fake = stack["snap"], stack["fake"]
    fake.answer = {"analysis": "Looks fine.", "predicted_issues": [],
                   "recommendations": [_move(902, snap.guest(902).node, _free_target(snap, 902))]}
    client = _client(stack, ai__attach_to_recommendations=True)
    resp = client.post("/api/recommendations", json={}, headers={"X-API-Key": stack["key"]})
    body = resp.get_json()
    assert resp.status_code == 200, body
    assert "recommendations" in body and "batch_impact" in body  # the engine's answer, unchanged
    assert body["ai_enhanced"] is True and body["ai_insight"]["analysis"] == "Looks fine."
    assert [r["vmid"] for r in body["ai_insight"]["recommendations"]] == [902]
    # an AI failure never fails the engine's answer
    fake.script = [{"status": 500, "json": {"error": "boom"}}]
    body = client.post("/api/recommendations", json={}, headers={"X-API-Key": stack["key"]}).get_json()
    assert body["success"] is True and body["ai_enhanced"] is False
    assert body["ai_error"]["code"] == "ai_unavailable" and body["recommendations"] is not None
    # off by default: nothing attached
    body = _client(stack).post("/api/recommendations", json={}, headers={"X-API-Key": stack["key"]}).get_json()
    assert "ai_enhanced" not in body and "ai_insight" not in body


def test_anonymized_names_never_reach_the_provider(stack):
    snap, fake = stack["snap"], stack["fake"]
    fake.answer = {"analysis": "guest-902 is db heavy", "predicted_issues": [],
                   "recommendations": [_move(902, snap.guest(902).node, _free_target(snap, 902))]}
    resp = _client(stack, ai__anonymize_names=True).post("/api/ai-recommendations", json={},
                                                         headers={"X-API-Key": stack["key"]})
    body = resp.get_json()
    assert resp.status_code == 200, body
    sent = json.dumps(fake.requests[-1]["body"])
    for g in snap.guests:
        if len(g.name) > 3:
            assert f'\\"{g.name}\\"' not in sent, g.name
    assert "exclude_db" not in sent  # group names are placeholders too
    assert body["analysis"] == "db-a is db heavy" and body["recommendations"][0]["name"] == "db-a"


def test_maintenance_nodes_parameter(stack):
    snap, fake = stack["snap"], stack["fake"]
    target = _free_target(snap, 902)
    fake.answer = {"analysis": "x", "predicted_issues": [],
                   "recommendations": [_move(902, snap.guest(902).node, target)]}
    resp = _client(stack).post("/api/ai-recommendations", json={"maintenance_nodes": [target]},
                               headers={"X-API-Key": stack["key"]})
    body = resp.get_json()
    assert resp.status_code == 200, body
    assert body["recommendations"] == [] and body["dropped"][0]["vmid"] == 902
    sent = json.loads(fake.requests[-1]["body"]["messages"][1]["content"].splitlines()[1])
    assert sent["constraints"]["maintenance_nodes"] == [target]
