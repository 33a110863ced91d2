"""Request ids and the one JSON error shape:
``{"success": false, "error": {"code", "message", "details"?}, "request_id"}``."""

from __future__ import annotations

import logging
import re
import uuid

from flask import Flask, g, jsonify, request
from werkzeug.exceptions import HTTPException

from proxbalance.errors import ProxBalanceError

log = logging.getLogger(__name__)
_REQUEST_ID = re.compile(r"^[A-Za-z0-9._-]{1,64}$")


def assign_request_id() -> None:
    given = request.headers.get("X-Request-ID", "")
    g.request_id = given if _REQUEST_ID.match(given) else uuid.uuid4().hex


def error_response(status: int, code: str, message: str, details=None):
    error = {"code": code, "message": message}
    if details is not None:
        error["details"] = details
    response = jsonify({"success": False, "error": error, "request_id": g.get("request_id", "")})
    response.status_code = status
    if status == 429 and isinstance(details, dict) and "retry_after_seconds" in details:
        response.headers["Retry-After"] = str(details["retry_after_seconds"])
    return response


def register_error_handlers(app: Flask) -> None:
    @app.errorhandler(ProxBalanceError)
    def _ours(exc: ProxBalanceError):
        details = exc.details
        if exc.status == 400:  # the documented shape: a 400 always names the offending field
            details = dict(details) if isinstance(details, dict) else {}
            details.setdefault("field", details.get("key") or details.get("preset") or "body")
        return error_response(exc.status, exc.code, exc.message, details)

    @app.errorhandler(HTTPException)
    def _http(exc: HTTPException):
        if exc.code == 413:
            limit = app.config.get("MAX_CONTENT_LENGTH")
            return error_response(413, "payload_too_large", f"request body is larger than {limit} bytes",
                                  {"limit_bytes": limit})
        code = (exc.name or "error").lower().replace(" ", "_")
        details = {"field": "body"} if exc.code == 400 else None
        return error_response(exc.code or 500, code, exc.description or exc.name, details)

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception):
        log.exception("unhandled error in %s %s", request.method, request.path)
        return error_response(500, "internal_error", "internal error; see the server log",
                              {"request_id": g.get("request_id", "")})
