"""What the API process holds: settings, the store, the rate limiter, the Proxmox bulkhead. One per app,
in app.extensions."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from flask import current_app

from proxbalance.api.bulkhead import Bulkhead
from proxbalance.api.ratelimit import RateLimiter
from proxbalance.config import Settings
from proxbalance.store import Store


@dataclass
class AppState:
    settings: Settings
    store: Store
    ratelimiter: RateLimiter
    cache: dict[str, Any] = field(default_factory=dict)  # small per-process caches (health probe, ...)
    #: Unix seconds "now" for collections and data ages; the demo passes the simulator's clock
    clock: Callable[[], float] = time.time
    #: the small pool Proxmox-bound request work runs on (api/bulkhead.py)
    bulkhead: Bulkhead = field(default_factory=lambda: Bulkhead(2, 10.0))


def state() -> AppState:
    return current_app.extensions["proxbalance"]
