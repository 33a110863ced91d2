"""What every executor function receives: the store, the settings, the PVE API and a clock.

``pve`` is any :class:`proxbalance.pve.api.PveApi` (in production a :class:`proxbalance.pve.client.PveClient`);
``clock()`` returns Unix seconds (the simulator's clock in tests and the demo), used for every timestamp the
executor writes and for comparing with PVE task start times.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from proxbalance.config import Settings
from proxbalance.pve.api import PveApi
from proxbalance.store import Store


@dataclass
class ExecContext:
    store: Store
    settings: Settings
    pve: PveApi
    clock: Callable[[], float] = time.time
    #: wall-clock sleep between polls (tests pass one that also advances a stepped simulator)
    sleep: Callable[[float], None] = field(default=time.sleep)
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_settings(cls, settings: Settings, store: Store, clock: Callable[[], float] = time.time,
                      pve: PveApi | None = None) -> ExecContext:
        if pve is None:
            from proxbalance.pve.client import PveClient
            pve = PveClient(settings)
        return cls(store=store, settings=settings, pve=pve, clock=clock)

    def now(self) -> float:
        return float(self.clock())
