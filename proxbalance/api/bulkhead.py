"""Bulkhead for Proxmox-bound request work: a slow or dead Proxmox never holds the server's threads.

Request handlers that must ask Proxmox live (task status, permissions, a refresh, ...) call
``run(fn, *args)``. The call runs on a small pool of its own (``server.proxmox_workers`` threads per
process); the handler waits at most ``server.proxmox_wait_seconds`` and then answers 504
(``proxmox_timeout``; the work goes on in the background and keeps its slot until it ends). When every slot
is taken the request is refused at once with 503 (``proxmox_busy``, ``Retry-After``), so at most
``proxmox_workers`` server threads per process ever wait on Proxmox and the others stay free for
``/api/health``, ``/metrics`` and store reads.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Any, TypeVar

from proxbalance.errors import UpstreamError

T = TypeVar("T")


class ProxmoxBusyError(UpstreamError):
    code = "proxmox_busy"


class ProxmoxTimeoutError(UpstreamError):
    status = 504
    code = "proxmox_timeout"


class Bulkhead:
    """``workers`` threads and as many slots; ``wait`` seconds a caller waits for its result at most."""

    def __init__(self, workers: int, wait: float):
        self.workers = workers
        self.wait = wait
        self._slots = threading.BoundedSemaphore(workers)
        self._pool = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="pve-bulkhead")
        self.in_flight = 0
        self._lock = threading.Lock()

    def run(self, fn: Callable[..., T], *args: Any, bulkhead_wait: float | None = None, **kwargs: Any) -> T:
        if not self._slots.acquire(blocking=False):
            raise ProxmoxBusyError(f"all {self.workers} Proxmox request slots are busy (Proxmox is slow); "
                                   "try again shortly", details={"retry_after_seconds": 5})
        with self._lock:
            self.in_flight += 1

        def job():
            try:
                return fn(*args, **kwargs)
            finally:
                with self._lock:
                    self.in_flight -= 1
                self._slots.release()

        try:
            future = self._pool.submit(job)
        except RuntimeError:  # pool shut down
            with self._lock:
                self.in_flight -= 1
            self._slots.release()
            raise
        limit = self.wait if bulkhead_wait is None else bulkhead_wait
        try:
            return future.result(timeout=limit)
        except FutureTimeout:
            raise ProxmoxTimeoutError(f"Proxmox did not answer within {limit:g} s; the request goes on in the "
                                      "background", details={"wait_seconds": limit}) from None

    def shutdown(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)


def run(fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Run ``fn`` on the current app's bulkhead (see module docstring)."""
    from proxbalance.api.state import state

    return state().bulkhead.run(fn, *args, **kwargs)
