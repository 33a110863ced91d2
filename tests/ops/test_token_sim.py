"""Proxmox token management and permissions against the simulator (real HTTPS, proxmoxer, PVE shapes)."""

from __future__ import annotations

import json

import pytest
import requests

from proxbalance.api import create_app
from proxbalance.logsetup import log_path
from proxbalance.sim import SimServer
from proxbalance.store import Store
from proxbalance.store.keys import create_key
from tests.collector.conftest import sim_settings

OUR_TOKEN = "proxbalance@pve!pb"


def pve(sim, method, url, token=None, **data):
    """Call the sim's PVE API directly with a token (root's by default)."""
    return requests.request(method, f"{sim.api_url}{url}", data=data or None, verify=sim.ca_file, timeout=10,
                            headers={"Authorization": f"PVEAPIToken={token or sim.token}"})


@pytest.fixture(scope="module")
def sim():
    with SimServer(scenario="demo", seed=0, stepped=True) as server:
        yield server


@pytest.fixture
def env(sim, tmp_path):
    settings = sim_settings(sim, tmp_path / "data", **{"proxmox.token_id": OUR_TOKEN, "proxmox.token_secret": ""})
    store = Store.open(settings)
    app = create_app(settings, store)
    key = create_key(store.engine, "admin", "admin")[1]
    client = app.test_client()

    def call(method, path, **kw):
        return client.open(path, method=method, headers={"X-API-Key": key}, **kw)

    call.app, call.settings = app, settings
    yield call
    store.close()


def admin(sim):
    return {"username": "root@pam", "password": sim.password}


def test_sim_privsep_token_gets_intersection_of_user_and_token_acls(sim):
    assert pve(sim, "POST", "/access/users", userid="isect@pve").status_code == 200
    tok = pve(sim, "POST", "/access/users/isect@pve/token/tk", privsep=1).json()["data"]
    assert set(tok) == {"info", "value", "full-tokenid"} and tok["full-tokenid"] == "isect@pve!tk"
    assert pve(sim, "PUT", "/access/acl", path="/", roles="PVEAuditor", users="isect@pve").status_code == 200
    assert pve(sim, "PUT", "/access/acl", path="/", roles="PVEVMAdmin,PVEAuditor",
               tokens="isect@pve!tk").status_code == 200
    perms = pve(sim, "GET", "/access/permissions", token=f"isect@pve!tk={tok['value']}").json()["data"]
    assert "VM.Audit" in perms["/vms"]  # both grant it
    assert "VM.Migrate" not in perms["/vms"]  # the token's ACL has it, the user's does not
    # a token without privilege separation has exactly the user's privileges
    full = pve(sim, "POST", "/access/users/isect@pve/token/full", privsep=0).json()["data"]["value"]
    assert pve(sim, "GET", "/access/permissions", token=f"isect@pve!full={full}").json()["data"]["/vms"] == \
        perms["/vms"]
    again = pve(sim, "POST", "/access/users/isect@pve/token/tk")
    assert again.status_code == 400 and again.json()["errors"] == {"tokenid": "Token already exists."}
    listing = pve(sim, "GET", "/access/users/isect@pve/token").json()["data"]
    assert sorted(t["tokenid"] for t in listing) == ["full", "tk"]
    acl = pve(sim, "GET", "/access/acl").json()["data"]
    assert {"path": "/", "type": "token", "ugid": "isect@pve!tk", "roleid": "PVEVMAdmin", "propagate": 1} in acl


def test_create_check_grant_recreate_delete(sim, env):
    r = env("POST", "/api/system/recreate-token", json={"create_user": True, "admin": admin(sim)})
    assert r.status_code == 200, r.get_json()
    body = r.get_json()
    first = body["token_secret"]
    assert body["created"] is True and body["token_id"] == OUR_TOKEN
    assert pve(sim, "GET", "/version", token=f"{OUR_TOKEN}={first}").status_code == 200

    check = env("POST", "/api/system/token-permissions", json={"admin": admin(sim)}).get_json()
    assert check["token"]["privsep"] == 1 and check["allows"]["migrate"] is False
    grant = env("POST", "/api/system/token-permissions",
                json={"action": "grant", "mode": "full", "admin": admin(sim)}).get_json()
    assert grant["granted"] == ["PVEAuditor", "PVEVMAdmin", "PVESysAdmin"]
    assert grant["allows"] == {"read_only": True, "migrate": True, "ha": True, "tags": True}
    # the configured token, with the stored secret (configured host: allowed)
    valid = env("POST", "/api/validate-token", json={"token_id": OUR_TOKEN}).get_json()
    assert valid["valid"] is True and valid["allows"]["migrate"] is True and valid["version"]

    again = env("POST", "/api/system/recreate-token", json={"admin": admin(sim)}).get_json()
    second = again["token_secret"]
    assert again["created"] is False and second != first
    assert pve(sim, "GET", "/version", token=f"{OUR_TOKEN}={first}").status_code == 401  # old secret is dead
    assert pve(sim, "GET", "/version", token=f"{OUR_TOKEN}={second}").status_code == 200
    assert env("GET", "/api/permissions").get_json()["all_ok"] is False  # stop_tasks needs Sys.Modify
    assert env("GET", "/api/permissions").get_json()["features"][1]["available"] is True  # migrate
    assert env("GET", "/api/permissions").get_json()["allows"] == {"read_only": True, "migrate": True, "ha": True,
                                                                    "tags": True}

    # the secret is shown once: nowhere else
    seen = [env("GET", "/api/config").data, env("GET", "/api/config/export").data,
            env("POST", "/api/config/backup", json={}).data, env("GET", "/api/config/backups").data,
            env("GET", "/api/audit").data, env("GET", "/api/logs/download?lines=5000").data,
            log_path(env.settings).read_bytes()]
    for blob in seen:
        assert first.encode() not in blob and second.encode() not in blob
    assert b"regenerated Proxmox token" in seen[-1]  # the operation is logged, its secret is not

    gone = env("POST", "/api/system/delete-token", json={"admin": admin(sim)})
    assert gone.status_code == 200 and gone.get_json()["deleted"] is True
    assert pve(sim, "GET", "/version", token=f"{OUR_TOKEN}={second}").status_code == 401
    assert env("POST", "/api/system/delete-token", json={"admin": admin(sim)}).status_code == 409
    cfg = {s["name"]: s for s in env("GET", "/api/config").get_json()["settings"]}
    assert cfg["proxmox.token_secret"]["value"] == ""  # back to the (empty) base value


def test_validate_token_reports_missing_migrate(sim, env):
    pve(sim, "POST", "/access/users", userid="audit@pve")
    secret = pve(sim, "POST", "/access/users/audit@pve/token/ro", privsep=0).json()["data"]["value"]
    pve(sim, "PUT", "/access/acl", path="/", roles="PVEAuditor", users="audit@pve")
    r = env("POST", "/api/validate-token", json={"token_id": "audit@pve!ro", "token_secret": secret})
    body = r.get_json()
    assert r.status_code == 200 and body["valid"] is True
    assert body["allows"] == {"read_only": True, "migrate": False, "ha": False, "tags": False}
    assert "VM.Migrate on /vms" in body["missing_privileges"]
    assert "migrate" in body["missing_features"]
    assert secret not in json.dumps(body)
    # a wrong secret is a clear Proxmox auth error, not a crash
    bad = env("POST", "/api/validate-token", json={"token_id": "audit@pve!ro", "token_secret": "nope"})
    assert bad.status_code == 503 and bad.get_json()["error"]["code"] == "proxmox_auth_failed"


def test_stored_secret_never_goes_to_a_request_supplied_host(sim, env):
    r = env("POST", "/api/validate-token", json={"host": "10.255.255.1", "token_id": OUR_TOKEN})
    assert r.status_code == 400 and r.get_json()["error"]["details"]["field"] == "token_secret"
