"""Fixtures: a stepped simulator of tests/automation/cluster.toml, settings pointing at it, a store."""

from __future__ import annotations

import pytest

from proxbalance.sim import SimServer
from proxbalance.store import Store
from tests.automation.simfix import CLUSTER, LIVE
from tests.collector.conftest import sim_settings


@pytest.fixture
def sim():
    server = SimServer(scenario=CLUSTER, seed=0, stepped=True).start()
    yield server
    server.stop()


@pytest.fixture
def asettings(sim, tmp_path):
    return sim_settings(sim, tmp_path / "data", **LIVE)


@pytest.fixture
def astore(asettings):
    s = Store.open(asettings)
    yield s
    s.close()
