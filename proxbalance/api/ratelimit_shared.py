"""A moving-window rate limiter shared by every process on the host: one small SQLite file.

Each counted request is one row ``(key, t)`` in ``ratelimit.sqlite`` (beside the database, in
``paths.data_dir``); a hit is one ``BEGIN IMMEDIATE`` transaction that drops rows older than the window,
counts the rest and adds one if under the limit. So a key gets exactly ``limit`` requests in any
``window`` seconds however many gunicorn workers (or threads) serve it. The file holds nothing that must
survive a crash (``synchronous=OFF``); ``t`` is wall-clock Unix seconds.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from pathlib import Path


class SharedWindow:
    """``hit(key, limit, window)`` -> (allowed, remaining, reset_epoch)."""

    def __init__(self, path: Path | str):
        self.path = str(path)
        Path(self.path).parent.mkdir(parents=True, exist_ok=True)
        self._local = threading.local()
        conn = self._conn()
        conn.execute("CREATE TABLE IF NOT EXISTS hits (key TEXT NOT NULL, t REAL NOT NULL)")
        conn.execute("CREATE INDEX IF NOT EXISTS ix_hits_key_t ON hits (key, t)")

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
        return conn

    def hit(self, key: str, limit: int, window: float) -> tuple[bool, int, float]:
        conn = self._conn()
        now = time.time()
        conn.execute("BEGIN IMMEDIATE")
        try:
            conn.execute("DELETE FROM hits WHERE key = ? AND t <= ?", (key, now - window))
            count, oldest = conn.execute("SELECT count(*), min(t) FROM hits WHERE key = ?", (key,)).fetchone()
            allowed = count < limit
            if allowed:
                conn.execute("INSERT INTO hits (key, t) VALUES (?, ?)", (key, now))
                count += 1
                oldest = now if oldest is None else oldest
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        return allowed, max(0, limit - count), (oldest if oldest is not None else now) + window
