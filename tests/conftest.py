"""Shared fixtures: settings on a temporary data directory, a migrated store, the app and API keys."""

from __future__ import annotations

import pytest
from hypothesis import settings as hyp_settings

from proxbalance.api import create_app
from proxbalance.config import load_settings
from proxbalance.store import Store
from proxbalance.store.keys import create_key

# Hypothesis is derandomised everywhere (CI and local runs draw the same examples, no example database), so a
# test that catches a bug catches it on every run; a test's own @settings(max_examples=...) sets how many.
hyp_settings.register_profile("derandomized", derandomize=True, database=None, deadline=None,
                              print_blob=True)
hyp_settings.load_profile("derandomized")


@pytest.fixture
def settings(tmp_path):
    return load_settings(env={}, overrides={"paths.data_dir": str(tmp_path / "data")})


@pytest.fixture
def store(settings):
    store = Store.open(settings)
    yield store
    store.close()


@pytest.fixture
def app(settings, store):
    return create_app(settings, store)


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def admin_key(store):
    return create_key(store.engine, "test-admin", "admin")[1]


@pytest.fixture
def read_key(store):
    return create_key(store.engine, "test-read", "read")[1]


@pytest.fixture
def hot_pve1_store(store):
    """``store`` holding one snapshot: 8 busy 4-core guests on pve1 (16 cores), an idle pve2; a decision on
    it recommends moves."""
    from proxbalance.model import ClusterSnapshot, Guest, Node
    from proxbalance.store.snapshots import save_snapshot

    gib = 1024**3
    guests = tuple(Guest(vmid=100 + i, name=f"vm{i}", type="qemu", node="pve1", status="running", maxcpu=4,
                         cpu=0.9, maxmem=6 * gib, mem=6 * gib) for i in range(8))
    nodes = (Node(name="pve1", online=True, maxcpu=16, cpu=1.0, maxmem=64 * gib, mem=50 * gib),
             Node(name="pve2", online=True, maxcpu=16, cpu=0.0, maxmem=64 * gib, mem=2 * gib))
    with store.engine.begin() as conn:
        save_snapshot(conn, ClusterSnapshot(time=1_800_000_000.0, nodes=nodes, guests=guests))
    return store
