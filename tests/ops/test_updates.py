"""Updates against a real git repository: a bare repo as the remote, a clone as the install, and a fake
"service" that is really started (a subprocess serving /api/health with the checkout's VERSION file).

The restart command is ``python restart.py``: it stops the running service (pid file) and starts the one in
the checkout. A commit whose service cannot start fails the health check and must be rolled back.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from proxbalance.api import create_app
from proxbalance.config import load_settings
from proxbalance.store import Store

SERVICE = textwrap.dedent('''
    import json, sys
    from http.server import BaseHTTPRequestHandler, HTTPServer
    from pathlib import Path
    here = Path(__file__).resolve().parent
    version = (here / "VERSION").read_text().strip()
    if version.startswith("broken"):
        sys.exit("this version does not start")
    class H(BaseHTTPRequestHandler):
        def do_GET(self):
            body = json.dumps({"success": True, "status": "ok", "version": version}).encode()
            self.send_response(200); self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body))); self.end_headers(); self.wfile.write(body)
        def log_message(self, *a): pass
    HTTPServer(("127.0.0.1", int(sys.argv[1])), H).serve_forever()
''')

RESTART = textwrap.dedent('''
    import os, signal, subprocess, sys, time
    install, pidfile, port = sys.argv[1], sys.argv[2], sys.argv[3]
    try:
        os.kill(int(open(pidfile).read()), signal.SIGTERM); time.sleep(0.2)
    except (OSError, ValueError):
        pass
    proc = subprocess.Popen([sys.executable, os.path.join(install, "service.py"), port], start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    open(pidfile, "w").write(str(proc.pid))
''')


def git(cwd, *args):
    return subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True, text=True).stdout.strip()


def commit(repo: Path, version: str, message: str) -> str:
    (repo / "VERSION").write_text(version + "\n")
    git(repo, "add", "-A")
    git(repo, "-c", "user.name=t", "-c", "user.email=t@example.invalid", "commit", "-qm", message)
    return git(repo, "rev-parse", "HEAD")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def world(tmp_path):
    remote, seed, install = tmp_path / "remote.git", tmp_path / "seed", tmp_path / "install"
    git(tmp_path, "init", "-q", "--bare", "-b", "main", str(remote))
    git(tmp_path, "clone", "-q", str(remote), str(seed))
    git(seed, "checkout", "-q", "-b", "main")
    (seed / "service.py").write_text(SERVICE)
    (tmp_path / "restart.py").write_text(RESTART)
    v1 = commit(seed, "1.0", "v1")
    git(seed, "push", "-q", "origin", "main")
    git(tmp_path, "clone", "-q", "-b", "main", str(remote), str(install))
    port, pidfile = free_port(), tmp_path / "service.pid"
    settings = load_settings(env={}, overrides={
        "paths.data_dir": str(tmp_path / "data"), "auth.enabled": False, "updates.install_dir": str(install),
        "updates.pip_install": False, "updates.health_timeout_seconds": 3.0,
        "updates.health_url": f"http://127.0.0.1:{port}/api/health",
        "updates.restart_command": [sys.executable, str(tmp_path / "restart.py"), str(install), str(pidfile),
                                    str(port)]})
    subprocess.run(settings["updates.restart_command"], check=True)  # the service runs v1
    store = Store.open(settings)
    client = create_app(settings, store).test_client()
    yield {"seed": seed, "install": install, "client": client, "v1": v1, "settings": settings, "store": store}
    try:
        os.kill(int(pidfile.read_text()), signal.SIGTERM)
    except (OSError, ValueError):
        pass


def running_version(settings) -> str:
    import requests
    return requests.get(settings["updates.health_url"], timeout=5).json()["version"]


def test_check_preview_update_rollback_switch(world):
    c, seed, install, settings = world["client"], world["seed"], world["install"], world["settings"]
    info = c.get("/api/system/info").get_json()
    assert info["install_method"] == "git" and info["commit"] == world["v1"] and info["branch"] == "main"
    assert c.get("/api/system/check-update").get_json()["update_available"] is False

    v2 = commit(seed, "2.0", "v2: a good release")
    git(seed, "push", "-q", "origin", "main")
    check = c.get("/api/system/check-update").get_json()
    assert check["update_available"] is True and check["behind"] == 1 and check["commits"][0]["commit"] == v2
    preview = c.get("/api/system/branch-preview/main").get_json()
    assert [f["path"] for f in preview["files_changed"]] == ["VERSION"] and preview["commits"][0]["subject"] == \
        "v2: a good release"

    done = c.post("/api/system/update").get_json()
    assert done["result"] == "updated" and done["commit"] == v2, done
    assert [s["step"] for s in done["steps"]] == ["start", "checkout", "pip_install", "restart", "health_check"]
    assert running_version(settings) == "2.0"

    commit(seed, "broken-3.0", "v3: does not start")
    git(seed, "push", "-q", "origin", "main")
    bad = c.post("/api/system/update").get_json()
    assert bad["result"] == "rolled_back", bad
    failed = [s for s in bad["steps"] if not s["ok"]]
    assert [s["step"] for s in failed] == ["health_check"]
    assert git(install, "rev-parse", "HEAD") == v2 and running_version(settings) == "2.0"  # old version runs
    assert c.get("/api/system/info").get_json()["last_update"]["result"] == "rolled_back"

    git(seed, "checkout", "-q", "-b", "feature", v2)
    v4 = commit(seed, "4.0-feature", "v4 on a feature branch")
    git(seed, "push", "-q", "origin", "feature")
    names = [b["name"] for b in c.get("/api/system/branches").get_json()["branches"]]
    assert names == ["feature", "main"]
    switched = c.post("/api/system/switch-branch", json={"branch": "feature"}).get_json()
    assert switched["result"] == "updated" and switched["branch"] == "feature" and switched["commit"] == v4
    assert running_version(settings) == "4.0-feature"
    back = c.post("/api/system/rollback-branch").get_json()
    assert back["result"] == "updated" and back["branch"] == "main" and back["commit"] == v2
    assert running_version(settings) == "2.0" and git(install, "rev-parse", "--abbrev-ref", "HEAD") == "main"


@pytest.mark.parametrize("name", ["../etc", "-rf", "a..b", "x.lock", "with space", "feature/", "$(id)", "a@{1}"])
def test_branch_names_are_validated(world, name):
    c = world["client"]
    r = c.post("/api/system/switch-branch", json={"branch": name})
    assert r.status_code == 400 and r.get_json()["error"]["details"]["field"] == "branch"


def test_unknown_branch_and_dirty_checkout(world):
    c, install = world["client"], world["install"]
    assert c.get("/api/system/branch-preview/nope").status_code == 404
    (install / "VERSION").write_text("local edit\n")
    git(world["seed"], "push", "-q", "origin", "main")
    commit(world["seed"], "2.0", "v2")
    git(world["seed"], "push", "-q", "origin", "main")
    r = c.post("/api/system/update")
    assert r.status_code == 409 and r.get_json()["error"]["code"] == "checkout_dirty"


def test_pip_install_answers_clearly(tmp_path):
    settings = load_settings(env={}, overrides={"paths.data_dir": str(tmp_path / "data"), "auth.enabled": False,
                                                "updates.install_dir": str(tmp_path / "site-packages")})
    c = create_app(settings, Store.open(settings)).test_client()
    info = c.get("/api/system/info").get_json()
    assert info["install_method"] == "pip" and info["version"] and "pip install" in info["update_instructions"]
    for r in (c.get("/api/system/check-update"), c.post("/api/system/update"), c.get("/api/system/branches")):
        assert r.status_code == 409 and r.get_json()["error"]["code"] == "not_a_git_install"
        assert "pip" in r.get_json()["error"]["message"]


def test_one_update_at_a_time(world):
    from proxbalance.store.leases import acquire, release
    from proxbalance.updates import UPDATE_LEASE, update_lock

    commit(world["seed"], "2.0", "v2")
    git(world["seed"], "push", "-q", "origin", "main")
    c, engine = world["client"], world["store"].engine
    assert acquire(engine, UPDATE_LEASE, "another-host", 60)  # another host sharing the database updates
    r = c.post("/api/system/update")
    assert r.status_code == 409 and "ops.update" in r.get_json()["error"]["message"]
    release(engine, UPDATE_LEASE, "another-host")
    with update_lock(world["settings"]):  # another process on this host updates the same checkout
        r = c.post("/api/system/update")
        assert r.status_code == 409 and r.get_json()["error"]["code"] == "update_running"
    assert c.post("/api/system/update").get_json()["result"] == "updated"
