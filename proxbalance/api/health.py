"""What ``/api/health`` reports, from the store and a background Proxmox probe; it never waits on Proxmox.

Components (each ``{"status", "detail"?}``):
- ``database``: ``ok`` | ``error`` (a ``SELECT 1``);
- ``proxmox``: ``ok`` | ``unreachable`` | ``auth_failed`` | ``error`` | ``not_configured`` | ``unknown``. The
  probe (one ``/version`` call, pve.client.probe) runs on its own thread, one at a time, at most every
  ``PROBE_TTL`` seconds; health answers the last result at once and only the very first call of a process
  waits for it (up to ``FIRST_PROBE_WAIT`` s);
- ``cluster`` (newest snapshot): ``ok`` | ``degraded`` (quorum lost, nodes offline or unreachable) | ``no_data``;
- ``collection``: ``ok`` | ``stale`` (newest snapshot older than ``collection.stale_after_seconds``, default
  three intervals) | ``failed`` (the last cycle failed) | ``no_data``.
``status`` is ``ok`` only when every component is ok (or not_configured); else ``degraded`` and ``reasons``
lists stable codes: ``database_error``, ``proxmox_<status>``, ``quorum_lost``, ``nodes_offline``,
``nodes_unreachable``, ``no_data``, ``data_stale``, ``collection_failed``.
"""

from __future__ import annotations

import threading
import time
from typing import Any

from sqlalchemy import text

from proxbalance.api.state import AppState

PROBE_TTL = 30.0  # seconds a probe result is reused
FIRST_PROBE_WAIT = 3.5  # seconds the first health call of a process waits for the first probe
OK = ("ok", "not_configured")


def database(st: AppState) -> dict:
    try:
        with st.store.engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        return {"status": "ok"}
    except Exception as exc:  # any driver error means the database is not usable
        return {"status": "error", "detail": type(exc).__name__}


def _probe_once(st: AppState) -> None:
    from proxbalance.pve.client import probe  # only pve/ talks to Proxmox

    try:
        result = probe(st.settings)
    finally:
        st.cache["proxmox_probe_running"] = False
    st.cache["proxmox_probe"] = (time.monotonic(), result)
    event = st.cache.get("proxmox_probe_done")
    if event is not None:
        event.set()


def proxmox(st: AppState) -> dict:
    if not st.settings["proxmox.host"]:
        return {"status": "not_configured"}
    lock = st.cache.setdefault("proxmox_probe_lock", threading.Lock())
    with lock:
        cached = st.cache.get("proxmox_probe")
        fresh = cached is not None and time.monotonic() - cached[0] < PROBE_TTL
        if not fresh and not st.cache.get("proxmox_probe_running"):
            st.cache["proxmox_probe_running"] = True
            st.cache.setdefault("proxmox_probe_done", threading.Event())
            threading.Thread(target=_probe_once, args=(st,), name="pve-health-probe", daemon=True).start()
    if cached is None:
        st.cache["proxmox_probe_done"].wait(FIRST_PROBE_WAIT)
        cached = st.cache.get("proxmox_probe")
    if cached is None:
        return {"status": "unknown", "detail": "the first Proxmox probe has not answered yet"}
    return dict(cached[1])


def cluster_and_collection(st: AppState) -> tuple[dict, dict]:
    from proxbalance.store.status import cluster_status

    info = cluster_status(st.store.engine)
    if not st.settings["proxmox.host"] and info is None:
        return {"status": "not_configured"}, {"status": "not_configured"}
    if info is None or info["time"] is None:
        last = (info or {}).get("last_collection")
        coll = {"status": "no_data", "detail": "no snapshot collected yet"}
        if last and not last["ok"]:
            coll = {"status": "failed", "detail": f"last collection failed: {last['error']}"}
        return {"status": "no_data", "detail": "no snapshot collected yet"}, coll
    problems = []
    if not info["quorate"]:
        problems.append("quorum lost")
    if info["offline"]:
        problems.append(f"offline: {', '.join(info['offline'])}")
    if info["unreachable"]:
        problems.append(f"unreachable: {', '.join(info['unreachable'])}")
    cluster: dict[str, Any] = {"status": "degraded" if problems else "ok",
                               "detail": "; ".join(problems) or "quorate, every node online",
                               "quorate": info["quorate"], "offline_nodes": info["offline"],
                               "unreachable_nodes": info["unreachable"]}
    age = max(0.0, st.clock() - info["time"])
    limit = st.settings["collection.stale_after_seconds"] or 3 * st.settings["collection.interval_seconds"]
    last = info["last_collection"] or {}
    if last and not last.get("ok", True) and last.get("time", 0) >= info["time"]:
        coll = {"status": "failed", "detail": f"last collection failed: {last.get('error')}"}
    elif age > limit:
        coll = {"status": "stale", "detail": f"newest snapshot is {age:.0f} s old (limit {limit:.0f} s)"}
    else:
        coll = {"status": "ok", "detail": f"newest snapshot is {age:.0f} s old"}
    coll["age_seconds"] = round(age, 1)
    return cluster, coll


def reasons(components: dict[str, dict]) -> list[str]:
    out = []
    db, pve, cl, co = (components[k]["status"] for k in ("database", "proxmox", "cluster", "collection"))
    if db not in OK:
        out.append("database_error")
    if pve not in OK:
        out.append(f"proxmox_{pve}")
    c = components["cluster"]
    if cl == "degraded":
        out += [r for r, bad in (("quorum_lost", not c.get("quorate", True)),
                                 ("nodes_offline", bool(c.get("offline_nodes"))),
                                 ("nodes_unreachable", bool(c.get("unreachable_nodes")))) if bad]
    if cl == "no_data" or co == "no_data":
        out.append("no_data")
    if co == "stale":
        out.append("data_stale")
    if co == "failed":
        out.append("collection_failed")
    return list(dict.fromkeys(out))


def report(st: AppState) -> dict:
    components = {"database": database(st), "proxmox": proxmox(st)}
    try:
        components["cluster"], components["collection"] = cluster_and_collection(st)
    except Exception as exc:  # the store failed: database already says so
        components["cluster"] = components["collection"] = {"status": "unknown", "detail": type(exc).__name__}
    why = reasons(components)
    return {"status": "degraded" if why or any(c["status"] not in OK for c in components.values()) else "ok",
            "reasons": why, "components": components}
