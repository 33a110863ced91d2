"""Rollups (raw -> 5 min -> 1 h) and retention (raw 48 h, 5 min 14 d, 1 h 1 year: ``retention.*`` settings).

Markers in ``collector_state``: ``rollup_5m_until`` / ``rollup_1h_until`` are the end (Unix seconds, exclusive)
of what has been rolled up. Only complete buckets are rolled (a 5-minute bucket once ``now`` passed its end, an
hour once all its 5-minute buckets are rolled), so each bucket is written exactly once. History readers use the
markers to stitch resolutions (store/history.py).
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Connection, Integer, Table, cast, delete, func, insert, literal, select

from proxbalance.store import recent_summary, usage_summary
from proxbalance.store.inventory import get_state, set_state
from proxbalance.store.schema import guest_1h, guest_5m, guest_raw, node_1h, node_5m, node_raw
from proxbalance.store.snapshots import prune_snapshots

FIVE_MIN = 300
HOUR = 3600


@dataclass(frozen=True, slots=True)
class Retention:
    """Seconds each resolution is kept, and how many snapshots keep their full guest detail."""

    raw: float = 48 * HOUR
    five_min: float = 14 * 86400
    hourly: float = 365 * 86400
    full_snapshots: int = 30

    @classmethod
    def from_settings(cls, settings) -> Retention:
        return cls(raw=settings["retention.raw_hours"] * HOUR, five_min=settings["retention.five_min_days"] * 86400,
                   hourly=settings["retention.hourly_days"] * 86400,
                   full_snapshots=settings["retention.full_snapshots"])


def ensure_markers(conn: Connection, first_sample_time: float) -> None:
    """Before the first rollup: start both markers at the bucket holding the first own sample."""
    if get_state(conn, "rollup_5m_until") is None:
        set_state(conn, "rollup_5m_until", int(first_sample_time) // FIVE_MIN * FIVE_MIN)
    if get_state(conn, "rollup_1h_until") is None:
        set_state(conn, "rollup_1h_until", int(first_sample_time) // HOUR * HOUR)


def _roll(conn: Connection, src: Table, dst: Table, key: str, metrics: tuple[str, ...], size: int,
          lo: int, hi: int, *, from_raw: bool, integer: bool) -> None:
    bucket = (src.c.t // size) * size
    cols = [cast(bucket, Integer).label("t"), src.c[key]]
    names = ["t", key]
    for m in metrics:
        col = src.c[m]
        if from_raw:
            avg, mx, n = func.avg(col), func.max(col), func.count()
        else:
            avg = func.sum(col * src.c.n) * 1.0 / func.sum(src.c.n)
            mx, n = func.max(src.c[m + "_max"]), func.sum(src.c.n)
        cols += [cast(func.round(avg), Integer) if integer else avg,
                 mx if not integer else cast(mx, Integer)]
        names += [m, m + "_max"]
    cols.append(n if metrics else literal(0))
    names.append("n")
    query = (select(*cols).where(src.c.t >= lo, src.c.t < hi)
             .group_by(cast(bucket, Integer), src.c[key]))
    conn.execute(insert(dst).from_select(names, query))


#: (raw, 5-minute, hourly table, key column, metrics, integer key?) for guests and nodes
_SERIES = (
    (guest_raw, guest_5m, guest_1h, "vmid", ("cpu", "mem", "disk", "net"), True),
    (node_raw, node_5m, node_1h, "node", ("cpu", "mem", "iowait", "net"), False),
)


def rollup(conn: Connection, now: float) -> tuple[int, int]:
    """Roll every complete 5-minute bucket and hour not yet rolled; return the new markers."""
    m5 = get_state(conn, "rollup_5m_until")
    m1 = get_state(conn, "rollup_1h_until")
    if m5 is None or m1 is None:
        return m5 or 0, m1 or 0
    end5 = int(now) // FIVE_MIN * FIVE_MIN
    if end5 > m5:
        for raw, five, _hour, key, metrics, integer in _SERIES:
            _roll(conn, raw, five, key, metrics, FIVE_MIN, m5, end5, from_raw=True, integer=integer)
        m5 = end5
        set_state(conn, "rollup_5m_until", m5)
    end1 = m5 // HOUR * HOUR
    if end1 > m1:
        for _raw, five, hour, key, metrics, integer in _SERIES:
            _roll(conn, five, hour, key, metrics, HOUR, m1, end1, from_raw=False, integer=integer)
        m1 = end1
        set_state(conn, "rollup_1h_until", m1)
    usage_summary.refresh(conn, m1)  # a no-op when current; incremental after one new hour
    recent_summary.refresh(conn)  # rebuilt when a marker moved (every 5 minutes), else kept by insert_raw
    return m5, m1


def apply_retention(conn: Connection, now: float, retention: Retention) -> None:
    """Delete what is older than each resolution's retention; prune snapshot detail."""
    raw_cut = int(now - retention.raw)
    m5 = get_state(conn, "rollup_5m_until", 0) or 0
    raw_cut = min(raw_cut, m5)  # never drop raw rows that are not rolled up yet
    for table, cut in ((guest_raw, raw_cut), (node_raw, raw_cut),
                       (guest_5m, int(now - retention.five_min)), (node_5m, int(now - retention.five_min)),
                       (guest_1h, int(now - retention.hourly)), (node_1h, int(now - retention.hourly))):
        conn.execute(delete(table).where(table.c.t < cut))
    prune_snapshots(conn, keep_detail=retention.full_snapshots, older_than=now - retention.raw)


def maintain(conn: Connection, now: float, retention: Retention) -> tuple[int, int]:
    """Rollups then retention, in the caller's transaction."""
    markers = rollup(conn, now)
    apply_retention(conn, now, retention)
    return markers
