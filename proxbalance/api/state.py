"""What the API process holds: settings, the store, the rate limiter, the Proxmox bulkhead, the memo of
what requests derived from the store. One per app, in app.extensions."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from flask import current_app, g

from proxbalance.api.bulkhead import Bulkhead
from proxbalance.api.ratelimit import RateLimiter
from proxbalance.config import Settings
from proxbalance.store import Store
from proxbalance.store.version import Memo


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
    #: what requests derived from the store (key lookups, the newest snapshot, serialised answers), kept
    #: while the store's data generation stays the same (store/version.py)
    memo: Memo = field(default_factory=Memo)


def state() -> AppState:
    return current_app.extensions["proxbalance"]


def generation() -> int:
    """The store's data generation, read once per request (at its start) and reused by every cache lookup."""
    gen = g.get("data_generation")
    if gen is None:
        gen = g.data_generation = state().store.version.current()
    return gen
