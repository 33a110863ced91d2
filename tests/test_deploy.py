"""The nginx and systemd files, checked with the real binaries (installed by .ci/run)."""

from __future__ import annotations

import os
import re
import shutil
import socket
import subprocess
import threading
import time
import urllib.request
from pathlib import Path

import pytest
from werkzeug.serving import make_server

from proxbalance.api import create_app

ROOT = Path(__file__).resolve().parents[1]
REQUIRED = os.environ.get("PROXBALANCE_REQUIRE_SYSTEM_TESTS") == "1"


def need(binary: str) -> str:
    path = shutil.which(binary) or (f"/usr/sbin/{binary}" if Path(f"/usr/sbin/{binary}").exists() else None)
    if path is None:
        if REQUIRED:
            pytest.fail(f"{binary} is required (PROXBALANCE_REQUIRE_SYSTEM_TESTS=1) but not installed")
        pytest.skip(f"{binary} not installed")
    return path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def nginx_config(tmp_path: Path, listen: int, app_port: int) -> Path:
    """The shipped site file, placed in a minimal top-level config with test ports and paths."""
    site = (ROOT / "nginx" / "proxbalance.conf").read_text()
    site = site.replace("listen 80;", f"listen 127.0.0.1:{listen};").replace("listen [::]:80;", "")
    site = site.replace("server 127.0.0.1:5000;", f"server 127.0.0.1:{app_port};")
    site = site.replace("root /opt/proxbalance/web;", f"root {ROOT / 'web'};")
    (tmp_path / "site.conf").write_text(site)
    user = "user root;" if os.geteuid() == 0 else ""
    main = f"""{user}
worker_processes 1;
pid {tmp_path}/nginx.pid;
error_log {tmp_path}/error.log;
events {{ worker_connections 64; }}
http {{
    include /etc/nginx/mime.types;
    access_log {tmp_path}/access.log;
    client_body_temp_path {tmp_path}/body;
    proxy_temp_path {tmp_path}/proxy;
    fastcgi_temp_path {tmp_path}/fastcgi;
    uwsgi_temp_path {tmp_path}/uwsgi;
    scgi_temp_path {tmp_path}/scgi;
    include {tmp_path}/site.conf;
}}
"""
    path = tmp_path / "nginx.conf"
    path.write_text(main)
    return path


def test_nginx_config_is_valid(tmp_path):
    nginx = need("nginx")
    conf = nginx_config(tmp_path, free_port(), free_port())
    result = subprocess.run([nginx, "-t", "-c", str(conf), "-p", str(tmp_path)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert "syntax is ok" in result.stderr


def test_request_through_nginx_reaches_the_app(tmp_path, settings, store, admin_key):
    nginx = need("nginx")
    app = create_app(settings.replace(server__behind_proxy=True), store)
    server = make_server("127.0.0.1", 0, app, threaded=True)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    listen = free_port()
    conf = nginx_config(tmp_path, listen, server.server_port)
    proc = subprocess.Popen([nginx, "-c", str(conf), "-p", str(tmp_path), "-g", "daemon off;"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        base = f"http://127.0.0.1:{listen}"
        deadline = time.time() + 10
        while True:
            try:
                resp = urllib.request.urlopen(f"{base}/api/health", timeout=2)
                break
            except OSError:
                if time.time() > deadline or proc.poll() is not None:
                    raise
                time.sleep(0.1)
        assert resp.status == 200 and b'"success":true' in resp.read()
        assert resp.headers["X-Content-Type-Options"] == "nosniff"
        assert resp.headers["X-Request-ID"]  # set by the app, passed through
        req = urllib.request.Request(f"{base}/api/keys", headers={"X-API-Key": admin_key})
        assert urllib.request.urlopen(req, timeout=5).status == 200
        index = urllib.request.urlopen(f"{base}/", timeout=5)
        assert b"ProxBalance" in index.read()  # static dashboard served by nginx itself
        req = urllib.request.Request(f"{base}/app.js", headers={"Accept-Encoding": "gzip"})
        assert urllib.request.urlopen(req, timeout=5).headers.get("Content-Encoding") == "gzip"
    finally:
        proc.terminate()
        proc.wait(timeout=10)
        server.shutdown()
    access = (tmp_path / "access.log").read_text()
    assert "GET /api/health" in access  # it really went through nginx


UNITS = sorted((ROOT / "systemd").glob("*.service")) + sorted((ROOT / "systemd").glob("*.timer"))


@pytest.mark.parametrize("unit", UNITS, ids=lambda p: p.name)
def test_systemd_unit_verifies(tmp_path, unit):
    analyze = need("systemd-analyze")
    venv_bin = Path(os.environ.get("VIRTUAL_ENV", ROOT / ".venv")) / "bin"
    for source in UNITS:  # a timer needs its service beside it
        text = source.read_text().replace("/opt/proxbalance/.venv/bin", str(venv_bin))
        text = text.replace("/opt/proxbalance", str(ROOT))
        (tmp_path / source.name).write_text(text)
    result = subprocess.run([analyze, "verify", "--man=no", str(tmp_path / unit.name)],
                            capture_output=True, text=True)
    problems = [line for line in (result.stderr + result.stdout).splitlines()
                if line.strip() and not re.search(r"Failed to (connect|create).*bus|/proc/|Read-only", line)]
    assert result.returncode == 0 and not problems, result.stderr


def test_service_runs_the_app_as_a_dedicated_user_on_localhost():
    text = (ROOT / "systemd" / "proxbalance.service").read_text()
    assert re.search(r"^User=proxbalance$", text, re.M)
    assert "--bind 127.0.0.1:" in text
    assert "proxbalance.api:create_app()" in text
    for option in ("NoNewPrivileges=yes", "ProtectSystem=strict", "PrivateTmp=yes"):
        assert option in text
