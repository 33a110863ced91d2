"""Collector cache and state: one inventory row per guest (parsed config, last counters) and a key/value table.

The inventory is what lets a cycle skip re-reading guest configs: a config is re-read only when the guest is
new, moved node, its lock/tags/shape (maxcpu, maxmem, maxdisk) changed, or it is due (every N cycles).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, delete, select, update

from proxbalance.model import Disk
from proxbalance.pve.parse import GuestConfig
from proxbalance.store.plain import plain
from proxbalance.store.schema import collector_state, guest_inventory


@dataclass(frozen=True, slots=True)
class Counters:
    """Cumulative byte counters of a guest at ``time`` (Unix s) on ``node``; rates come from differences."""

    time: float
    node: str
    diskread: int
    diskwrite: int
    netin: int
    netout: int


@dataclass(frozen=True, slots=True)
class InventoryEntry:
    vmid: int
    type: str
    node: str
    lock: str | None
    tags: str
    shape: str
    config: GuestConfig
    config_cycle: int
    config_time: float
    counters: Counters | None
    seen_time: float


def _config_json(cfg: GuestConfig) -> str:
    return json.dumps(plain(cfg), separators=(",", ":"))


def _config(text: str) -> GuestConfig:
    data = json.loads(text)
    data["disks"] = tuple(Disk(**d) for d in data["disks"])
    return GuestConfig(**data)


def load_inventory(conn: Connection) -> dict[int, InventoryEntry]:
    out: dict[int, InventoryEntry] = {}
    for r in conn.execute(select(guest_inventory)):
        counters = Counters(*json.loads(r.counters)) if r.counters else None
        out[r.vmid] = InventoryEntry(vmid=r.vmid, type=r.type, node=r.node, lock=r.lock, tags=r.tags,
                                     shape=r.shape, config=_config(r.config), config_cycle=r.config_cycle,
                                     config_time=r.config_time, counters=counters, seen_time=r.seen_time)
    return out


def replace_inventory(conn: Connection, entries: list[InventoryEntry]) -> None:
    """Make the inventory exactly ``entries`` (guests gone from the cluster disappear)."""
    conn.execute(delete(guest_inventory))
    if entries:
        conn.execute(guest_inventory.insert(), [
            {"vmid": e.vmid, "type": e.type, "node": e.node, "lock": e.lock, "tags": e.tags, "shape": e.shape,
             "digest": e.config.digest, "config": _config_json(e.config), "config_cycle": e.config_cycle,
             "config_time": e.config_time, "seen_time": e.seen_time,
             "counters": json.dumps(list(plain(e.counters).values())) if e.counters else None}
            for e in entries])


def get_state(conn: Connection, key: str, default: Any = None) -> Any:
    value = conn.execute(select(collector_state.c.value).where(collector_state.c.key == key)).scalar()
    return default if value is None else json.loads(value)


def set_state(conn: Connection, key: str, value: Any) -> None:
    text = json.dumps(value)
    if conn.execute(update(collector_state).where(collector_state.c.key == key).values(value=text)).rowcount == 0:
        conn.execute(collector_state.insert().values(key=key, value=text))
