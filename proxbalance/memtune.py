"""Keep freed heap memory in the process for the next decision instead of returning it to the OS (glibc only).

A decision at 10,000 guests x 64 nodes allocates dozens of ``(G, N)`` float arrays (5 MB each) and frees them.
With glibc's default, blocks that large are mapped fresh (``mmap``) and unmapped on free, and the heap top is
trimmed, so every decision page-faults its working set in again (~11,000 minor faults per ``plan()`` on
``bench/engine.py``'s cluster; the score phase ~78 -> ~57 ms CPU with the settings below). :func:`keep_heap`
raises the mmap threshold to 32 MiB and the trim threshold to 256 MiB (``mallopt``), once per process: the
arrays come from the heap and the pages stay mapped between decisions. The cost is resident memory: up to the
high-water mark of one decision stays reserved (free heap above 256 MiB is still returned).

Nothing changes where the C library is not glibc (no ``mallopt``): the call is then a no-op.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import threading

M_TRIM_THRESHOLD, M_MMAP_THRESHOLD = -1, -3  # glibc malloc.h
MMAP_THRESHOLD = 32 * 1024 * 1024  # glibc's maximum for a dynamic threshold on 64-bit
TRIM_THRESHOLD = 256 * 1024 * 1024

_lock = threading.Lock()
_done: bool | None = None  # None: not tried yet; else whether glibc took the settings


def keep_heap() -> bool:
    """Apply the settings once per process; True when glibc accepted them."""
    global _done
    with _lock:
        if _done is None:
            _done = False
            try:
                libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
                mallopt = libc.mallopt
            except (OSError, AttributeError):
                return False
            mallopt.argtypes, mallopt.restype = (ctypes.c_int, ctypes.c_int), ctypes.c_int
            _done = bool(mallopt(M_MMAP_THRESHOLD, MMAP_THRESHOLD)) and bool(mallopt(M_TRIM_THRESHOLD,
                                                                                     TRIM_THRESHOLD))
        return _done
