"""Simulated time: a fixed epoch plus elapsed sim seconds, either scaled wall time or stepped by hand."""

from __future__ import annotations

import threading
import time


class SimClock:
    """``now()`` = ``epoch + offset + speed * (wall - wall_start)``; stepped clocks ignore the wall.

    ``advance(s)`` adds ``s`` seconds to the offset in both modes (a time jump in speed mode).
    """

    def __init__(self, epoch: float, speed: float = 1.0, stepped: bool = False):
        self.epoch = float(epoch)
        self.speed = float(speed)
        self.stepped = stepped
        self._offset = 0.0
        self._wall0 = time.monotonic()
        self._lock = threading.Lock()

    def elapsed(self) -> float:
        with self._lock:
            if self.stepped:
                return self._offset
            return self._offset + self.speed * (time.monotonic() - self._wall0)

    def now(self) -> float:
        return self.epoch + self.elapsed()

    def advance(self, seconds: float) -> None:
        if seconds < 0:
            raise ValueError("sim time only moves forward")
        with self._lock:
            self._offset += float(seconds)
