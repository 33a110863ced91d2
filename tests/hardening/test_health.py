"""/api/health tells the truth: degraded, with the reason, in each fault case."""

from __future__ import annotations

import pytest

from proxbalance.api import create_app
from proxbalance.collector import collect_once
from proxbalance.errors import UpstreamError
from proxbalance.sim import SimServer
from proxbalance.store import Store
from proxbalance.store.keys import create_key
from tests.collector.conftest import sim_settings


@pytest.fixture
def sim():
    server = SimServer(scenario="demo", seed=0, stepped=True).start()
    yield server
    server.stop()


@pytest.fixture
def stack(sim, tmp_path):
    settings = sim_settings(sim, tmp_path / "data")
    store = Store.open(settings)
    key = create_key(store.engine, "reader", "read")[1]
    client = create_app(settings, store, clock=sim.now).test_client()

    def health(keyed=True):
        return client.get("/api/health", headers={"X-API-Key": key} if keyed else {}).get_json()

    def collect():
        return collect_once(settings, store, now=sim.now())

    yield health, collect
    store.close()


def test_ok_after_a_clean_collection_and_degraded_before_any(stack):
    health, collect = stack
    before = health()
    assert before["status"] == "degraded" and "no_data" in before["reasons"]
    collect()
    h = health()
    assert h["status"] == "ok" and h["reasons"] == [], h
    assert h["components"]["cluster"]["status"] == "ok" and h["components"]["collection"]["status"] == "ok"


def test_quorum_lost(stack, sim):
    health, collect = stack
    sim.fault("quorum_loss")
    collect()
    h = health()
    assert h["status"] == "degraded" and "quorum_lost" in h["reasons"]
    assert "quorum lost" in h["components"]["cluster"]["detail"]
    anonymous = health(keyed=False)  # reasons are codes; names and details need a key
    assert anonymous["status"] == "degraded" and "quorum_lost" in anonymous["reasons"]
    assert "detail" not in anonymous["components"]["cluster"]


def test_nodes_offline(stack, sim):
    health, collect = stack
    names = node_names(sim)
    for n in names[:3]:
        sim.fault("node_offline", node=n)
    collect()
    h = health()
    assert h["status"] == "degraded" and "nodes_offline" in h["reasons"]
    assert h["components"]["cluster"]["offline_nodes"] == sorted(names[:3])


def test_node_unreachable(stack, sim):
    health, collect = stack
    names = node_names(sim)
    sim.fault("api_fault", node=names[1], status=595, error_rate=1, message="no route to host")
    collect()
    h = health()
    assert h["status"] == "degraded" and "nodes_unreachable" in h["reasons"]
    assert h["components"]["cluster"]["unreachable_nodes"] == [names[1]]


def test_stale_data(stack, sim):
    health, collect = stack
    collect()
    sim.advance(3 * 60 + 30)  # three collection intervals without a collection
    h = health()
    assert h["status"] == "degraded" and "data_stale" in h["reasons"]
    assert h["components"]["collection"]["status"] == "stale"


def test_failed_last_collection(stack, sim):
    health, collect = stack
    collect()
    sim.advance(60)
    sim.fault("api_fault", prefix="/cluster/resources", error_rate=1, status=500)
    with pytest.raises(UpstreamError):
        collect()
    h = health()
    assert h["status"] == "degraded" and "collection_failed" in h["reasons"]
    assert "last collection failed" in h["components"]["collection"]["detail"]
    sim.fault("api_clear")
    collect()
    assert health()["status"] == "ok"


def node_names(sim) -> list[str]:
    return sorted(n.name for n in sim.cluster.nodes)
