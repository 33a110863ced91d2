"""Health, route listing, OpenAPI document, interactive docs and Prometheus metrics."""

from __future__ import annotations

from importlib import resources

from flask import Blueprint, Response, current_app, g, send_file

from proxbalance import __version__, metrics
from proxbalance.api.endpoint import ENDPOINTS, _check_scope, endpoint
from proxbalance.api.health import report as health_report
from proxbalance.api.models import HealthResponse, RoutesResponse
from proxbalance.api.openapi import build_document
from proxbalance.api.state import state
from proxbalance.errors import NotFoundError

bp = Blueprint("system", __name__)

_DOCS_ASSETS = {"swagger-ui-bundle.js": "application/javascript", "swagger-ui.css": "text/css"}


@endpoint(bp, "GET", "/api/health", scope=None, response=HealthResponse,
          summary="Health of the API and its components (database, Proxmox, cluster, collection), with the "
                  "reasons when degraded. Public; details need a key. Never waits on Proxmox.")
def health():
    rep = health_report(state())
    components = rep["components"]
    if g.get("principal") is None:  # anonymous callers learn the status, not hosts, versions or errors
        components = {name: {"status": c["status"]} for name, c in components.items()}
    return {"status": rep["status"], "version": __version__, "reasons": rep["reasons"], "components": components}


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
