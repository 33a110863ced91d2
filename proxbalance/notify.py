"""Notifications through apprise: any list of apprise URLs (``notifications.urls``), per-event triggers
(``notifications.events``), at most one notification per event key, delivery failures logged and never raised.

- :func:`notify` is what the automation cycle, the executor and the forecaster call. The ``key`` names the
  event instance (``migration_failed:mig-42``); the first call with a key claims it in the store (a primary
  key insert, so two processes racing for it cannot both send), later calls with the same key send nothing.
- Every URL is delivered to separately so each provider has its own last delivery status
  (``notification_providers``, keyed by a hash of the URL; the URL itself is never stored or shown).
- :func:`providers` lists the configured services with URLs redacted by apprise's privacy mode.
- :func:`send_test` delivers a test message to one provider (by id) or all; it bypasses the dedupe.

Message texts live in :mod:`proxbalance.notify_messages`.
"""

from __future__ import annotations

import hashlib
import logging
import time
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from proxbalance.config import NOTIFY_EVENTS, Settings  # noqa: F401 (NOTIFY_EVENTS re-exported)
from proxbalance.errors import NotFoundError, ValidationError
from proxbalance.store import Store
from proxbalance.store.notifications import notification_events, notification_providers

log = logging.getLogger(__name__)

LEVELS = ("info", "success", "warning", "failure")


@dataclass(frozen=True)
class Provider:
    id: str  # service scheme, -2, -3 ... for repeats (the "provider" of POST /api/notifications/test)
    index: int  # position in notifications.urls
    service: str  # human name, e.g. "Discord"
    url_redacted: str
    url_hash: str
    plugin: Any  # apprise plugin instance, None when the URL is not understood


def _hash(url: str) -> str:
    return hashlib.sha256(url.encode()).hexdigest()


def _load(settings: Settings) -> list[Provider]:
    import apprise

    out: list[Provider] = []
    seen: dict[str, int] = {}
    for i, url in enumerate(settings["notifications.urls"]):
        plugin = apprise.Apprise.instantiate(url, suppress_exceptions=True)
        scheme = url.split("://", 1)[0].lower() if "://" in url else "invalid"
        seen[scheme] = seen.get(scheme, 0) + 1
        pid = scheme if seen[scheme] == 1 else f"{scheme}-{seen[scheme]}"
        if plugin is None:
            out.append(Provider(pid, i, "unrecognised URL", f"{scheme}://********", _hash(url), None))
            continue
        timeout = float(settings["notifications.timeout_seconds"])
        plugin.socket_connect_timeout = timeout
        plugin.socket_read_timeout = timeout
        out.append(Provider(pid, i, str(getattr(plugin, "service_name", scheme)), plugin.url(privacy=True),
                            _hash(url), plugin))
    return out


def _deliver(store: Store, provider: Provider, event: str, title: str, body: str, level: str,
             now: float) -> tuple[bool, str | None]:
    """Send to one provider; never raises. Returns (ok, error text)."""
    import apprise

    ok, error = False, None
    if provider.plugin is None:
        error = "apprise does not understand this URL"
    else:
        try:
            with apprise.LogCapture(level=logging.WARNING) as logs:
                ok = bool(provider.plugin.notify(body=body, title=title, notify_type=level))
            if not ok:
                error = (logs.getvalue().strip().splitlines() or ["delivery failed"])[-1][:500]
        except Exception as exc:  # noqa: BLE001 - a broken provider must never break the caller
            error = f"{type(exc).__name__}: {exc}"[:500]
    if not ok:
        log.warning("notification %s to %s failed: %s", event, provider.url_redacted, error)
    try:
        values = {"last_time": now, "last_ok": int(ok), "last_error": error, "last_event": event}
        t = notification_providers
        with store.engine.begin() as conn:
            if conn.execute(select(t.c.url_hash).where(t.c.url_hash == provider.url_hash)).first():
                conn.execute(t.update().where(t.c.url_hash == provider.url_hash).values(**values))
            else:
                conn.execute(t.insert().values(url_hash=provider.url_hash, **values))
    except Exception:  # noqa: BLE001 - status bookkeeping must not raise into a cycle either
        log.exception("could not record notification status")
    return ok, error


def _claim(store: Store, key: str, event: str, title: str, now: float) -> bool:
    try:
        with store.engine.begin() as conn:
            conn.execute(notification_events.insert().values(event_key=key[:200], event=event, time=now,
                                                              title=title[:500], delivered=0, failed=0))
        return True
    except IntegrityError:
        return False


def notify(settings: Settings, store: Store, event: str, key: str, title: str, body: str, *,
           level: str = "info", now: float | None = None) -> dict[str, Any] | None:
    """Send one event to every configured provider, once per ``key``. Never raises.

    Returns None when nothing was sent (notifications off, event not selected, no URLs, or ``key`` already
    sent), else ``{"event", "key", "delivered", "failed"}``.
    """
    try:
        if event not in NOTIFY_EVENTS:
            raise ValueError(f"unknown notification event {event!r}")
        if not settings["notifications.enabled"] or event not in settings["notifications.events"] \
                or not settings["notifications.urls"]:
            return None
        now = time.time() if now is None else now
        if not _claim(store, key, event, title, now):
            return None
        results = [_deliver(store, p, event, title, body, level if level in LEVELS else "info", now)
                   for p in _load(settings)]
        delivered = sum(1 for ok, _ in results if ok)
        with store.engine.begin() as conn:
            conn.execute(notification_events.update().where(notification_events.c.event_key == key[:200])
                         .values(delivered=delivered, failed=len(results) - delivered))
        return {"event": event, "key": key, "delivered": delivered, "failed": len(results) - delivered}
    except Exception:  # noqa: BLE001 - notifications never break the caller
        log.exception("notification %s (%s) failed", event, key)
        return None


def _status(store: Store) -> dict[str, Any]:
    with store.engine.connect() as conn:
        return {r.url_hash: r for r in conn.execute(select(notification_providers))}


def providers(settings: Settings, store: Store) -> list[dict[str, Any]]:
    """Configured services with redacted URLs and their last delivery status."""
    status = _status(store)
    out = []
    for p in _load(settings):
        s = status.get(p.url_hash)
        out.append({"id": p.id, "index": p.index, "service": p.service, "url": p.url_redacted,
                    "valid": p.plugin is not None,
                    "last_delivery": None if s is None else {"time": s.last_time, "ok": bool(s.last_ok),
                                                             "error": s.last_error, "event": s.last_event}})
    return out


def send_test(settings: Settings, store: Store, provider: str | None = None,
              now: float | None = None) -> list[dict[str, Any]]:
    """Deliver a test message to ``provider`` (an id from :func:`providers`) or to all; per-provider results.

    Works even while ``notifications.enabled`` is false, so an admin can check the URLs before switching on.
    """
    from proxbalance.notify_messages import test_message

    found = _load(settings)
    if not found:
        raise ValidationError("no notification URLs configured (notifications.urls)",
                              details={"field": "notifications.urls"})
    if provider is not None:
        found = [p for p in found if p.id == provider.lower()]
        if not found:
            raise NotFoundError(f"no configured notification provider {provider!r}",
                                details={"provider": provider, "known": [p.id for p in _load(settings)]})
    now = time.time() if now is None else now
    title, body = test_message(now)
    out = []
    for p in found:
        ok, error = _deliver(store, p, "test", title, body, "info", now)
        out.append({"id": p.id, "service": p.service, "url": p.url_redacted, "ok": ok, "error": error})
    return out


def sent(store: Store, limit: int = 50) -> list[dict[str, Any]]:
    """The newest notifications sent (for the logs endpoint and tests)."""
    t = notification_events
    with store.engine.connect() as conn:
        rows = conn.execute(select(t).order_by(t.c.time.desc()).limit(limit)).all()
    return [{"key": r.event_key, "event": r.event, "time": r.time, "title": r.title, "delivered": r.delivered,
             "failed": r.failed} for r in rows]
