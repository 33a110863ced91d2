""""Has anything been committed since I last looked?" for caches in a process, asked once per request.

:class:`DataVersion` gives a process-wide generation number that moves whenever a commit by any connection
may have changed the data: this process' pool, another worker process, the CLI, a collection. On a SQLite
file it keeps one raw connection of its own that only ever runs ``PRAGMA data_version``, whose value changes
when any *other* connection has committed to the file since that connection last asked (SQLite documents it
for every journal mode and across processes). Asking costs a few microseconds, so an API worker can keep
what it derived from the database (a key lookup, the newest snapshot, a serialised answer) for as long as
the generation stays the same, and no commit anywhere can leave it answering from old data.

Other backends (PostgreSQL through ``database.url``) and in-memory SQLite give a new generation on every
call: nothing is kept, every request reads the database as before.

:class:`Memo` is the cache itself: values by key, all dropped when the generation moves.
"""

from __future__ import annotations

import itertools
import os
import sqlite3
import threading
from collections.abc import Callable, Hashable
from typing import Any, TypeVar

from sqlalchemy import Engine

T = TypeVar("T")


class DataVersion:
    """``current()`` -> int, a generation that increases when the database may have changed."""

    def __init__(self, engine: Engine):
        url = engine.url
        self._path = url.database if url.get_backend_name() == "sqlite" and url.database not in (None, "",
                                                                                                 ":memory:") else None
        self._lock = threading.Lock()
        self._conn: sqlite3.Connection | None = None
        self._pid = os.getpid()
        self._seen: int | None = None
        self._generation = 0
        self._never = itertools.count(1)

    @property
    def tracks_changes(self) -> bool:
        """False when every call is a new generation (not a SQLite file)."""
        return self._path is not None

    def current(self) -> int:
        if self._path is None:
            return next(self._never)
        with self._lock:
            if self._pid != os.getpid():  # a forked child never uses its parent's SQLite connection
                self._conn, self._seen, self._pid = None, None, os.getpid()
            try:
                if self._conn is None:
                    self._conn = sqlite3.connect(self._path, isolation_level=None, check_same_thread=False)
                seen = self._conn.execute("PRAGMA data_version").fetchone()[0]
            except sqlite3.Error:  # cannot tell: assume it changed (and reconnect next time)
                self._close()
                seen = None
            if seen is None or seen != self._seen:
                self._seen = seen
                self._generation += 1
            return self._generation

    def _close(self) -> None:
        if self._conn is not None:
            try:
                self._conn.close()
            except sqlite3.Error:
                pass
        self._conn = None

    def close(self) -> None:
        with self._lock:
            self._close()
            self._seen = None
            self._generation += 1


class Memo:
    """Values derived from the database, kept until the generation moves; at most ``max_entries`` per
    generation (beyond that, values are computed and not kept, so odd keys cannot grow memory). ``None`` is
    never kept (a missing key or row is looked up again).

    Single flight: requests that miss the same key in the same generation while it is being computed wait
    for that one computation (under the GIL, computing it in parallel only makes every one of them slower);
    when it fails, each computes on its own."""

    def __init__(self, max_entries: int = 256):
        self.max_entries = max_entries
        self._lock = threading.Lock()
        self._generation: int | None = None
        self._values: dict[Hashable, Any] = {}
        self._flights: dict[tuple[int, Hashable], _Flight] = {}

    def get(self, generation: int, key: Hashable, compute: Callable[[], T]) -> T:
        """The value kept for ``key`` in ``generation``, else ``compute()`` (kept if still current)."""
        with self._lock:
            if generation == self._generation and key in self._values:
                return self._values[key]
            flight = self._flights.get((generation, key))
            leader = flight is None
            if leader:
                flight = self._flights[(generation, key)] = _Flight()
        if not leader:
            flight.done.wait()
            if flight.ok:
                return flight.value
            return compute()
        try:
            value = compute()  # outside the lock: one slow computation must not hold up other keys
            flight.value, flight.ok = value, True
        finally:
            with self._lock:
                del self._flights[(generation, key)]
            flight.done.set()
        with self._lock:
            if generation != self._generation:
                if self._generation is not None and generation < self._generation:
                    return value  # computed under an older generation: don't keep it
                self._generation, self._values = generation, {}
            if value is not None and len(self._values) < self.max_entries:
                self._values[key] = value
        return value

    def clear(self) -> None:
        with self._lock:
            self._generation, self._values = None, {}


class _Flight:
    __slots__ = ("done", "ok", "value")

    def __init__(self) -> None:
        self.done = threading.Event()
        self.ok = False
        self.value: Any = None
