"""restart-service and logs/download outside systemd: allow-list, a clear 409, the rotating log file, bounds."""

from __future__ import annotations

import logging

from proxbalance.api import create_app
from proxbalance.config import load_settings
from proxbalance.logsetup import log_path
from proxbalance.store import Store


def client(tmp_path, **extra):
    settings = load_settings(env={}, overrides={"paths.data_dir": str(tmp_path / "data"), "auth.enabled": False,
                                                **extra})
    return create_app(settings, Store.open(settings)).test_client(), settings


def test_restart_service_allow_list_and_not_systemd(tmp_path, monkeypatch):
    monkeypatch.delenv("INVOCATION_ID", raising=False)
    c, _ = client(tmp_path)
    r = c.post("/api/system/restart-service", json={"service": "proxmox-balance"})
    assert r.status_code == 409 and r.get_json()["error"]["code"] == "not_systemd"
    r = c.post("/api/system/restart-service", json={"service": "sshd.service"})
    assert r.status_code == 400 and "proxbalance.service" in r.get_json()["error"]["message"]
    assert c.post("/api/system/restart-service", json={"service": "x; reboot"}).status_code == 400


def test_logs_download_from_the_rotating_file(tmp_path, monkeypatch):
    monkeypatch.delenv("INVOCATION_ID", raising=False)
    c, settings = client(tmp_path, **{"logging.level": "WARNING"})
    log = logging.getLogger("proxbalance.test_logs")
    for i in range(30):
        log.warning("line %d", i)
    log.info("an info line below the level")
    r = c.get("/api/logs/download?service=proxmox-balance&lines=5")
    assert r.status_code == 200 and r.headers["X-Log-Source"] == "file"
    assert "attachment" in r.headers["Content-Disposition"]
    lines = r.data.decode().splitlines()
    assert len(lines) == 5 and lines[-1].endswith("line 29")
    assert "info line" not in log_path(settings).read_text()  # logging.level is applied to the file
    assert c.get("/api/logs/download?lines=999999").status_code == 400
    assert c.get("/api/logs/download?service=../../etc/shadow").status_code == 400
    # the level follows a change through the API
    c.post("/api/config", json={"logging.level": "DEBUG"})
    log.debug("now debug shows")
    assert "now debug shows" in c.get("/api/logs/download?lines=3").data.decode()
