"""Update, switch branch and roll back a git install: one at a time, every step logged, automatic rollback.

A run: take the locks (a file lock in ``<data_dir>/updates`` for this checkout, and the ``ops.update`` lease
in the database when one is given, so hosts sharing a database update one at a time; a second run gets 409) -> refuse a dirty
checkout -> ``git fetch`` -> move the checkout (fast-forward for an update, ``checkout -B`` for a branch
switch, the recorded previous commit for a rollback) -> ``pip install`` the checkout (``updates.pip_install``)
-> run ``updates.restart_command`` (an argv list) -> poll ``updates.health_url`` until it answers 200 with
``success`` true, for at most ``updates.health_timeout_seconds``. When pip, the restart or the health check
fails, the checkout goes back to the commit (and branch) it had, pip and the restart run again, and the run
reports ``rolled_back``. Each run is appended to ``<data_dir>/updates/history.json``; steps go to the log.
"""

from __future__ import annotations

import fcntl
import json
import logging
import subprocess
import sys
import time
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import Any

import requests
from sqlalchemy import Engine

from proxbalance.config import Settings
from proxbalance.errors import ConflictError, ValidationError
from proxbalance.updates_git import (
    Checkout,
    check_branch,
    dirty,
    fetch,
    git,
    head,
    remote_ref,
    require_checkout,
)

log = logging.getLogger(__name__)
HISTORY_KEEP = 50
PIP_TIMEOUT = 900.0
RESTART_TIMEOUT = 120.0


def _dir(settings: Settings) -> Path:
    d = settings.data_dir / "updates"
    d.mkdir(parents=True, exist_ok=True)
    return d


@contextmanager
def update_lock(settings: Settings):
    """One update at a time across processes (flock on a file in the data directory)."""
    path = _dir(settings) / "update.lock"
    with path.open("a+") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise ConflictError("another update is running", code="update_running") from None
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def history(settings: Settings) -> list[dict[str, Any]]:
    path = _dir(settings) / "history.json"
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return []


def _record(settings: Settings, entry: dict[str, Any]) -> None:
    items = (history(settings) + [entry])[-HISTORY_KEEP:]
    path = _dir(settings) / "history.json"
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(items, indent=1))
    tmp.replace(path)


class Run:
    """One update run's step log."""

    def __init__(self, action: str):
        self.action = action
        self.steps: list[dict[str, Any]] = []

    def step(self, name: str, ok: bool = True, **detail: Any) -> None:
        self.steps.append({"step": name, "ok": ok, "time": round(time.time(), 3), **detail})
        (log.info if ok else log.warning)("update %s: %s %s %s", self.action, name, "ok" if ok else "FAILED",
                                          json.dumps(detail, default=str)[:500] if detail else "")


def _pip(settings: Settings, co: Checkout, run: Run) -> bool:
    if not settings["updates.pip_install"]:
        run.step("pip_install", skipped=True)
        return True
    proc = subprocess.run([sys.executable, "-m", "pip", "install", "--quiet", "--disable-pip-version-check",
                           str(co.path)], capture_output=True, text=True, timeout=PIP_TIMEOUT, check=False)
    run.step("pip_install", proc.returncode == 0, returncode=proc.returncode, stderr=proc.stderr[-400:])
    return proc.returncode == 0


def _restart(settings: Settings, run: Run) -> bool:
    argv = list(settings["updates.restart_command"])
    if not argv:
        run.step("restart", skipped=True)
        return True
    try:
        proc = subprocess.run(argv, capture_output=True, text=True, timeout=RESTART_TIMEOUT, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        run.step("restart", False, error=type(exc).__name__)
        return False
    run.step("restart", proc.returncode == 0, returncode=proc.returncode, stderr=proc.stderr[-400:])
    return proc.returncode == 0


def health_check(settings: Settings, run: Run | None = None, timeout: float | None = None) -> bool:
    """Poll the health URL until it answers 200 with ``success`` true, or the timeout passes."""
    url = settings["updates.health_url"]
    deadline = time.monotonic() + (timeout if timeout is not None else settings["updates.health_timeout_seconds"])
    last = ""
    while True:
        try:
            resp = requests.get(url, timeout=5)
            body = resp.json() if resp.headers.get("Content-Type", "").startswith("application/json") else {}
            if resp.status_code == 200 and body.get("success") is True:
                if run:
                    run.step("health_check", url=url, status=body.get("status"), version=body.get("version"))
                return True
            last = f"HTTP {resp.status_code}"
        except (requests.RequestException, ValueError) as exc:
            last = type(exc).__name__
        if time.monotonic() >= deadline:
            if run:
                run.step("health_check", False, url=url, last=last)
            return False
        time.sleep(0.5)


def _deploy(settings: Settings, co: Checkout, run: Run) -> bool:
    return _pip(settings, co, run) and _restart(settings, run) and health_check(settings, run)


def _move(co: Checkout, sha: str, branch: str) -> None:
    if branch:
        git(co.path, "checkout", "--quiet", "-B", branch, sha)
    else:
        git(co.path, "checkout", "--quiet", "--detach", sha)


UPDATE_LEASE = "ops.update"
LEASE_TTL = 300.0  # seconds; renewed in the background while the run lasts


def _transaction(settings: Settings, action: str, target: str, target_branch: str,
                 engine: Engine | None = None) -> dict[str, Any]:
    from proxbalance.store.leases import holding

    co = require_checkout(settings)
    run = Run(action)
    with update_lock(settings), (holding(engine, UPDATE_LEASE, LEASE_TTL) if engine is not None else nullcontext()):
        if dirty(co):
            raise ConflictError(f"the checkout {co.path} has local changes: commit or discard them first",
                                code="checkout_dirty")
        old_sha, old_branch = head(co)
        run.step("start", from_commit=old_sha, from_branch=old_branch, to=target, to_branch=target_branch)
        if target == old_sha and target_branch == old_branch:
            run.step("nothing_to_do")
            return {"result": "up_to_date", "commit": old_sha, "branch": old_branch, "steps": run.steps}
        _move(co, target, target_branch)
        new_sha = head(co)[0]
        run.step("checkout", commit=new_sha, branch=target_branch)
        if _deploy(settings, co, run):
            result = "updated"
        else:
            _move(co, old_sha, old_branch)
            run.step("rollback_checkout", commit=old_sha, branch=old_branch)
            ok = _deploy(settings, co, run)
            result = "rolled_back" if ok else "rollback_failed"
        final_sha, final_branch = head(co)
        entry = {"action": action, "result": result, "time": time.time(), "from_commit": old_sha,
                 "from_branch": old_branch, "to_commit": new_sha, "to_branch": target_branch,
                 "commit": final_sha, "branch": final_branch}
        _record(settings, entry)
        log.info("update %s finished: %s (now %s on %s)", action, result, final_sha[:10], final_branch or "-")
        return {**entry, "steps": run.steps}


def update(settings: Settings, engine: Engine | None = None) -> dict[str, Any]:
    """Fast-forward the current branch to its remote; deploy; roll back on failure."""
    co = require_checkout(settings)
    fetch(co)
    _, branch = head(co)
    if not branch:
        raise ConflictError("the checkout is on a detached HEAD: switch to a branch first", code="detached_head")
    ref = remote_ref(co, branch)
    if subprocess.run(["git", "merge-base", "--is-ancestor", "HEAD", ref], cwd=str(co.path),
                      capture_output=True, check=False).returncode != 0:
        raise ConflictError(f"{branch} has diverged from {ref}: cannot fast-forward", code="diverged")
    return _transaction(settings, "update", git(co.path, "rev-parse", ref), branch, engine)


def switch_branch(settings: Settings, branch: str, engine: Engine | None = None) -> dict[str, Any]:
    co = require_checkout(settings)
    check_branch(co.path, branch)
    fetch(co)
    ref = remote_ref(co, branch)
    return _transaction(settings, "switch_branch", git(co.path, "rev-parse", ref), branch, engine)


def rollback_branch(settings: Settings, engine: Engine | None = None) -> dict[str, Any]:
    """Back to where the last successful update or switch started from."""
    done = [h for h in history(settings) if h.get("result") == "updated"]
    if not done:
        raise ConflictError("no earlier update or branch switch to roll back", code="nothing_to_roll_back")
    last = done[-1]
    co = require_checkout(settings)
    if last["from_branch"]:
        check_branch(co.path, last["from_branch"])
    sha = last["from_commit"]
    if not git(co.path, "cat-file", "-t", sha, check=False) == "commit":
        raise ValidationError(f"the previous commit {sha[:10]} is no longer in the checkout",
                              details={"commit": sha})
    return _transaction(settings, "rollback_branch", sha, last["from_branch"], engine)
