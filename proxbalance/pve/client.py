"""The Proxmox VE API client: the only module that imports proxmoxer.

``PveClient(settings)`` wraps one proxmoxer session with
- API-token auth (``proxmox.token_id`` + ``token_secret``), or ticket login as a fallback (username/password);
- TLS verification on by default; ``proxmox.ca_file`` names a PEM bundle to verify with;
- a per-call timeout (``proxmox.timeout`` seconds) and retries with exponential backoff
  (``proxmox.retries``; 0.2 s, 0.4 s, ... capped at 2 s) on connection errors and 5xx answers, never on 4xx.
  Writes are retried only when the connection could not be made (the request never reached PVE);
- per-endpoint call counts and latencies exported to Prometheus (``proxbalance_pve_calls_total`` and
  ``proxbalance_pve_call_duration_seconds``, labelled by path template such as ``/nodes/{node}/status``) and
  counted on the client (``calls``, ``calls_by_endpoint``) so a collection can report its API calls;
- clear errors: an unreachable host raises :class:`UpstreamError` naming the host, a rejected token raises
  :class:`ProxmoxAuthError` saying so, anything else PVE refuses raises :class:`PveApiError` with PVE's text.

Typed reads and writes live in :class:`proxbalance.pve.api.PveApi` methods mixed into this class.
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from typing import Any

import requests
import urllib3
from proxmoxer import ProxmoxAPI
from proxmoxer.core import AuthenticationError, ResourceException
from requests.adapters import HTTPAdapter

from proxbalance import metrics
from proxbalance.config import Settings
from proxbalance.errors import ProxmoxAuthError, UpstreamError
from proxbalance.pve.api import PveApi

BACKOFF_BASE = 0.2  # seconds before the first retry; doubled each time
BACKOFF_MAX = 2.0  # seconds
PROBE_TIMEOUT = 3.0  # seconds for the health probe's single /version call


class PveApiError(UpstreamError):
    """PVE answered with an error (4xx other than auth, or 5xx after the retries).

    ``status_code`` is PVE's HTTP status (595 = node unreachable through the cluster); ``errors`` the
    per-parameter reasons of a 400.
    """

    code = "proxmox_error"

    def __init__(self, message: str, *, status_code: int, errors: Any = None, endpoint: str = ""):
        super().__init__(message, details={"status_code": status_code, "endpoint": endpoint,
                                           **({"errors": errors} if errors else {})})
        self.status_code = status_code
        self.errors = errors
        if status_code in (400, 404):
            self.status = 404 if status_code == 404 else 400
            self.code = "proxmox_not_found" if status_code == 404 else "proxmox_bad_request"
        elif status_code == 403:
            self.status = 403
            self.code = "proxmox_permission_denied"


def _never_sent(exc: Exception) -> bool:
    """True when the request cannot have reached PVE: the connection was never established. A connection
    dropped after the request went out ("Connection aborted", a reset) is not that: PVE may have acted on a
    POST whose answer was lost, so a write is never re-sent then."""
    if isinstance(exc, requests.ConnectTimeout):
        return True
    cause = exc.args[0] if exc.args else None
    reason = getattr(cause, "reason", None)  # urllib3 MaxRetryError wraps the connect failure
    return isinstance(cause, urllib3.exceptions.NewConnectionError) or isinstance(
        reason, (urllib3.exceptions.NewConnectionError, urllib3.exceptions.ConnectTimeoutError))


def _verify(settings: Settings) -> bool | str:
    if not settings["proxmox.verify_tls"]:
        return False
    return settings["proxmox.ca_file"] or True


class PveClient(PveApi):
    """One authenticated connection to a PVE cluster (any node's API answers for the whole cluster).

    Thread-safe for concurrent reads: the collector calls it from a bounded thread pool. The proxmoxer
    session is created lazily on the first call, so constructing a client never touches the network.
    """

    def __init__(self, settings: Settings, *, timeout: float | None = None, retries: int | None = None):
        self.settings = settings
        self.host = settings["proxmox.host"]
        self.port = settings["proxmox.port"]
        self.timeout = float(timeout if timeout is not None else settings["proxmox.timeout"])
        self.retries = int(retries if retries is not None else settings["proxmox.retries"])
        self._api: ProxmoxAPI | None = None
        self._lock = threading.Lock()
        self._count_lock = threading.Lock()
        self.calls = 0  # API calls made (each retry counts), for collection reports
        self.calls_by_endpoint: Counter[str] = Counter()
        if not self.host:
            raise UpstreamError("proxmox.host is not set: configure the Proxmox VE host to collect from",
                                code="proxmox_not_configured")

    # -- connection -------------------------------------------------------------------------------------
    @property
    def target(self) -> str:
        return f"{self.host}:{self.port}"

    def _connect(self) -> ProxmoxAPI:
        with self._lock:
            if self._api is not None:
                return self._api
            s = self.settings
            verify = _verify(s)
            if verify is False:
                urllib3.disable_warnings(urllib3.exceptions.InsecureRequestWarning)
            common = dict(host=self.host, port=self.port, verify_ssl=verify, timeout=self.timeout,
                          service="PVE", backend="https")
            try:
                if s["proxmox.token_id"]:
                    user, token_name = s["proxmox.token_id"].split("!", 1)
                    api = ProxmoxAPI(user=user, token_name=token_name, token_value=s["proxmox.token_secret"],
                                     **common)
                elif s["proxmox.username"]:
                    self._count("/access/ticket")
                    api = ProxmoxAPI(user=s["proxmox.username"], password=s["proxmox.password"], **common)
                else:
                    raise ProxmoxAuthError("no Proxmox credentials configured: set proxmox.token_id and "
                                           "proxmox.token_secret (or proxmox.username and proxmox.password)")
            except AuthenticationError:
                raise ProxmoxAuthError(f"Proxmox VE at {self.target} rejected the login of user "
                                       f"{s['proxmox.username']!r}: check proxmox.username/password") from None
            except (requests.ConnectionError, requests.Timeout) as exc:
                raise self._unreachable(exc) from None
            session = api._store["session"]  # one pooled session; size it for the collector's threads
            adapter = HTTPAdapter(pool_connections=2, pool_maxsize=max(10, s["proxmox.max_parallel"] * 2))
            session.mount("https://", adapter)
            self._api = api
            return api

    def _unreachable(self, exc: Exception) -> UpstreamError:
        kind = "timed out" if isinstance(exc, requests.Timeout) else "could not be reached"
        if isinstance(exc, requests.exceptions.SSLError):
            kind = "failed TLS verification (set proxmox.ca_file to the cluster CA, or proxmox.verify_tls)"
        return UpstreamError(f"Proxmox VE at {self.target} {kind}: {type(exc).__name__}",
                             details={"host": self.host, "port": self.port})

    def _count(self, endpoint: str) -> None:
        with self._count_lock:
            self.calls += 1
            self.calls_by_endpoint[endpoint] += 1

    # -- the one call path --------------------------------------------------------------------------------
    def call(self, method: str, template: str, params: dict[str, Any] | None = None, **path: Any) -> Any:
        """Call ``method`` on ``template`` (e.g. ``/nodes/{node}/status``) formatted with ``path``.

        Returns PVE's ``data``. Retries reads on connection errors and 5xx, writes only on failed connects.
        """
        api = self._connect()
        url = template.format(**path)
        method = method.upper()
        params = {k: v for k, v in (params or {}).items() if v is not None}
        attempt = 0
        while True:
            self._count(template)
            started = time.perf_counter()
            outcome = "ok"
            try:
                resource = api(url.lstrip("/"))
                if method == "GET":
                    return resource.get(**params)
                if method == "POST":
                    return resource.post(**params)
                if method == "PUT":
                    return resource.put(**params)
                return resource.delete(**params)
            except ResourceException as exc:
                outcome = str(exc.status_code)
                if exc.status_code == 401:
                    raise self._auth_error() from None
                if exc.status_code < 500 or method != "GET" or attempt >= self.retries:
                    raise self._api_error(exc, template) from None
            except (requests.ConnectionError, requests.Timeout) as exc:
                outcome = "timeout" if isinstance(exc, requests.Timeout) else "connection_error"
                connect_failed = _never_sent(exc)
                if isinstance(exc, requests.exceptions.SSLError) or attempt >= self.retries or (
                        method != "GET" and not connect_failed):
                    raise self._unreachable(exc) from None
            finally:
                metrics.pve_calls.labels(template, outcome).inc()
                metrics.pve_latency.labels(template).observe(time.perf_counter() - started)
            time.sleep(min(BACKOFF_MAX, BACKOFF_BASE * 2 ** attempt))
            attempt += 1

    def get(self, template: str, params: dict[str, Any] | None = None, **path: Any) -> Any:
        return self.call("GET", template, params, **path)

    def _auth_error(self) -> ProxmoxAuthError:
        s = self.settings
        who = f"API token {s['proxmox.token_id']!r}" if s["proxmox.token_id"] else \
            f"the ticket of {s['proxmox.username']!r}"
        return ProxmoxAuthError(f"Proxmox VE at {self.target} rejected {who} (401): check the token id and "
                                "secret, and that the token is not expired or deleted",
                                details={"host": self.host})

    def _api_error(self, exc: ResourceException, template: str) -> PveApiError:
        text = (exc.content or exc.status_message or "").strip()
        msg = f"Proxmox VE answered {exc.status_code} on {template}: {text}"
        if exc.status_code == 595:
            msg = f"Proxmox VE node unreachable (595) on {template}: {text}"
        return PveApiError(msg, status_code=exc.status_code, errors=exc.errors, endpoint=template)


def probe(settings: Settings) -> dict[str, str]:
    """Health probe: one ``/version`` call with a short timeout and no retry.

    Returns ``{"status": "ok"|"unreachable"|"auth_failed"|"error"|"not_configured", "detail": str}``;
    never raises and never includes a secret.
    """
    if not settings["proxmox.host"]:
        return {"status": "not_configured", "detail": "proxmox.host is not set"}
    try:
        client = PveClient(settings, timeout=min(PROBE_TIMEOUT, settings["proxmox.timeout"]), retries=0)
        version = client.get("/version") or {}
        return {"status": "ok", "detail": f"Proxmox VE {version.get('version', '?')} at {client.target}"}
    except ProxmoxAuthError as exc:
        return {"status": "auth_failed", "detail": exc.message}
    except PveApiError as exc:
        return {"status": "error", "detail": exc.message}
    except UpstreamError as exc:
        return {"status": "unreachable", "detail": exc.message}
    except Exception as exc:  # a probe must never take the health endpoint down
        return {"status": "error", "detail": type(exc).__name__}
