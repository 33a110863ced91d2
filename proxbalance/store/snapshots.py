"""Snapshots: write one :class:`ClusterSnapshot` (inside the caller's transaction) and read it back exactly.

``save_snapshot`` takes a Connection so the collector writes the snapshot, its history samples and the guest
inventory in ONE transaction. ``latest_snapshot``/``load_snapshot`` return model objects equal to what was
saved (a hypothesis test pins the round trip).
"""

from __future__ import annotations

import dataclasses
import json
import time
from typing import Any

from sqlalchemy import Connection, Engine, delete, func, select, update

from proxbalance.model import ClusterSnapshot, Disk, Guest, HARule, Node, Storage
from proxbalance.store.plain import plain
from proxbalance.store.schema import snapshot_extras, snapshot_guests, snapshot_nodes, snapshots


def _dumps(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"), allow_nan=True)


#: Guest rows are JSON arrays ``[version, *fields]``; each version's field order is frozen here (a test pins the
#: newest to :class:`Guest`: a model change adds a version, old rows keep decoding). Disks are ``[key, storage,
#: size, shared]``. Rows written as JSON objects (before versions) decode too.
GUEST_ROW_FIELDS = {1: ("vmid", "name", "type", "node", "status", "maxcpu", "cpu", "maxmem", "mem", "maxdisk",
                        "diskread", "diskwrite", "netin", "netout", "tags", "ha_managed", "ha_state", "lock",
                        "template", "pool", "disks", "passthrough", "bind_mounts", "uptime")}
DISK_ROW_FIELDS = {1: ("key", "storage", "size", "shared")}
GUEST_ROW_VERSION = 1
_TAGS, _DISKS = (GUEST_ROW_FIELDS[1].index(f) + 1 for f in ("tags", "disks"))


def guest_row(g: Guest) -> list:
    """The stored JSON array of a guest (:data:`GUEST_ROW_FIELDS` of :data:`GUEST_ROW_VERSION`)."""
    row = [GUEST_ROW_VERSION, *(getattr(g, f) for f in GUEST_ROW_FIELDS[GUEST_ROW_VERSION])]
    row[_TAGS] = list(g.tags)
    row[_DISKS] = [[d.key, d.storage, d.size, d.shared] for d in g.disks]
    return row


def _guests(rows: list) -> tuple[Guest, ...]:
    """Guests of decoded rows (arrays of a known version, or objects)."""
    out = []
    fast = tuple(f.name for f in dataclasses.fields(Guest)) == GUEST_ROW_FIELDS[1]
    for r in rows:
        if isinstance(r, dict):
            out.append(_guest(r))
            continue
        version, vals = r[0], r[1:]
        if version != 1:
            raise ValueError(f"unknown guest row version {version!r}")
        vals[_TAGS - 1] = tuple(vals[_TAGS - 1])
        vals[_DISKS - 1] = tuple([Disk(*d) for d in vals[_DISKS - 1]]) if vals[_DISKS - 1] else ()
        out.append(Guest(*vals) if fast else Guest(**dict(zip(GUEST_ROW_FIELDS[1], vals, strict=True))))
    return tuple(out)


def save_snapshot(conn: Connection, snap: ClusterSnapshot, *, api_calls: int = 0) -> int:
    """Insert ``snap`` with all its nodes, guests, storages and HA rules; return the snapshot id."""
    result = conn.execute(snapshots.insert().values(
        time=snap.time, duration=snap.duration, quorate=snap.quorate, cluster_name=snap.cluster_name,
        errors=_dumps(list(snap.errors)), api_calls=api_calls, node_count=len(snap.nodes),
        guest_count=len(snap.guests), has_detail=True))
    sid = int(result.inserted_primary_key[0])
    if snap.nodes:
        conn.execute(snapshot_nodes.insert(), [
            {"snapshot_id": sid, "pos": i, "name": n.name, "data": _dumps(plain(n))}
            for i, n in enumerate(snap.nodes)])
    if snap.guests:
        conn.execute(snapshot_guests.insert(), [
            {"snapshot_id": sid, "pos": i, "vmid": g.vmid, "node": g.node, "data": _dumps(guest_row(g))}
            for i, g in enumerate(snap.guests)])
    conn.execute(snapshot_extras.insert().values(
        snapshot_id=sid, storages=_dumps([plain(s) for s in snap.storages]),
        ha_rules=_dumps([plain(r) for r in snap.ha_rules])))
    return sid


def _node(data: dict) -> Node:
    return Node(**data)


def _guest(data: dict) -> Guest:
    data["tags"] = tuple(data["tags"])
    data["disks"] = tuple([Disk(**d) for d in data["disks"]]) if data["disks"] else ()
    return Guest(**data)


def _storage(data: dict) -> Storage:
    data["content"] = tuple(data["content"])
    return Storage(**data)


def _rule(data: dict) -> HARule:
    data["resources"] = tuple(data["resources"])
    data["nodes"] = tuple((n, p) for n, p in data["nodes"])
    return HARule(**data)


def load_snapshot(conn: Connection, snapshot_id: int) -> ClusterSnapshot | None:
    """The snapshot with this id, or None. Guests are empty once its detail was pruned."""
    row = conn.execute(select(snapshots).where(snapshots.c.id == snapshot_id)).one_or_none()
    if row is None:
        return None
    nodes = tuple(_node(json.loads(r.data)) for r in conn.execute(
        select(snapshot_nodes.c.data).where(snapshot_nodes.c.snapshot_id == snapshot_id)
        .order_by(snapshot_nodes.c.pos)))
    datas = conn.execute(select(snapshot_guests.c.data).where(snapshot_guests.c.snapshot_id == snapshot_id)
                         .order_by(snapshot_guests.c.pos)).scalars().all()
    guests = _guests(json.loads("[" + ",".join(datas) + "]"))  # one decode for all rows
    extras = conn.execute(select(snapshot_extras).where(snapshot_extras.c.snapshot_id == snapshot_id)).one_or_none()
    storages = tuple(_storage(s) for s in json.loads(extras.storages)) if extras else ()
    rules = tuple(_rule(r) for r in json.loads(extras.ha_rules)) if extras else ()
    return ClusterSnapshot(time=row.time, nodes=nodes, guests=guests, storages=storages, ha_rules=rules,
                           quorate=bool(row.quorate), cluster_name=row.cluster_name,
                           errors=tuple(json.loads(row.errors)), duration=row.duration)


def latest_snapshot_id(conn: Connection) -> int | None:
    return conn.execute(select(snapshots.c.id).where(snapshots.c.has_detail.is_(True))
                        .order_by(snapshots.c.time.desc(), snapshots.c.id.desc()).limit(1)).scalar()


def latest_snapshot(engine: Engine) -> ClusterSnapshot | None:
    """The newest complete snapshot, or None before the first collection."""
    with engine.connect() as conn:
        sid = latest_snapshot_id(conn)
        return None if sid is None else load_snapshot(conn, sid)


def latest_snapshot_info(engine: Engine) -> dict[str, Any] | None:
    """Metadata of the newest snapshot: id, time, duration, quorate, errors, api_calls, counts."""
    with engine.connect() as conn:
        row = conn.execute(select(snapshots).order_by(snapshots.c.time.desc(), snapshots.c.id.desc())
                           .limit(1)).one_or_none()
    if row is None:
        return None
    return {"id": row.id, "time": row.time, "duration": row.duration, "quorate": bool(row.quorate),
            "errors": json.loads(row.errors), "api_calls": row.api_calls, "node_count": row.node_count,
            "guest_count": row.guest_count}


def newest_snapshot_time(engine: Engine) -> float | None:
    """Unix seconds of the newest snapshot (complete or not); None when there is none."""
    with engine.connect() as conn:
        return conn.execute(select(func.max(snapshots.c.time))).scalar()


def snapshot_age_seconds(engine: Engine, now: float | None = None) -> float | None:
    """Seconds since the newest snapshot was taken; None when there is none."""
    newest = newest_snapshot_time(engine)
    if newest is None:
        return None
    return max(0.0, (time.time() if now is None else now) - newest)


def prune_snapshots(conn: Connection, *, keep_detail: int, older_than: float) -> int:
    """Drop guest/extra detail of all but the newest ``keep_detail`` snapshots, and whole snapshots older
    than ``older_than`` (Unix seconds). Returns the snapshots deleted."""
    ids = [r[0] for r in conn.execute(select(snapshots.c.id).where(snapshots.c.has_detail.is_(True))
                                      .order_by(snapshots.c.id.desc()).offset(keep_detail))]
    if ids:
        cutoff = max(ids)
        conn.execute(delete(snapshot_guests).where(snapshot_guests.c.snapshot_id <= cutoff))
        conn.execute(delete(snapshot_extras).where(snapshot_extras.c.snapshot_id <= cutoff))
        conn.execute(update(snapshots).where(snapshots.c.id <= cutoff).values(has_detail=False))
    old = [r[0] for r in conn.execute(select(snapshots.c.id).where(snapshots.c.time < older_than))]
    if old:
        top = max(old)
        conn.execute(delete(snapshot_nodes).where(snapshot_nodes.c.snapshot_id <= top))
        conn.execute(delete(snapshot_guests).where(snapshot_guests.c.snapshot_id <= top))
        conn.execute(delete(snapshot_extras).where(snapshot_extras.c.snapshot_id <= top))
        conn.execute(delete(snapshots).where(snapshots.c.id <= top))
    return len(old)
