"""Errors of the AI layer, each with an HTTP status and a stable code (mapped by the API's error handler).

Provider messages are passed on (they say what went wrong) with every known secret scrubbed out first.
"""

from __future__ import annotations

from proxbalance.errors import ConflictError, ProxBalanceError, UpstreamError, ValidationError


class AIDisabledError(ConflictError):
    code = "ai_disabled"


class AIUnavailableError(UpstreamError):
    """The provider could not be reached, timed out, or kept answering 429/5xx after the retries."""

    code = "ai_unavailable"


class AINotInstalledError(UpstreamError):
    code = "ai_not_installed"


class AIRefusedError(ProxBalanceError):
    """The provider answered but refused: bad key, unknown model, request rejected, or the model refused."""

    status = 502
    code = "ai_refused"


class AIBadResponseError(ProxBalanceError):
    """The provider answered with something that is not the JSON we asked for."""

    status = 502
    code = "ai_bad_response"


class AIRequestError(ValidationError):
    code = "validation_error"


def scrub(text: str, secrets: list[str]) -> str:
    """``text`` with every secret of at least 4 characters replaced by ``********``."""
    for s in secrets:
        if s and len(s) >= 4:
            text = text.replace(s, "********")
    return text
