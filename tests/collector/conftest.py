"""Fixtures: a stepped simulator over HTTPS, settings pointing at it, a store, and a helper to collect."""

from __future__ import annotations

import pytest

from proxbalance.collector import collect_once
from proxbalance.config import load_settings
from proxbalance.sim import SimServer
from proxbalance.store import Store


def sim_settings(sim: SimServer, data_dir, **extra):
    return load_settings(env={}, overrides={
        **sim.connection_settings(), "proxmox.retries": 1,
        "proxmox.timeout": 5.0, "paths.data_dir": str(data_dir), "collection.backfill": False, **extra})


@pytest.fixture
def sim():
    server = SimServer(scenario="demo", seed=0, stepped=True).start()
    yield server
    server.stop()


@pytest.fixture
def settings(sim, tmp_path):
    return sim_settings(sim, tmp_path / "data")


@pytest.fixture
def store(settings):
    s = Store.open(settings)
    yield s
    s.close()


@pytest.fixture
def collect(sim, settings, store):
    """collect() runs one cycle at the simulator's current time."""
    def run(**kw):
        return collect_once(kw.pop("settings", settings), store, now=sim.now(), **kw)
    return run
