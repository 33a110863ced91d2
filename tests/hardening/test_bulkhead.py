"""A slow Proxmox (30 s of injected latency) never starves /api/health, /metrics or store reads."""

from __future__ import annotations

import threading

import pytest
import requests

from proxbalance.api import create_app
from proxbalance.collector import collect_once
from proxbalance.sim import SimServer
from proxbalance.store import Store
from proxbalance.store.keys import create_key
from tests.collector.conftest import sim_settings
from tests.hardening.servers import serve, stop


@pytest.fixture
def sim():
    server = SimServer(scenario="demo", seed=0, stepped=True).start()
    yield server
    server.fault("api_clear")
    server.stop()


def test_slow_proxmox_does_not_starve_health_metrics_or_store_reads(sim, tmp_path):
    settings = sim_settings(sim, tmp_path / "data", **{"server.proxmox_wait_seconds": 2.0,
                                                       "server.proxmox_workers": 2, "metrics.public": True})
    store = Store.open(settings)
    collect_once(settings, store, now=sim.now())
    key = create_key(store.engine, "reader", "read")[1]
    app = create_app(settings, store, clock=sim.now)
    server, base = serve(app, threads=4)  # as few request threads as one gunicorn worker has
    h = {"X-API-Key": key}
    try:
        assert requests.get(f"{base}/api/health", timeout=5).status_code == 200  # first probe while PVE is fast
        sim.fault("api_fault", prefix="", latency_ms=30000)  # every PVE call now takes 30 s
        statuses: list[int] = []

        def slow_call():
            try:
                statuses.append(requests.get(f"{base}/api/permissions", headers=h, timeout=20).status_code)
            except requests.RequestException as exc:
                statuses.append(type(exc).__name__)

        callers = [threading.Thread(target=slow_call) for _ in range(8)]
        for t in callers:
            t.start()
        # while those are in flight: every one of these answers within a 5 s client timeout
        health = requests.get(f"{base}/api/health", headers=h, timeout=5)
        summary = requests.get(f"{base}/api/cluster-summary", headers=h, timeout=5)
        metrics = requests.get(f"{base}/metrics", timeout=5)
        for t in callers:
            t.join(30)
        assert health.status_code == 200 and summary.status_code == 200 and metrics.status_code == 200
        assert summary.json()["summary"]["node_count"] == 5
        # the PVE-bound calls were bounded: refused at once when the slots were busy, or 504 after the wait
        assert set(statuses) <= {503, 504}, statuses
        assert 503 in statuses and 504 in statuses
        body = requests.get(f"{base}/api/permissions", headers=h, timeout=5)
        assert body.status_code in (503, 504) and body.json()["error"]["code"] in ("proxmox_busy", "proxmox_timeout")
    finally:
        sim.fault("api_clear")
        stop(server)
        store.close()
