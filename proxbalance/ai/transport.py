"""What every provider client shares: the request guard, error mapping and the retry loop (Ollama's client
has none of its own).

The guard is an HTTP request hook installed on the client's own HTTP client. Before every request it
removes every credential header the client library may have added on its own (from ``OPENAI_API_KEY``,
``ANTHROPIC_API_KEY``, ``OLLAMA_API_KEY``, ``*_CUSTOM_HEADERS``, profiles on disk, ...) and sets exactly the
one credential of the :class:`~proxbalance.ai.connection.Connection`, or none. Redirects are not followed,
so a key never travels on to another host.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from proxbalance.ai.errors import AIRefusedError, AIUnavailableError, scrub

CREDENTIAL_HEADERS = frozenset({"authorization", "x-api-key", "api-key", "openai-organization", "openai-project",
                                "cookie", "x-goog-api-key"})
PLACEHOLDER_KEY = "proxbalance-no-key"  # given to clients that insist on a key; the guard never sends it


def request_guard(credential: dict[str, str]) -> Callable[[Any], None]:
    """A request event hook that leaves exactly ``credential`` as the request's credential headers."""
    def hook(request: Any) -> None:
        for name in list(request.headers.keys()):
            if name.lower() in CREDENTIAL_HEADERS:
                del request.headers[name]
        for name, value in credential.items():
            request.headers[name] = value
    return hook


def unavailable(conn, exc: BaseException, secrets: list[str], *, timed_out: bool = False,
                rate_limited: bool = False) -> AIUnavailableError:
    where = f"{conn.provider} at {conn.base_url}"
    if timed_out:
        return AIUnavailableError(f"{where} did not answer within {conn.timeout:g} s",
                                  code="ai_timeout", details={"provider": conn.provider})
    if rate_limited:
        return AIUnavailableError(f"{where} is rate limiting us (429) after {conn.max_retries} retries",
                                  code="ai_rate_limited", details={"provider": conn.provider})
    return AIUnavailableError(f"{where} is unreachable: {scrub(str(exc), secrets)[:300]}",
                              details={"provider": conn.provider})


def refused(conn, status: int | None, message: str, secrets: list[str]) -> AIRefusedError:
    return AIRefusedError(f"{conn.provider} refused the request" + (f" ({status})" if status else "") +
                          f": {scrub(message, secrets)[:500]}",
                          details={"provider": conn.provider, "provider_status": status})


def sdk_errors(conn, exc: BaseException, secrets: list[str], module: Any) -> Exception | None:
    """Map an ``openai`` / ``anthropic`` SDK exception (both share the class names) to ours."""
    if isinstance(exc, module.APITimeoutError):
        return unavailable(conn, exc, secrets, timed_out=True)
    if isinstance(exc, module.APIConnectionError):
        return unavailable(conn, exc, secrets)
    if isinstance(exc, module.RateLimitError):
        return unavailable(conn, exc, secrets, rate_limited=True)
    if isinstance(exc, module.APIStatusError):
        if exc.status_code >= 500:
            return unavailable(conn, exc, secrets)
        return refused(conn, exc.status_code, _sdk_message(exc), secrets)
    return None


def _sdk_message(exc: Any) -> str:
    body = getattr(exc, "body", None)
    if isinstance(body, dict):
        err = body.get("error", body)
        if isinstance(err, dict) and err.get("message"):
            return str(err["message"])
    return str(getattr(exc, "message", exc))


def with_retries(fn: Callable[[], Any], retriable: Callable[[BaseException], bool], retries: int,
                 backoff: float = 0.5, sleep: Callable[[float], None] = time.sleep) -> Any:
    """Call ``fn``; on a retriable error wait ``backoff * 2**attempt`` (at most 8 s) and try again."""
    for attempt in range(retries + 1):
        try:
            return fn()
        except Exception as exc:
            if attempt >= retries or not retriable(exc):
                raise
            sleep(min(8.0, backoff * 2 ** attempt))
    raise AssertionError("unreachable")
