"""Per-key rate limits (moving window, from the ``limits`` package that Flask-Limiter is built on).

Two buckets per caller, ``read`` and ``write``, sized by settings. A caller is its API key id, or its remote
address when anonymous. Every limited response carries ``X-RateLimit-Limit``, ``-Remaining`` and ``-Reset``;
an exceeded limit raises :class:`RateLimitError` whose details carry ``retry_after_seconds``, ``limit`` and
``window_seconds`` (the error handler also sets ``Retry-After``).
"""

from __future__ import annotations

import math
import time
from pathlib import Path

from flask import current_app, g, request
from limits import RateLimitItemPerMinute
from limits.storage import storage_from_string
from limits.strategies import MovingWindowRateLimiter

from proxbalance.errors import RateLimitError

WINDOW_SECONDS = 60


class RateLimiter:
    """``storage_uri`` ``shared`` (the default): a moving window in ``ratelimit.sqlite`` under ``data_dir``,
    exact across every worker process on the host (ratelimit_shared.py); otherwise a ``limits`` storage URI
    (``memory://`` counts per process, ``redis://...`` across hosts)."""

    def __init__(self, storage_uri: str, read_per_minute: int, write_per_minute: int, enabled: bool = True,
                 data_dir: str | None = None):
        self.enabled = enabled
        self.items = {"read": RateLimitItemPerMinute(read_per_minute),
                      "write": RateLimitItemPerMinute(write_per_minute)}
        self.shared = None
        self.limiter = None
        if storage_uri in ("", "shared"):
            from proxbalance.api.ratelimit_shared import SharedWindow

            self.shared = SharedWindow(Path(data_dir or ".") / "ratelimit.sqlite") if enabled else None
        else:
            self.limiter = MovingWindowRateLimiter(storage_from_string(storage_uri))

    def _count(self, bucket: str, caller: str) -> tuple[bool, int, float]:
        item = self.items[bucket]
        if self.shared is not None:
            return self.shared.hit(f"{bucket}/{caller}", item.amount, WINDOW_SECONDS)
        allowed = self.limiter.hit(item, bucket, caller)
        stats = self.limiter.get_window_stats(item, bucket, caller)
        return allowed, stats.remaining, stats.reset_time

    def hit(self, bucket: str, caller: str) -> tuple[int, int, float]:
        """Count one request; return (limit, remaining, reset_epoch) or raise RateLimitError."""
        limit = self.items[bucket].amount
        allowed, remaining, reset = self._count(bucket, caller)
        if not allowed:
            retry = max(1, math.ceil(reset - time.time()))
            g.ratelimit = (limit, 0, reset)
            raise RateLimitError(f"rate limit of {limit} {bucket} requests per {WINDOW_SECONDS} s exceeded",
                                 details={"retry_after_seconds": retry, "limit": limit,
                                          "window_seconds": WINDOW_SECONDS})
        return limit, remaining, reset


def hit(bucket: str) -> None:
    limiter: RateLimiter = current_app.extensions["proxbalance"].ratelimiter
    if not limiter.enabled:
        return
    principal = g.get("principal")
    caller = f"key:{principal.id}" if principal is not None else f"addr:{request.remote_addr}"
    g.ratelimit = limiter.hit(bucket, caller)


def add_headers(response):
    stats = g.get("ratelimit")
    if stats:
        limit, remaining, reset = stats
        response.headers["X-RateLimit-Limit"] = str(limit)
        response.headers["X-RateLimit-Remaining"] = str(max(0, remaining))
        response.headers["X-RateLimit-Reset"] = str(int(math.ceil(reset)))
    return response
