"""The newest snapshot and its usage history, decoded once per collection (per process), for decisions.

A decision reads the newest snapshot (at 10,000 guests ~150 ms of JSON rows turned into ``Guest`` objects) and
the usage history at the snapshot's time (~150 ms of aggregation). Both are functions of the collected data
alone, and that data only changes when a collection cycle (snapshot, samples, rollups, retention, backfill)
commits. :class:`DecisionInputs` keeps the last ``(snapshot, history)`` with a *signature* of the collected data,
read in one query of a few index look-ups:

* the newest complete snapshot's id, time and guest count (every collection inserts a new snapshot);
* every ``collector_state`` row (rollup markers, the usage summary's marker and generation, ...);
* the newest raw sample time and the number of raw / 5-minute rows after the rollup markers (guests and
  nodes: rows written outside a collection change it too).

While the signature is unchanged the kept pair is returned; commits that do not touch collected data (a saved
recommendation run, audit rows, settings) keep it. So a decision after a new collection always sees the new
data, and repeated decisions on the same collection (API calls, automation re-planning, what-ifs) skip the
decode. The kept objects are shared: ``ClusterSnapshot`` is frozen, the history's arrays are made read-only.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable

from sqlalchemy import Connection, Engine, text

from proxbalance.model import ClusterSnapshot, UsageHistory

Loader = Callable[[Engine], tuple[ClusterSnapshot | None, UsageHistory | None]]

_SIGNATURE_SQL = """
SELECT s.id, s.time, s.guest_count, (SELECT MAX(t) FROM guest_raw), (SELECT MAX(t) FROM node_raw),
  (SELECT COUNT(*) FROM guest_raw WHERE t >= :m5), (SELECT COUNT(*) FROM node_raw WHERE t >= :m5),
  (SELECT COUNT(*) FROM guest_5m WHERE t >= :m1), (SELECT COUNT(*) FROM node_5m WHERE t >= :m1)
FROM (SELECT 1) AS one LEFT JOIN (SELECT id, time, guest_count FROM snapshots WHERE has_detail
  ORDER BY time DESC, id DESC LIMIT 1) AS s ON 1 = 1
"""


def signature(conn: Connection) -> tuple:
    """A tuple that changes whenever the collected data a decision reads may have changed."""
    state = tuple(tuple(r) for r in conn.execute(text("SELECT key, value FROM collector_state ORDER BY key")))
    marks = dict(state)
    m5, m1 = (_marker(marks.get(k)) for k in ("rollup_5m_until", "rollup_1h_until"))
    return (*conn.execute(text(_SIGNATURE_SQL), {"m5": m5, "m1": m1}).one(), state)


def _marker(value: str | None) -> int:
    try:
        return int(json.loads(value)) if value is not None else 0
    except (TypeError, ValueError):
        return 0


def _freeze(history: UsageHistory | None) -> None:
    for table in (history.guest_table, history.node_table) if history is not None else ():
        if table is not None and hasattr(table.values, "setflags"):
            table.values.setflags(write=False)


def _load(engine: Engine) -> tuple[ClusterSnapshot | None, UsageHistory | None]:
    from proxbalance.store.history import usage_history
    from proxbalance.store.snapshots import latest_snapshot

    snap = latest_snapshot(engine)
    return (None, None) if snap is None else (snap, usage_history(engine, now=snap.time))


class DecisionInputs:
    """``get(engine)`` -> ``(newest snapshot, its usage history)``, or ``(None, None)`` before the first
    collection; decoded again only when :func:`signature` moved. ``hits``/``misses`` count answers."""

    def __init__(self, loader: Loader = _load):
        self._loader = loader
        self._lock = threading.Lock()
        self._key: tuple | None = None
        self._value: tuple[ClusterSnapshot | None, UsageHistory | None] = (None, None)
        self.hits = 0
        self.misses = 0

    def get(self, engine: Engine) -> tuple[ClusterSnapshot | None, UsageHistory | None]:
        with self._lock:  # one decode at a time: a second caller waits and then hits
            with engine.connect() as conn:
                key = signature(conn)
            if key == self._key and key[0] is not None:
                self.hits += 1
                return self._value
            value = self._loader(engine)
            with engine.connect() as conn:  # kept only if nothing was collected while decoding
                again = signature(conn)
            self.misses += 1
            _freeze(value[1])
            self._key, self._value = (key, value) if again == key else (None, (None, None))
            return value

    def clear(self) -> None:
        with self._lock:
            self._key, self._value = None, (None, None)
