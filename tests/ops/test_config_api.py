"""Configuration API: sources, validated all-or-nothing updates, aliases, persistence, export/import/backup,
concurrency across processes, and secrets kept out of every answer and the log."""

from __future__ import annotations

import json
import multiprocessing
import re

import pytest

from proxbalance.api import create_app
from proxbalance.config import REDACTED, load_settings
from proxbalance.config_service import FILE_ONLY
from proxbalance.logsetup import log_path
from proxbalance.store import Store
from proxbalance.store.config_layer import revision

SECRET = "0b8e3c52-6f55-4e33-9c55-5ecre7-t0ken"
URL_SECRET = "discord://hook-id/s3cr3t-hook-token"
BOOTSTRAP = "pb_bootstrap-admin-key-for-tests"


def instance(tmp_path, name="a", toml="", env=None):
    """Settings from a real TOML file + env, a store and an app: one "installation"."""
    d = tmp_path / name
    d.mkdir(parents=True, exist_ok=True)
    cfg = d / "config.toml"
    cfg.write_text(f'[paths]\ndata_dir = "{d / "data"}"\n[auth]\nbootstrap_admin_key = "{BOOTSTRAP}"\n' + toml)
    settings = load_settings(cfg, env=env or {})
    store = Store.open(settings)
    app = create_app(settings, store)
    client = app.test_client()

    def call(method, path, **kw):
        return client.open(path, method=method, headers={"X-API-Key": BOOTSTRAP}, **kw)
    call.app, call.store, call.settings = app, store, settings
    return call


def by_name(api):
    return {s["name"]: s for s in api("GET", "/api/config").get_json()["settings"]}


def effective(api):
    return dict(api.app.extensions["proxbalance"].settings)


def test_sources_and_flat_aliases(tmp_path):
    api = instance(tmp_path, toml='[proxmox]\ntimeout = 7.5\n', env={"PROXBALANCE_PROXMOX_RETRIES": "4"})
    r = api("POST", "/api/config", json={"collection_interval_minutes": 120, "thresholds.cpu_percent": 55,
                                         "retention": {"raw_hours": 24}})
    assert r.status_code == 200, r.get_json()
    assert r.get_json()["restart_required"] == ["collection.interval_seconds"]
    cfg = by_name(api)
    assert cfg["collection.interval_seconds"]["value"] == 7200 and cfg["collection.interval_seconds"]["source"] == "api"
    assert cfg["collection.interval_seconds"]["base_source"] == "default"
    assert cfg["proxmox.timeout"]["source"] == "file" and cfg["proxmox.retries"]["source"] == "env"
    assert cfg["retention.raw_hours"]["value"] == 24
    assert api("GET", "/api/config").get_json()["config"]["collection_interval_minutes"] == 120
    # the API layer wins over the environment too (documented precedence)
    api("POST", "/api/config", json={"proxmox.retries": 1})
    retries = by_name(api)["proxmox.retries"]
    assert (retries["value"], retries["source"], retries["base_source"], retries["base_value"]) == (1, "api", "env", 4)
    # setting the base value again drops the API row: the file shows as the source again
    api("POST", "/api/config", json={"proxmox.timeout": 7.5})
    assert by_name(api)["proxmox.timeout"]["source"] == "file"


@pytest.mark.parametrize("body, field", [
    ({"collection_interval_minutes": 120, "proxmox.timeout": "soon"}, "proxmox.timeout"),
    ({"thresholds.cpu_percent": 50, "no.such_setting": 1}, "no.such_setting"),
    ({"thresholds.cpu_percent": 500}, "thresholds.cpu_percent"),
    ({"proxmox.token_id": "not-a-token-id"}, "proxmox.token_id"),
    ({"paths.data_dir": "/tmp/elsewhere"}, "paths.data_dir"),
    ({"updates.restart_command": ["sh", "-c", "id"]}, "updates.restart_command"),
    ({"proxmox.host": "10.1.1.1"}, "proxmox.host"),
])
def test_bad_update_changes_nothing(tmp_path, body, field):
    api = instance(tmp_path)
    before, rev = effective(api), revision(api.store.engine)
    r = api("POST", "/api/config", json=body)
    assert r.status_code == 400 and r.get_json()["error"]["details"]["field"] == field
    assert effective(api) == before and revision(api.store.engine) == rev


def test_persists_across_restart_and_workers(tmp_path):
    api = instance(tmp_path)
    api("POST", "/api/config", json={"logging.level": "DEBUG", "automation.max_migrations_per_run": 7})
    other = create_app(api.settings, Store.open(api.settings)).test_client()  # a second worker, same database
    cfg = {s["name"]: s for s in other.get("/api/config", headers={"X-API-Key": BOOTSTRAP}).get_json()["settings"]}
    assert cfg["automation.max_migrations_per_run"]["value"] == 7
    api("POST", "/api/config", json={"automation.max_migrations_per_run": 9})
    cfg = {s["name"]: s for s in other.get("/api/config", headers={"X-API-Key": BOOTSTRAP}).get_json()["settings"]}
    assert cfg["automation.max_migrations_per_run"]["value"] == 9  # seen on the next request
    import logging
    assert logging.getLogger("proxbalance").level == logging.DEBUG  # logging.level is applied


def test_export_import_round_trip_on_a_fresh_instance(tmp_path):
    a = instance(tmp_path, "a", toml='[proxmox]\ntimeout = 3.0\nca_file = "/etc/pve/pve-root-ca.pem"\n')
    r = a("POST", "/api/config", json={"collection_interval_minutes": 30, "notifications.events": ["evacuation_finished"],
                                   "penalty.preset": "aggressive", "proxmox.token_id": "pb@pve!pb",
                                   "proxmox.token_secret": SECRET, "automation.windows": ["22:00-06:00"]})
    assert r.status_code == 200, r.get_json()
    doc = json.loads(a("GET", "/api/config/export").data)
    assert doc["settings"]["proxmox.token_secret"] == REDACTED and "proxmox.token_secret" in doc["secrets_set"]
    b = instance(tmp_path, "b")
    r = b("POST", "/api/config/import", json=doc)
    assert r.status_code == 200, r.get_json()
    assert set(r.get_json()["skipped_file_only"]) <= set(FILE_ONLY)

    def comparable(api):
        return {k: v for k, v in effective(api).items() if k not in FILE_ONLY and k not in doc["secrets_set"]}
    assert comparable(a) == comparable(b)
    assert effective(b)["proxmox.token_secret"] == ""  # secrets do not travel in exports


def test_bad_import_changes_nothing(tmp_path):
    api = instance(tmp_path)
    doc = json.loads(api("GET", "/api/config/export").data)
    before, rev = effective(api), revision(api.store.engine)
    doc["settings"]["thresholds.cpu_percent"] = 42  # a good change...
    doc["settings"]["proxmox.port"] = 99999  # ...and a bad one: nothing of it may land
    r = api("POST", "/api/config/import", json=doc)
    assert r.status_code == 400 and r.get_json()["error"]["details"]["field"] == "proxmox.port"
    assert api("POST", "/api/config/import", json={"settings": {}}).status_code == 400  # not an export
    assert effective(api) == before and revision(api.store.engine) == rev


def test_backup_list_restore(tmp_path):
    api = instance(tmp_path)
    api("POST", "/api/config", json={"thresholds.mem_percent": 65})
    made = api("POST", "/api/config/backup", json={"note": "before tuning"})
    assert made.status_code == 201
    backup_id = made.get_json()["backup"]["id"]
    api("POST", "/api/config", json={"thresholds.mem_percent": 80})
    listed = api("GET", "/api/config/backups").get_json()["backups"]
    assert [b["note"] for b in listed] == ["before tuning"]
    r = api("POST", f"/api/config/backups/{backup_id}/restore")
    assert r.status_code == 200 and effective(api)["thresholds.mem_percent"] == 65
    assert api("POST", "/api/config/backups/999/restore").status_code == 404
    assert len(api("GET", "/api/config/backups").get_json()["backups"]) == 2  # the automatic pre-restore copy


def test_collection_settings_endpoint(tmp_path):
    api = instance(tmp_path)
    r = api("POST", "/api/settings/collection", json={"collection_interval_minutes": 5, "max_parallel": 4,
                                                      "backfill": False})
    assert r.status_code == 200, r.get_json()
    s = effective(api)
    assert (s["collection.interval_seconds"], s["proxmox.max_parallel"], s["collection.backfill"]) == (300, 4, False)
    assert api("POST", "/api/settings/collection", json={"interval_seconds": 1}).status_code == 400
    assert api("POST", "/api/settings/collection", json={"bogus": 1}).status_code == 400


def test_secrets_never_in_answers_exports_backups_or_log(tmp_path):
    api = instance(tmp_path)
    api("POST", "/api/config", json={"proxmox.token_id": "pb@pve!pb", "proxmox.token_secret": SECRET,
                                     "notifications.urls": [URL_SECRET], "proxmox.password": SECRET + "pw"})
    # a redacted value sent back keeps the secret
    r = api("POST", "/api/config", json={"proxmox.token_secret": REDACTED, "notifications.urls": [REDACTED]})
    assert r.get_json()["ignored_redacted"] == ["notifications.urls", "proxmox.token_secret"]
    assert effective(api)["proxmox.token_secret"] == SECRET and effective(api)["notifications.urls"] == [URL_SECRET]
    import logging
    logging.getLogger("proxbalance.test").warning("a careless message with %s and %s", SECRET, URL_SECRET)
    api("POST", "/api/config/backup", json={})
    blobs = [api("GET", "/api/config").data, api("GET", "/api/config/export").data,
             api("GET", "/api/config/backups").data, api("GET", "/api/audit").data,
             api("GET", "/api/logs/download?lines=5000").data, log_path(api.settings).read_bytes(),
             api("POST", "/api/config", json={"proxmox.token_secret": SECRET}).data]
    for blob in blobs:
        text = blob.decode()
        assert SECRET not in text and URL_SECRET not in text and "s3cr3t" not in text
    assert "careless message with ********" in log_path(api.settings).read_text()
    with api.store.engine.connect() as conn:  # backups in the store are redacted as well
        rows = conn.exec_driver_sql("SELECT document FROM config_backups").all()
    assert rows and all(SECRET not in r[0] for r in rows)


KEYS_A = ("retention.raw_hours", "retention.five_min_days", "retention.hourly_days", "retention.full_snapshots",
          "collection.config_refresh_cycles", "automation.min_confidence")
KEYS_B = ("ratelimit.read_per_minute", "ratelimit.write_per_minute", "proxmox.retries", "proxmox.max_parallel",
          "collection.backfill_parallel", "thresholds.cpu_percent")
ROUNDS = (3, 4)


def _poster(cfg: str, keys: tuple[str, ...], queue) -> None:
    settings = load_settings(cfg, env={})
    app = create_app(settings, Store.open(settings))
    client = app.test_client()
    codes = [client.post("/api/config", json={key: value}, headers={"X-API-Key": BOOTSTRAP}).status_code
             for value in ROUNDS for key in keys]
    queue.put(codes)


def test_concurrent_posts_from_two_processes_lose_no_update(tmp_path):
    """Two worker processes each change their own settings one POST at a time, interleaved: every change
    must survive (a read-modify-write outside one write transaction would drop some of them)."""
    api = instance(tmp_path)
    cfg = str(tmp_path / "a" / "config.toml")
    ctx = multiprocessing.get_context("fork")  # children build their own engine and app
    queue = ctx.Queue()
    procs = [ctx.Process(target=_poster, args=(cfg, keys, queue)) for keys in (KEYS_A, KEYS_B)]
    for p in procs:
        p.start()
    codes = [queue.get(timeout=120) for _ in procs]
    for p in procs:
        p.join(60)
    assert all(c == 200 for cs in codes for c in cs)
    posts = len(ROUNDS) * (len(KEYS_A) + len(KEYS_B))
    assert revision(api.store.engine) == posts
    final = effective(instance(tmp_path, "a"))
    assert {k: final[k] for k in KEYS_A + KEYS_B} == {k: ROUNDS[-1] for k in KEYS_A + KEYS_B}


def test_openapi_lists_the_config_routes(tmp_path):
    api = instance(tmp_path)
    paths = api("GET", "/api/openapi.json").get_json()["paths"]
    for p in ("/api/config", "/api/config/export", "/api/config/import", "/api/config/backup",
              "/api/settings/collection", "/api/system/change-host", "/api/logs/download"):
        assert p in paths
    assert re.search(r"branch-preview/\{branch\}", json.dumps(list(paths)))


def test_import_keeps_secrets_and_guards_the_host(tmp_path):
    a = instance(tmp_path, "a", toml='[proxmox]\nhost = "10.20.30.40"\n')
    doc = json.loads(a("GET", "/api/config/export").data)
    b = instance(tmp_path, "b", toml=f'[proxmox]\nhost = "10.9.9.9"\ntoken_id = "pb@pve!pb"\n'
                                     f'token_secret = "{SECRET}"\n')
    r = b("POST", "/api/config/import", json=doc)  # would send b's stored secret to a's host
    assert r.status_code == 400 and "change-host" in r.get_json()["error"]["message"]
    assert effective(b)["proxmox.host"] == "10.9.9.9"
    doc["settings"]["proxmox.host"] = "10.9.9.9"
    doc["settings"]["proxmox.token_secret"] = REDACTED
    assert b("POST", "/api/config/import", json=doc).status_code == 200
    assert effective(b)["proxmox.token_secret"] == SECRET  # a redacted secret never overwrites
    doc["settings"]["proxmox.host"] = "169.254.169.254"
    fresh = instance(tmp_path, "c")  # no secret stored: the host may change, but never to a metadata address
    r = fresh("POST", "/api/config/import", json=doc)
    assert r.status_code == 400 and r.get_json()["error"]["code"] == "host_not_allowed"
