"""The executor context of the API process: one PVE client per app, reconciliation once per process.

``executor_ctx()`` reconciles in-flight intents (and marks batches whose runner died as interrupted) the
first time this process touches the executor, i.e. on start; batches reconcile again before they run.
Tests may put ``executor_sleep`` in the app cache to make pollers advance a stepped simulator.
"""

from __future__ import annotations

import threading
import time

from flask import g

from proxbalance.api.state import state
from proxbalance.errors import UpstreamError
from proxbalance.executor.context import ExecContext

_lock = threading.Lock()


def actor() -> str:
    p = g.get("principal")
    return p.actor if p else "anonymous"


def request_id() -> str | None:
    return g.get("request_id") or None


def executor_ctx(*, reconcile: bool = True) -> ExecContext:
    st = state()
    with _lock:
        pve = st.cache.get("executor_pve")
        if pve is None:
            from proxbalance.pve.client import PveClient
            pve = st.cache["executor_pve"] = PveClient(st.settings)
    ctx = ExecContext(store=st.store, settings=st.settings, pve=pve, clock=st.clock,
                      sleep=st.cache.get("executor_sleep", time.sleep))
    if reconcile and not st.cache.get("executor_reconciled"):
        from proxbalance.executor import batch, evacuation, migrations
        try:
            migrations.reconcile(ctx)
            batch.resolve_orphans(ctx)
            evacuation.resume_orphans(ctx)
            st.cache["executor_reconciled"] = True
        except UpstreamError:
            pass  # PVE unreachable: try again on the next request; writes will fail on their own
    return ctx
