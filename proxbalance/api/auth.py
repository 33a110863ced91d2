"""Who is calling: resolves ``X-API-Key`` / ``Authorization: Bearer`` to a principal before each request.

Scope checks happen per endpoint (endpoint.py); here we only identify the caller, so a bad key on a public
endpoint is not an error, while a bad key on a protected one gives 401 with the reason.

A found key is kept in the app's memo for the current data generation (store/version.py): any commit to the
database (a revocation by another worker or the CLI included) moves the generation, so a revoked key is
refused on the very next request, as when every request read the table. A key's ``last_used_at`` is
written at most once a minute per process: the first request to find it stale claims the write, so the
threads that saw the same stale record do not each commit (and move the generation) again.
"""

from __future__ import annotations

import hmac
import threading
import time
from dataclasses import dataclass

from flask import g, request

from proxbalance.api.state import AppState, generation, state
from proxbalance.store.keys import USE_RESOLUTION_SECONDS, find_key, hash_key, record_use


@dataclass(frozen=True)
class Principal:
    id: str  # stable id for rate limiting and audit
    name: str
    scope: str  # read | admin

    @property
    def actor(self) -> str:
        return f"key:{self.id}:{self.name}"


def presented_key() -> str | None:
    key = request.headers.get("X-API-Key")
    if key:
        return key.strip()
    auth = request.headers.get("Authorization", "")
    if auth[:7].lower() == "bearer ":
        return auth[7:].strip() or None
    return None


def identify() -> None:
    """before_request: set ``g.principal`` (or None) and ``g.auth_failure`` (why a key was refused)."""
    st = state()
    g.auth_enabled = st.settings["auth.enabled"]
    g.principal = None
    g.auth_failure = None
    key = presented_key()
    if not key:
        return
    bootstrap = st.settings["auth.bootstrap_admin_key"]
    if bootstrap and hmac.compare_digest(key.encode(), bootstrap.encode()):
        g.principal = Principal(id="bootstrap", name="bootstrap", scope="admin")
        return
    digest = hash_key(key)
    record = st.memo.get(generation(), ("api_key", digest), lambda: find_key(st.store.engine, digest))
    if record is not None:
        _record_use(st, record)
    if record is None:
        g.auth_failure = "invalid or revoked API key"
        return
    g.principal = Principal(id=str(record.id), name=record.name, scope=record.scope)


_use_lock = threading.Lock()


def _record_use(st: AppState, record) -> None:
    now = time.time()
    with _use_lock:
        claimed = st.cache.setdefault("key_use_claimed", {})
        if now - max(record.last_used_at or 0.0, claimed.get(record.id, 0.0)) <= USE_RESOLUTION_SECONDS:
            return
        claimed[record.id] = now
    record_use(st.store.engine, record, now)
