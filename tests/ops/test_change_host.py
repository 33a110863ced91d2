"""change-host: address rules, a PVE check before any credential is sent, a test with the current token."""

from __future__ import annotations

import ssl
import threading

import pytest
from werkzeug.serving import make_server
from werkzeug.wrappers import Request, Response

from proxbalance.api import create_app
from proxbalance.sim import SimServer
from proxbalance.sim.tls import make_cert
from proxbalance.store import Store
from proxbalance.store.keys import create_key
from tests.collector.conftest import sim_settings


@pytest.fixture(scope="module")
def sim():
    with SimServer(scenario="demo", seed=0, stepped=True) as server:
        yield server


@pytest.fixture
def not_pve(tmp_path):
    """An HTTPS server (cert signed like the sim's: same CA file trick) that is not a PVE API."""
    cert, key, _ = make_cert(tmp_path / "tls")
    seen: list[dict] = []

    @Request.application
    def app(request):
        seen.append(dict(request.headers))
        return Response('{"hello": "world"}', mimetype="application/json")

    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(cert, key)
    server = make_server("127.0.0.1", 0, app, ssl_context=ctx)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server.server_port, str(cert), seen
    server.shutdown()


def make_api(sim, tmp_path, **extra):
    settings = sim_settings(sim, tmp_path / "data", **extra)
    store = Store.open(settings)
    app = create_app(settings, store)
    key = create_key(store.engine, "admin", "admin")[1]
    client = app.test_client()

    def call(method, path, **kw):
        return client.open(path, method=method, headers={"X-API-Key": key}, **kw)
    return call


def error(r):
    return r.status_code, r.get_json()["error"]["code"], r.get_json()["error"]["message"]


def test_refuses_metadata_link_local_multicast(sim, tmp_path):
    api = make_api(sim, tmp_path, **{"proxmox.allowed_networks": ["127.0.0.0/8"]})
    status, code, msg = error(api("POST", "/api/system/change-host", json={"host": "169.254.169.254"}))
    assert (status, code) == (400, "host_not_allowed") and "metadata" in msg
    assert "link-local" in error(api("POST", "/api/system/change-host", json={"host": "169.254.10.1"}))[2]
    assert "multicast" in error(api("POST", "/api/system/change-host", json={"host": "224.0.0.1"}))[2]
    assert "link-local" in error(api("POST", "/api/system/change-host", json={"host": "fe80::1"}))[2]
    assert error(api("POST", "/api/system/change-host", json={"host": "a b;rm -rf"}))[0] == 400
    # through the generic config endpoint the host cannot change at all
    r = api("POST", "/api/config", json={"proxmox.host": "10.0.0.9"})
    assert r.status_code == 400 and "change-host" in r.get_json()["error"]["message"]


def test_refuses_localhost_outside_allow_rules(sim, tmp_path):
    api = make_api(sim, tmp_path, **{"proxmox.allowed_networks": ["10.0.0.0/8"]})
    status, code, msg = error(api("POST", "/api/system/change-host", json={"host": "localhost", "port": sim.port}))
    assert (status, code) == (400, "host_not_allowed") and "127.0.0.1" in msg
    default = make_api(sim, tmp_path / "b")  # no allow rules: loopback is refused too
    assert "loopback" in error(default("POST", "/api/system/change-host", json={"host": "localhost"}))[2]
    assert api("GET", "/api/config").get_json()["config"]["proxmox_host"] == sim.host  # unchanged


def test_refuses_a_host_that_is_not_pve_without_sending_the_token(sim, tmp_path, not_pve):
    port, ca_file, seen = not_pve
    api = make_api(sim, tmp_path, **{"proxmox.allowed_networks": ["127.0.0.0/8"], "proxmox.ca_file": ca_file})
    status, code, msg = error(api("POST", "/api/system/change-host", json={"host": "127.0.0.1", "port": port}))
    assert (status, code) == (400, "host_not_pve") and "not a Proxmox VE API" in msg
    assert seen and all("Authorization" not in h for h in seen)  # the token never left
    assert all(sim.token_value not in str(h) for h in seen)


def test_moves_to_another_name_of_the_cluster(sim, tmp_path):
    api = make_api(sim, tmp_path, **{"proxmox.allowed_networks": ["127.0.0.0/8"]})
    r = api("POST", "/api/system/change-host", json={"host": "localhost", "port": sim.port})
    assert r.status_code == 200, r.get_json()
    body = r.get_json()
    assert body["host"] == "localhost" and body["previous"]["host"] == "127.0.0.1" and body["version"]
    cfg = {s["name"]: s for s in api("GET", "/api/config").get_json()["settings"]}
    assert cfg["proxmox.host"]["value"] == "localhost" and cfg["proxmox.host"]["source"] == "api"
    assert api("POST", "/api/refresh").status_code == 200  # collection uses the new host
