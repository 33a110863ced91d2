"""Two collections started at once (two CLI processes, or the API while another host collects): one runs."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from sqlalchemy import func, select

from proxbalance.collector import LEASE_NAME, collect_once
from proxbalance.errors import ConflictError
from proxbalance.sim import SimServer
from proxbalance.store import Store, leases
from proxbalance.store.inventory import get_state
from proxbalance.store.schema import snapshots
from tests.collector.conftest import sim_settings

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def sim():
    server = SimServer(scenario="demo", seed=0, stepped=True).start()
    yield server
    server.stop()


def _cli_env(sim, tmp_path) -> dict:
    (tmp_path / "none.toml").write_text("")
    return {**os.environ, "PROXBALANCE_PROXMOX_HOST": sim.host, "PROXBALANCE_PROXMOX_PORT": str(sim.port),
            "PROXBALANCE_PROXMOX_TOKEN_ID": sim.token_id, "PROXBALANCE_PROXMOX_TOKEN_SECRET": sim.token_value,
            "PROXBALANCE_PROXMOX_CA_FILE": sim.ca_file, "PROXBALANCE_PROXMOX_RETRIES": "0",
            "PROXBALANCE_PATHS_DATA_DIR": str(tmp_path / "data"), "PROXBALANCE_CONFIG": str(tmp_path / "none.toml")}


def test_two_collect_processes_at_once_one_runs_one_is_skipped(sim, tmp_path):
    env = _cli_env(sim, tmp_path)
    Store.open(sim_settings(sim, tmp_path / "data")).close()  # migrate once, so both start on the cycle itself
    sim.fault("api_fault", prefix="/cluster/resources", latency_ms=2500)  # the first holds the lease for 2.5 s
    cmd = [sys.executable, "-c", "import sys; from proxbalance.cli import main; sys.exit(main(sys.argv[1:]))",
           "collect", "--no-backfill"]
    procs = [subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
             for _ in range(2)]
    outs = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], outs
    ran = [o for o, _ in outs if o.startswith("snapshot 1:")]
    skipped = [e for _, e in outs if "a collection is already running" in e and "skipped" in e]
    assert len(ran) == 1 and len(skipped) == 1, outs
    store = Store.open(sim_settings(sim, tmp_path / "data"))
    try:
        with store.engine.connect() as conn:
            assert conn.execute(select(func.count()).select_from(snapshots)).scalar_one() == 1
            assert get_state(conn, "cycle") == 1
        assert leases.current(store.engine, LEASE_NAME) is None  # released after the cycle
    finally:
        store.close()


def test_collection_is_refused_while_another_host_holds_the_lease(sim, tmp_path):
    settings = sim_settings(sim, tmp_path / "data")
    store = Store.open(settings)
    try:
        assert leases.acquire(store.engine, LEASE_NAME, "otherhost:1:2:abc", 60)
        with pytest.raises(ConflictError) as err:
            collect_once(settings, store, now=sim.now())
        assert "otherhost:1:2:abc" in err.value.message and err.value.details["lease"] == LEASE_NAME
        with store.engine.connect() as conn:
            assert conn.execute(select(func.count()).select_from(snapshots)).scalar_one() == 0
        leases.release(store.engine, LEASE_NAME, "otherhost:1:2:abc")
        assert collect_once(settings, store, now=sim.now()).snapshot_id == 1
    finally:
        store.close()
