"""Fixtures: one stepped simulator per test module, reached through proxmoxer over verified HTTPS."""

from __future__ import annotations

from pathlib import Path

import pytest
import requests
from proxmoxer import ProxmoxAPI

from proxbalance.sim import SimServer

SMALL = str(Path(__file__).resolve().parent / "small.toml")


def client(sim: SimServer) -> ProxmoxAPI:
    return ProxmoxAPI(sim.host, port=sim.port, user=sim.token_user, token_name=sim.token_name,
                      token_value=sim.token_value, verify_ssl=sim.ca_file, timeout=10)


def admin(sim: SimServer, method: str, path: str, **data) -> dict:
    r = requests.request(method, f"{sim.admin_url}/{path}", json=data or None, verify=sim.ca_file,
                         headers={"Authorization": f"PVEAPIToken={sim.token}"}, timeout=10)
    r.raise_for_status()
    return r.json()["data"]


@pytest.fixture(scope="module")
def small():
    with SimServer(scenario=SMALL, seed=0, stepped=True) as sim:
        yield sim


@pytest.fixture(scope="module")
def demo():
    with SimServer(scenario="demo", seed=0, stepped=True) as sim:
        yield sim
