"""Per-key rate limits (moving window, from the ``limits`` package that Flask-Limiter is built on).

Two buckets per caller, ``read`` and ``write``, sized by settings. A caller is its API key id, or its remote
address when anonymous. Every limited response carries ``X-RateLimit-Limit``, ``-Remaining`` and ``-Reset``;
an exceeded limit raises :class:`RateLimitError` whose details carry ``retry_after_seconds``, ``limit`` and
``window_seconds`` (the error handler also sets ``Retry-After``).
"""

from __future__ import annotations

import math
import time

from flask import current_app, g, request
from limits import RateLimitItemPerMinute
from limits.storage import storage_from_string
from limits.strategies import MovingWindowRateLimiter

from proxbalance.errors import RateLimitError

WINDOW_SECONDS = 60


class RateLimiter:
    def __init__(self, storage_uri: str, read_per_minute: int, write_per_minute: int, enabled: bool = True):
        self.enabled = enabled
        self.limiter = MovingWindowRateLimiter(storage_from_string(storage_uri))
        self.items = {"read": RateLimitItemPerMinute(read_per_minute),
                      "write": RateLimitItemPerMinute(write_per_minute)}

    def hit(self, bucket: str, caller: str) -> tuple[int, int, float]:
        """Count one request; return (limit, remaining, reset_epoch) or raise RateLimitError."""
        item = self.items[bucket]
        allowed = self.limiter.hit(item, bucket, caller)
        stats = self.limiter.get_window_stats(item, bucket, caller)
        limit = item.amount
        if not allowed:
            retry = max(1, math.ceil(stats.reset_time - time.time()))
            g.ratelimit = (limit, 0, stats.reset_time)
            raise RateLimitError(f"rate limit of {limit} {bucket} requests per {WINDOW_SECONDS} s exceeded",
                                 details={"retry_after_seconds": retry, "limit": limit,
                                          "window_seconds": WINDOW_SECONDS})
        return limit, stats.remaining, stats.reset_time


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
