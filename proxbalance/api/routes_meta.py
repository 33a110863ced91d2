"""Health, route listing, OpenAPI document, interactive docs and Prometheus metrics."""

from __future__ import annotations

import time
from importlib import resources

from flask import Blueprint, Response, current_app, g, send_file
from sqlalchemy import text

from proxbalance import __version__, metrics
from proxbalance.api.endpoint import ENDPOINTS, _check_scope, endpoint
from proxbalance.api.models import HealthResponse, RoutesResponse
from proxbalance.api.openapi import build_document
from proxbalance.api.state import state
from proxbalance.errors import NotFoundError

bp = Blueprint("system", __name__)

PROXMOX_PROBE_TTL = 30.0  # seconds a probe result is reused, so health stays cheap under polling
_DOCS_ASSETS = {"swagger-ui-bundle.js": "application/javascript", "swagger-ui.css": "text/css"}


def _database_status() -> dict:
    try:
        with state().store.engine.connect() as conn:
            conn.execute(text("SELECT 1"))
        return {"status": "ok"}
    except Exception as exc:  # any driver error means the database is not usable
        return {"status": "error", "detail": type(exc).__name__}


def _proxmox_status() -> dict:
    st = state()
    if not st.settings["proxmox.host"]:
        return {"status": "not_configured"}
    cached = st.cache.get("proxmox_probe")
    if cached and time.monotonic() - cached[0] < PROXMOX_PROBE_TTL:
        return cached[1]
    from proxbalance.pve.client import probe  # only pve/ talks to Proxmox

    result = probe(st.settings)
    st.cache["proxmox_probe"] = (time.monotonic(), result)
    return result


@endpoint(bp, "GET", "/api/health", scope=None, response=HealthResponse,
          summary="Health of the API and its components (database, Proxmox). Public; details need a key.")
def health():
    components = {"database": _database_status(), "proxmox": _proxmox_status()}
    healthy = all(c["status"] in ("ok", "not_configured") for c in components.values())
    if g.get("principal") is None:  # anonymous callers learn the status, not hosts, versions or errors
        components = {name: {"status": c["status"]} for name, c in components.items()}
    return {"status": "ok" if healthy else "degraded", "version": __version__, "components": components}


@endpoint(bp, "GET", "/api/routes", response=RoutesResponse, summary="Every API route with its required scope.")
def routes():
    items = [{"method": s.method, "path": s.openapi_path, "summary": s.summary, "scope": s.scope}
             for s in ENDPOINTS]
    return {"routes": items, "count": len(items)}


@endpoint(bp, "GET", "/api/openapi.json", summary="The OpenAPI 3 document of this API.")
def openapi_document():
    return build_document()


@endpoint(bp, "GET", "/api/docs", scope=None, produces=("text/html",),
          summary="Interactive API documentation (Swagger UI, vendored). Public page; calls need a key.")
def docs_page():
    html = resources.files("proxbalance.api").joinpath("docs.html").read_text(encoding="utf-8")
    return Response(html, mimetype="text/html")


@endpoint(bp, "GET", "/api/docs/assets/<asset>", scope=None, produces=("application/javascript", "text/css"),
          summary="Static assets of the docs page.")
def docs_asset(asset: str):
    if asset not in _DOCS_ASSETS:
        raise NotFoundError(f"no such asset: {asset}")
    path = resources.files("proxbalance.api").joinpath("vendor", "swagger-ui", asset)
    return send_file(str(path), mimetype=_DOCS_ASSETS[asset], max_age=86400)


@endpoint(bp, "GET", "/metrics", scope=None, produces=("text/plain",),
          summary="Prometheus metrics. Needs a read key unless metrics.public is set.")
def prometheus_metrics():
    if not current_app.extensions["proxbalance"].settings["metrics.public"]:
        _check_scope("read")
    return Response(metrics.render(), mimetype="text/plain; version=0.0.4")
