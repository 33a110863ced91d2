"""What the API process holds: settings, the store, the rate limiter. One per app, in app.extensions."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from flask import current_app

from proxbalance.api.ratelimit import RateLimiter
from proxbalance.config import Settings
from proxbalance.store import Store


@dataclass
class AppState:
    settings: Settings
    store: Store
    ratelimiter: RateLimiter
    cache: dict[str, Any] = field(default_factory=dict)  # small per-process caches (health probe, ...)


def state() -> AppState:
    return current_app.extensions["proxbalance"]
