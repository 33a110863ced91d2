"""Flask application factory. Blueprints register their routes through ``api.endpoint.endpoint``."""

from __future__ import annotations

import importlib
import time
from collections.abc import Callable
from pathlib import Path

from flask import Flask, current_app, g, request, send_from_directory
from werkzeug.middleware.proxy_fix import ProxyFix
from werkzeug.routing import PathConverter

from proxbalance import metrics
from proxbalance.api import auth, guard, ratelimit
from proxbalance.api.bulkhead import Bulkhead
from proxbalance.api.endpoint import WRITE_METHODS
from proxbalance.api.errors import assign_request_id, register_error_handlers
from proxbalance.api.ratelimit import RateLimiter
from proxbalance.api.state import AppState
from proxbalance.config import Settings, load_settings
from proxbalance.config_service import effective as effective_settings
from proxbalance.errors import ProxBalanceError
from proxbalance.logsetup import configure as configure_logging
from proxbalance.store import Store
from proxbalance.store.audit import record as audit_record

#: blueprint modules, each exposing ``bp``; an area adds its module here
BLUEPRINTS = (
    "proxbalance.api.routes_meta",
    "proxbalance.api.routes_cluster",
    "proxbalance.api.routes_keys",
    "proxbalance.api.routes_recommendations",
    "proxbalance.api.routes_penalty",
    "proxbalance.api.routes_ai",
    "proxbalance.api.routes_migrate",
    "proxbalance.api.routes_guest_ops",
    "proxbalance.api.routes_notifications",
    "proxbalance.api.routes_automation",
    "proxbalance.api.routes_config",
    "proxbalance.api.routes_system",
    "proxbalance.api.routes_history",
    "proxbalance.api.routes_nodes_ops",
    "proxbalance.api.routes_forecast",
)

WEB_DIR = Path(__file__).resolve().parents[2] / "web"


def create_app(settings: Settings | None = None, store: Store | None = None,
               clock: Callable[[], float] | None = None) -> Flask:
    """Build the app. ``settings`` None loads them from the config file and environment; ``clock`` (Unix
    seconds) defaults to the wall clock — the demo passes the simulator's."""
    settings = settings or load_settings()
    store = store or Store.open(settings)
    base, (revision, settings) = settings, effective_settings(settings, store)  # the API layer on top
    app = Flask(__name__, static_folder=None)
    app.json.sort_keys = False
    app.extensions["proxbalance"] = AppState(
        settings=settings, store=store,
        ratelimiter=RateLimiter(settings["ratelimit.storage_uri"], settings["ratelimit.read_per_minute"],
                                settings["ratelimit.write_per_minute"], enabled=settings["ratelimit.enabled"],
                                data_dir=settings["paths.data_dir"]),
        clock=clock or time.time,
        bulkhead=Bulkhead(settings["server.proxmox_workers"], settings["server.proxmox_wait_seconds"]))
    app.extensions["proxbalance"].cache.update(config_base=base, config_revision=revision)
    configure_logging(settings)
    if settings["server.behind_proxy"]:
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=1, x_proto=1, x_host=1)
    app.config["MAX_CONTENT_LENGTH"] = settings["server.max_body_bytes"]  # bodies without a Content-Length
    register_error_handlers(app)
    app.before_request(_start)
    app.before_request(_guard)  # size and depth before anything parses a body or looks at the key
    app.before_request(auth.identify)
    app.after_request(_finish)
    for name in BLUEPRINTS:
        app.register_blueprint(importlib.import_module(name).bp)
    from proxbalance.scheduler import maybe_start  # collection.in_process: APScheduler collection job
    maybe_start(app)
    from proxbalance.automation_timer import maybe_start as start_automation  # in-process automation job
    start_automation(app)
    if settings["server.serve_web"]:
        _serve_web(app, Path(settings["server.web_dir"]) if settings["server.web_dir"] else WEB_DIR)
    return app


def _start() -> None:
    g.started = time.perf_counter()
    assign_request_id()


def _guard() -> None:
    st: AppState = current_app.extensions["proxbalance"]
    guard.check_request(st.settings["server.max_body_bytes"], st.settings["server.max_json_depth"])
    g.body_checked = True


def _finish(response):
    st: AppState = current_app.extensions["proxbalance"]
    response.headers["X-Request-ID"] = g.get("request_id", "")
    ratelimit.add_headers(response)
    _cors(st.settings, response)
    rule = request.url_rule.rule if request.url_rule else "unmatched"
    metrics.http_requests.labels(request.method, rule, str(response.status_code)).inc()
    metrics.http_latency.labels(request.method, rule).observe(time.perf_counter() - g.get("started", 0))
    if request.method in WRITE_METHODS and request.path.startswith("/api/"):
        _audit(st, response)
    return response


def _cors(settings: Settings, response) -> None:
    origin = request.headers.get("Origin")
    if origin and origin in settings["server.cors_origins"]:
        response.headers["Access-Control-Allow-Origin"] = origin
        response.headers["Vary"] = "Origin"
        response.headers["Access-Control-Allow-Headers"] = "Content-Type, X-API-Key, Authorization, X-Request-ID"
        response.headers["Access-Control-Allow-Methods"] = "GET, POST, PUT, DELETE, OPTIONS"
        response.headers["Access-Control-Expose-Headers"] = "X-Request-ID, X-RateLimit-Limit, " \
                                                            "X-RateLimit-Remaining, X-RateLimit-Reset"


def _audit(st: AppState, response) -> None:
    """One row per write by a known caller (or any caller when auth is off). Unauthenticated requests are
    not written: garbage from anyone must not grow the table (they are counted in the metrics)."""
    principal = g.get("principal")
    if principal is None and st.settings["auth.enabled"]:
        return
    body = None
    if request.is_json and g.get("body_checked"):
        try:
            body = guard.parse_json(request.get_data(cache=True))
        except ProxBalanceError:
            body = None
    detail = {"fields": sorted(body)[:50]} if isinstance(body, dict) else {}
    if response.status_code >= 400 and response.is_json:
        detail["error"] = (response.get_json(silent=True) or {}).get("error", {}).get("code")
    audit_record(st.store.engine, actor=principal.actor if principal else "anonymous", method=request.method,
                 path=request.full_path.rstrip("?"), status=response.status_code,
                 request_id=g.get("request_id", ""), remote_addr=request.remote_addr,
                 detail=detail or None)


class _WebPath(PathConverter):
    """A path that is not under ``api/``: the dashboard catch-all never matches an API path, so any method
    on an unknown ``/api/...`` path is a JSON 404 (not the catch-all's 405)."""

    regex = r"(?!api(?:/|$))[^/].*?"


def _serve_web(app: Flask, web_dir: Path) -> None:
    """Demo mode: Flask serves the dashboard files (nginx does this in production)."""

    app.url_map.converters["webpath"] = _WebPath

    @app.get("/")
    @app.get("/<webpath:path>")
    def web(path: str = "index.html"):
        return send_from_directory(web_dir, path)
