"""What runs the automation cycles: the systemd timer ``proxbalance-automigrate.timer`` where systemd runs
ProxBalance, else an APScheduler job inside a single-process API server (``proxbalance serve``, the demo).

``toggle`` switches whichever applies and says which. systemctl is called with a fixed argv list (never a
shell, never user input). The in-process job's on/off state is kept in the store (``automation_state`` key
``timer_enabled``) so a restarted server resumes it; ``automation.in_process`` starts it on first run.
"""

from __future__ import annotations

import logging
import shutil
import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from proxbalance.errors import ConflictError, UpstreamError
from proxbalance.store.automation import get_state, set_state

log = logging.getLogger(__name__)
UNIT = "proxbalance-automigrate.timer"
JOB_ID = "proxbalance-automigrate"
EXT = "proxbalance_automation_scheduler"


def _systemctl(*args: str) -> subprocess.CompletedProcess:
    exe = shutil.which("systemctl")
    if exe is None:
        raise UpstreamError("systemctl is not available", code="systemd_unavailable")
    return subprocess.run([exe, *args], capture_output=True, text=True, timeout=20, check=False)


def systemd_manages() -> bool:
    """True when systemd is PID 1 here and the timer unit is installed."""
    if not Path("/run/systemd/system").is_dir() or shutil.which("systemctl") is None:
        return False
    try:
        out = _systemctl("show", "-p", "LoadState", "--value", UNIT)
    except (OSError, subprocess.SubprocessError, UpstreamError):
        return False
    return out.returncode == 0 and out.stdout.strip() == "loaded"


def _systemd_status() -> dict[str, Any]:
    active = _systemctl("is-active", UNIT).stdout.strip() == "active"
    enabled = _systemctl("is-enabled", UNIT).stdout.strip() == "enabled"
    nxt = _systemctl("show", "-p", "NextElapseUSecRealtime", "--value", UNIT).stdout.strip() or None
    return {"mode": "systemd", "unit": UNIT, "enabled": active or enabled, "active": active, "next_run": nxt}


def _job(app):
    sched = app.extensions.get(EXT)
    return sched.get_job(JOB_ID) if sched else None


def status(app) -> dict[str, Any]:
    if systemd_manages():
        return _systemd_status()
    job = _job(app)
    nxt = job.next_run_time.astimezone(UTC).isoformat(timespec="seconds") if job and job.next_run_time else None
    return {"mode": "in_process", "unit": None, "enabled": job is not None, "active": job is not None,
            "next_run": nxt}


def toggle(app, enable: bool | None = None) -> dict[str, Any]:
    """Switch the timer (``enable`` None flips it); returns the new :func:`status` plus ``changed``."""
    before = status(app)
    want = (not before["enabled"]) if enable is None else bool(enable)
    if before["mode"] == "systemd":
        out = _systemctl("enable" if want else "disable", "--now", UNIT)
        if out.returncode != 0:
            raise UpstreamError(f"systemctl {'enable' if want else 'disable'} --now {UNIT} failed: "
                                f"{out.stderr.strip()[:300]}", code="systemd_error")
    else:
        st = app.extensions["proxbalance"]
        set_state(st.store.engine, "timer_enabled", want)
        if want:
            start_job(app)
        else:
            stop_job(app)
    return {**status(app), "changed": want != before["enabled"]}


def _run(app) -> None:
    from proxbalance.automation import run_cycle
    from proxbalance.errors import ProxBalanceError

    st = app.extensions["proxbalance"]
    try:
        run_cycle(st.settings, st.store, trigger="scheduler", clock=st.clock)
    except ConflictError:
        log.info("automation cycle skipped: another cycle is running")
    except ProxBalanceError as exc:
        log.warning("scheduled automation cycle failed: %s", exc.message)


def start_job(app) -> None:
    from apscheduler.schedulers.background import BackgroundScheduler

    st = app.extensions["proxbalance"]
    sched = app.extensions.get(EXT)
    if sched is None:
        sched = app.extensions[EXT] = BackgroundScheduler(daemon=True, job_defaults={"coalesce": True,
                                                                                     "max_instances": 1})
        sched.start()
    if sched.get_job(JOB_ID) is None:
        minutes = st.settings["automation.interval_minutes"]
        sched.add_job(_run, "interval", minutes=minutes, args=(app,), id=JOB_ID,
                      next_run_time=datetime.now(UTC) + timedelta(minutes=minutes))


def stop_job(app) -> None:
    sched = app.extensions.get(EXT)
    if sched is not None and sched.get_job(JOB_ID) is not None:
        sched.remove_job(JOB_ID)


def maybe_start(app) -> None:
    """create_app hook: start the in-process job when ``automation.in_process`` is set (or was switched on
    through the API), unless systemd runs the timer."""
    st = app.extensions["proxbalance"]
    wanted = get_state(st.store.engine, "timer_enabled")
    if (wanted if wanted is not None else st.settings["automation.in_process"]) and not systemd_manages():
        start_job(app)
