"""Exceptions carrying an HTTP status and a stable error code.

Every layer raises these; the API maps them to the JSON error shape
``{"success": false, "error": {"code", "message", "details"?}, "request_id"}``.
"""

from __future__ import annotations

from typing import Any


class ProxBalanceError(Exception):
    """Base class. ``status`` is the HTTP status, ``code`` a stable machine-readable string."""

    status = 500
    code = "internal_error"

    def __init__(self, message: str, *, details: Any = None, code: str | None = None):
        super().__init__(message)
        self.message = message
        self.details = details
        if code is not None:
            self.code = code


class ConfigError(ProxBalanceError):
    """Invalid settings: names the key and the reason."""

    status = 500
    code = "config_error"


class ValidationError(ProxBalanceError):
    status = 400
    code = "validation_error"


class AuthError(ProxBalanceError):
    status = 401
    code = "unauthorized"


class ForbiddenError(ProxBalanceError):
    status = 403
    code = "forbidden"


class NotFoundError(ProxBalanceError):
    status = 404
    code = "not_found"


class ConflictError(ProxBalanceError):
    status = 409
    code = "conflict"


class RateLimitError(ProxBalanceError):
    status = 429
    code = "rate_limited"


class UpstreamError(ProxBalanceError):
    """Proxmox (or another backend) could not be reached or answered with an error."""

    status = 503
    code = "proxmox_unavailable"


class ProxmoxAuthError(UpstreamError):
    """Proxmox rejected our credentials (bad token id or secret)."""

    code = "proxmox_auth_failed"


class StoreBusyError(ProxBalanceError):
    """The store's write lock could not be taken within the bounded wait (other writers held it)."""

    status = 503
    code = "database_busy"


class NoDataError(ProxBalanceError):
    """No collected snapshot yet: run a collection first."""

    status = 503
    code = "no_data"
