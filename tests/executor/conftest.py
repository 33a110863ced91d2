"""Fixtures: a stepped simulator (tests/sim/small.toml) over HTTPS, a real SQLite store, an ExecContext
whose clock is the simulator's and whose ``sleep`` advances simulated time (so following a migration takes
no wall time), and the Flask app wired to the same store."""

from __future__ import annotations

from pathlib import Path

import pytest

from proxbalance.collector import collect_once
from proxbalance.executor.context import ExecContext
from proxbalance.pve.client import PveClient
from proxbalance.sim import SimServer
from proxbalance.store import Store
from tests.collector.conftest import sim_settings

SMALL = str(Path(__file__).resolve().parent / "cluster.toml")
ADMIN_KEY = "pb-test-admin-key-000000000000000000"


def make_ctx(sim: SimServer, settings, store, step: float = 5.0) -> ExecContext:
    ctx = ExecContext(store=store, settings=settings, pve=PveClient(settings), clock=sim.now)
    ctx.sleep = lambda _s: sim.advance(step)
    return ctx


@pytest.fixture
def sim():
    server = SimServer(scenario=SMALL, seed=0, stepped=True).start()
    yield server
    server.stop()


@pytest.fixture
def settings(sim, tmp_path):
    return sim_settings(sim, tmp_path / "data", **{"executor.poll_interval_seconds": 0.01,
                                                   "auth.bootstrap_admin_key": ADMIN_KEY,
                                                   "ratelimit.enabled": False})


@pytest.fixture
def store(settings):
    s = Store.open(settings)
    yield s
    s.close()


@pytest.fixture
def collect(sim, settings, store):
    def run():
        return collect_once(settings, store, now=sim.now())
    run()
    return run


@pytest.fixture
def ctx(sim, settings, store, collect):
    return make_ctx(sim, settings, store)


@pytest.fixture
def app(sim, settings, store, collect):
    from proxbalance.api import create_app
    application = create_app(settings, store, clock=sim.now)
    application.config["TESTING"] = True
    return application


@pytest.fixture
def client(app):
    c = app.test_client()
    c.environ_base["HTTP_X_API_KEY"] = ADMIN_KEY
    return c


def sim_migration_tasks(sim: SimServer, vmid: int | None = None) -> list:
    """The witness: every qmigrate/vzmigrate task the simulator ran (optionally of one guest)."""
    return [t for t in sim.tasks.tasks.values() if t.type in ("qmigrate", "vzmigrate")
            and (vmid is None or t.id == str(vmid))]
