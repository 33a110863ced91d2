"""Pause Python's cyclic garbage collector around one bounded, allocation-heavy computation (a decision).

A decision at 10,000 guests creates and frees a few hundred thousand container objects (decoded rows, records,
the skipped list, JSON). With the collector on, every 700 net allocations start a collection, and the
temporaries alive at that moment are promoted until a full collection walks every object of the process
(~70-200 ms per decision on the bench store, ``bench/engine.py``). Paused, the temporaries die by reference
count without ever being promoted; only what the decision keeps is examined later, as usual. Cyclic garbage
made meanwhile waits until the pause ends (bounded by one decision).

The collector is global: the pause is counted, so concurrent or nested pauses (threads of the API server)
re-enable it only when the last one ends, and only if it was enabled when the first began.
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator
from contextlib import contextmanager

_lock = threading.Lock()
_depth = 0
_was_enabled = False


@contextmanager
def gc_paused() -> Iterator[None]:
    """Run the body with the cyclic collector disabled (reference counting still frees everything else)."""
    global _depth, _was_enabled
    with _lock:
        if _depth == 0:
            _was_enabled = gc.isenabled()
            gc.disable()
        _depth += 1
    try:
        yield
    finally:
        with _lock:
            _depth -= 1
            if _depth == 0 and _was_enabled:
                gc.enable()
