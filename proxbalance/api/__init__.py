"""Flask application factory. Blueprints register their routes through ``api.endpoint.endpoint``."""

from __future__ import annotations

import importlib
import time
from collections.abc import Callable
from pathlib import Path

from flask import Flask, current_app, g, request, send_from_directory
from werkzeug.middleware.proxy_fix import ProxyFix

from proxbalance import metrics
from proxbalance.api import auth, ratelimit
from proxbalance.api.endpoint import WRITE_METHODS
from proxbalance.api.errors import assign_request_id, register_error_handlers
from proxbalance.api.ratelimit import RateLimiter
from proxbalance.api.state import AppState
from proxbalance.config import Settings, load_settings
from proxbalance.store import Store
from proxbalance.store.audit import record as audit_record

#: blueprint modules, each exposing ``bp``; an area adds its module here
BLUEPRINTS = (
    "proxbalance.api.routes_meta",
    "proxbalance.api.routes_cluster",
    "proxbalance.api.routes_keys",
    "proxbalance.api.routes_recommendations",
    "proxbalance.api.routes_penalty",
    "proxbalance.api.routes_forecast",
)

WEB_DIR = Path(__file__).resolve().parents[2] / "web"


def create_app(settings: Settings | None = None, store: Store | None = None,
               clock: Callable[[], float] | None = None) -> Flask:
    """Build the app. ``settings`` None loads them from the config file and environment; ``clock`` (Unix
    seconds) defaults to the wall clock — the demo passes the simulator's."""
    settings = settings or load_settings()
    store = store or Store.open(settings)
    app = Flask(__name__, static_folder=None)
    app.json.sort_keys = False
    app.extensions["proxbalance"] = AppState(
        settings=settings, store=store,
        ratelimiter=RateLimiter(settings["ratelimit.storage_uri"], settings["ratelimit.read_per_minute"],
                                settings["ratelimit.write_per_minute"], enabled=settings["ratelimit.enabled"]),
        clock=clock or time.time)
    if settings["server.behind_proxy"]:
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=1, x_proto=1, x_host=1)
    register_error_handlers(app)
    app.before_request(_start)
    app.before_request(auth.identify)
    app.after_request(_finish)
    for name in BLUEPRINTS:
        app.register_blueprint(importlib.import_module(name).bp)
    from proxbalance.scheduler import maybe_start  # collection.in_process: APScheduler collection job
    maybe_start(app)
    if settings["server.serve_web"]:
        _serve_web(app, Path(settings["server.web_dir"]) if settings["server.web_dir"] else WEB_DIR)
    return app


def _start() -> None:
    g.started = time.perf_counter()
    assign_request_id()


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
    principal = g.get("principal")
    body = request.get_json(silent=True) if request.is_json else None
    detail = {"fields": sorted(body)[:50]} if isinstance(body, dict) else {}
    if response.status_code >= 400 and response.is_json:
        detail["error"] = (response.get_json(silent=True) or {}).get("error", {}).get("code")
    audit_record(st.store.engine, actor=principal.actor if principal else "anonymous", method=request.method,
                 path=request.full_path.rstrip("?"), status=response.status_code,
                 request_id=g.get("request_id", ""), remote_addr=request.remote_addr,
                 detail=detail or None)


def _serve_web(app: Flask, web_dir: Path) -> None:
    """Demo mode: Flask serves the dashboard files (nginx does this in production)."""

    @app.get("/")
    @app.get("/<path:path>")
    def web(path: str = "index.html"):
        if path.startswith("api/"):
            from werkzeug.exceptions import NotFound
            raise NotFound()
        return send_from_directory(web_dir, path)
