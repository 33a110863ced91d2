"""Single-process mode: an APScheduler job inside the API process runs a collection every
``collection.interval_seconds`` (only when ``collection.in_process`` is true; otherwise the systemd timer
``proxbalance-collector.timer`` runs ``proxbalance collect``)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta

from apscheduler.schedulers.background import BackgroundScheduler

from proxbalance.config import Settings
from proxbalance.errors import ConflictError, ProxBalanceError
from proxbalance.store import Store

log = logging.getLogger(__name__)
JOB_ID = "proxbalance-collect"
FIRST_RUN_DELAY = 0.5  # seconds after start


def _run(settings: Settings, store: Store, clock: Callable[[], float] | None = None) -> None:
    from proxbalance.collector import collect_once

    try:
        collect_once(settings, store, now=clock() if clock else None, wait=False)
    except ConflictError as exc:  # another worker/CLI/host collects right now
        log.info("scheduled collection skipped: %s", exc.message)
    except ProxBalanceError as exc:  # logged; the next tick tries again
        log.warning("scheduled collection failed: %s", exc.message)


def start_scheduler(settings: Settings, store: Store, clock: Callable[[], float] | None = None) -> BackgroundScheduler:
    """Start the background job (first run after FIRST_RUN_DELAY); returns the scheduler so callers can shut it down.

    ``clock`` gives "now" in Unix seconds for each collection (the demo passes the simulator's); None = wall clock.
    """
    sched = BackgroundScheduler(daemon=True, job_defaults={"coalesce": True, "max_instances": 1,
                                                           "misfire_grace_time": settings["collection.interval_seconds"]})
    sched.add_job(_run, "interval", seconds=settings["collection.interval_seconds"], args=(settings, store, clock),
                  id=JOB_ID, next_run_time=datetime.now() + timedelta(seconds=FIRST_RUN_DELAY))
    sched.start()
    return sched


def maybe_start(app) -> None:
    """create_app hook: start the job when ``collection.in_process`` is set (kept in app.extensions)."""
    st = app.extensions["proxbalance"]
    if st.settings["collection.in_process"]:
        app.extensions["proxbalance_scheduler"] = start_scheduler(st.settings, st.store, st.clock)
