"""A moving-window rate limiter shared by every process on the host: one small SQLite file.

Each counted request is one row ``(key, t)`` in ``ratelimit.sqlite`` (beside the database, in
``paths.data_dir``), and ``counts`` holds how many rows each key has. A hit is one ``BEGIN IMMEDIATE``
transaction that drops the key's rows older than the window (subtracting them from its count), compares
the count with the limit and adds one row if under it. So a key gets exactly ``limit`` requests in any
``window`` seconds however many gunicorn workers (or threads) serve it, and a hit costs a few index
lookups whatever the number of requests in the window (counting the rows instead took 4 ms at 30,000).
The file holds nothing that must survive a crash (``synchronous=OFF``); ``t`` is wall-clock Unix seconds.

Writers queue on an exclusive ``flock`` of ``ratelimit.sqlite.lock`` before ``BEGIN IMMEDIATE``: the kernel
wakes the next waiter the moment the lock is released, where SQLite's own busy handler sleeps 1, 2, 5, 10 ...
ms between retries, which put 50-80 ms into the p99 of every API request at 8 concurrent clients.
"""

from __future__ import annotations

import fcntl
import os
import sqlite3
import threading
import time
from pathlib import Path

#: ``PRAGMA user_version`` of the layout above (1: ``hits`` only, counted on every hit)
LAYOUT = 2


class SharedWindow:
    """``hit(key, limit, window)`` -> (allowed, remaining, reset_epoch)."""

    def __init__(self, path: Path | str):
        self.path = str(path)
        Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        self._local = threading.local()
        conn = self._conn()
        conn.execute("BEGIN IMMEDIATE")  # workers starting together: one creates, the others see it done
        try:
            if conn.execute("PRAGMA user_version").fetchone()[0] < LAYOUT:
                conn.execute("CREATE TABLE IF NOT EXISTS hits (key TEXT NOT NULL, t REAL NOT NULL)")
                conn.execute("CREATE INDEX IF NOT EXISTS ix_hits_key_t ON hits (key, t)")
                conn.execute("CREATE TABLE IF NOT EXISTS counts (key TEXT PRIMARY KEY, n INTEGER NOT NULL)"
                             " WITHOUT ROWID")
                conn.execute("DELETE FROM counts")
                conn.execute("INSERT INTO counts (key, n) SELECT key, count(*) FROM hits GROUP BY key")
                conn.execute(f"PRAGMA user_version={LAYOUT}")
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise

    def _conn(self) -> sqlite3.Connection:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(self.path, timeout=10, isolation_level=None, check_same_thread=False)
            conn.execute("PRAGMA busy_timeout=10000")
            deadline = time.monotonic() + 10
            while conn.execute("PRAGMA journal_mode").fetchone()[0].lower() != "wal":
                try:  # switching needs a moment alone with the file: workers starting together retry
                    conn.execute("PRAGMA journal_mode=WAL")
                except sqlite3.OperationalError:
                    if time.monotonic() > deadline:
                        raise
                    time.sleep(0.01)
            conn.execute("PRAGMA synchronous=OFF")
            self._local.conn = conn
            # one descriptor per thread: flock locks belong to the open file, so threads exclude each other
            self._local.lock = os.open(self.path + ".lock", os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        return conn

    def hit(self, key: str, limit: int, window: float) -> tuple[bool, int, float]:
        conn = self._conn()
        lock = self._local.lock
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            return self._hit(conn, key, limit, window)
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)

    def _hit(self, conn: sqlite3.Connection, key: str, limit: int, window: float) -> tuple[bool, int, float]:
        now = time.time()
        conn.execute("BEGIN IMMEDIATE")
        try:
            expired = conn.execute("DELETE FROM hits WHERE key = ? AND t <= ?", (key, now - window)).rowcount
            kept, oldest = conn.execute("SELECT (SELECT n FROM counts WHERE key = ?), "
                                        "(SELECT min(t) FROM hits WHERE key = ?)", (key, key)).fetchone()
            count = (kept or 0) - expired
            allowed = count < limit
            if allowed:
                conn.execute("INSERT INTO hits (key, t) VALUES (?, ?)", (key, now))
                count += 1
                oldest = now if oldest is None else oldest
            if allowed or expired:
                conn.execute("INSERT INTO counts (key, n) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET n = "
                             "excluded.n", (key, count))
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        return allowed, max(0, limit - count), (oldest if oldest is not None else now) + window
