"""ProxBalance's own node maintenance mode: a node in maintenance is never a migration target.

The flag lives in the store (``node_maintenance``); validation, the recommendation engine (through
``maintenance_nodes`` masks) and automation honour it.
"""

from __future__ import annotations

import time
from typing import Any

from proxbalance.store import Store
from proxbalance.store import maintenance as repo


def set_maintenance(store: Store, node: str, on: bool, actor: str, reason: str | None = None,
                    now: float | None = None) -> dict[str, Any]:
    """Set or clear the flag; returns the node's new state ``{node, maintenance, since, actor, reason}``."""
    repo.set_flag(store.engine, node, on, actor=actor, reason=reason, now=time.time() if now is None else now)
    row = repo.flags(store.engine).get(node)
    return {"node": node, "maintenance": row is not None, **({k: row[k] for k in ("since", "actor", "reason")}
                                                             if row else {})}


def maintenance_nodes(store: Store) -> set[str]:
    return set(repo.flags(store.engine))


def maintenance_info(store: Store) -> dict[str, dict[str, Any]]:
    return repo.flags(store.engine)
