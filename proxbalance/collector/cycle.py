"""One collection cycle: PVE -> ClusterSnapshot -> store, in one transaction or not at all.

``collect_once(settings, store)`` fetches the cluster with O(nodes) API calls (collector.fetch), builds the
snapshot, samples and guest inventory (collector.build), and writes snapshot + samples + inventory + rollups +
retention in ONE transaction. A node that does not answer is recorded (``Node.reachable=False`` and an entry
in ``errors``) and the cycle continues; a lost quorum is recorded (``quorate=False``); a cluster that does not
answer at all raises :class:`UpstreamError` (or :class:`ProxmoxAuthError`) and writes nothing. After the
first run, or after a gap, day/week history is backfilled from rrddata (collector.backfill).
"""

from __future__ import annotations

import logging
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass, field, replace

from proxbalance import metrics
from proxbalance.collector.backfill import backfill, clock_skew
from proxbalance.collector.build import build, plan_config_reads
from proxbalance.collector.fetch import fetch_cluster, fetch_details
from proxbalance.config import Settings
from proxbalance.errors import ConflictError, ProxBalanceError
from proxbalance.pve.client import PveClient
from proxbalance.store import Store, leases
from proxbalance.store.history import insert_raw, last_sample_time
from proxbalance.store.inventory import get_state, load_inventory, replace_inventory, set_state
from proxbalance.store.rollups import Retention, ensure_markers, maintain
from proxbalance.store.snapshots import save_snapshot
from proxbalance.store.status import LAST_COLLECTION, record_failure
from proxbalance.store.tx import write_tx

log = logging.getLogger(__name__)
HOUR = 3600
_LOCK = threading.Lock()  # one collection at a time per process (API refresh vs scheduler)
LEASE_NAME = "collection"
LEASE_TTL = 60.0  # seconds; renewed every 20 s while a cycle runs, so a dead holder frees it within a minute


@dataclass(frozen=True)
class CollectionResult:
    """Outcome of one cycle. ``api_calls`` excludes the backfill's, reported in ``backfill_calls``."""

    snapshot_id: int
    time: float  # Unix seconds when the cycle started
    duration: float  # seconds, fetch + build + write (not the backfill)
    api_calls: int
    quorate: bool
    errors: tuple[str, ...]
    nodes: int
    guests: int
    unreachable_nodes: tuple[str, ...] = ()
    configs_read: int = 0
    backfill_rows: int = 0
    backfill_calls: int = 0
    backfill_errors: tuple[str, ...] = field(default=())

    def as_dict(self) -> dict:
        return {k: (list(v) if isinstance(v, tuple) else v) for k, v in asdict(self).items()}

    def summary(self) -> str:
        text = (f"snapshot {self.snapshot_id}: {self.nodes} nodes, {self.guests} guests, {self.api_calls} API calls, "
                f"{self.duration:.2f} s, quorate={'yes' if self.quorate else 'NO'}")
        if self.unreachable_nodes:
            text += f", unreachable: {', '.join(self.unreachable_nodes)}"
        if self.errors:
            text += f", {len(self.errors)} error(s)"
        if self.backfill_rows:
            text += f", backfilled {self.backfill_rows} hourly rows ({self.backfill_calls} calls)"
        return text


def _gap(settings: Settings) -> float:
    """Seconds without samples after which history is backfilled again."""
    return max(3 * settings["collection.interval_seconds"], 900)


def collect_once(settings: Settings, store: Store, client: PveClient | None = None,
                 now: float | None = None, *, wait: bool = True) -> CollectionResult:
    """Run one cycle; raise UpstreamError/ProxmoxAuthError (nothing written) when the cluster cannot be read.

    ``wait=False`` raises ConflictError instead of waiting when another cycle runs in this process. A cycle
    running in another process or host (the ``collection`` lease, see store/leases.py) always gives
    ConflictError at once: the second collection is skipped, not queued.
    """
    if not _LOCK.acquire(blocking=wait):
        metrics.collections.labels("skipped").inc()
        raise ConflictError("a collection is already running in this process; skipped",
                            details={"lease": LEASE_NAME})
    try:
        try:
            with leases.holding(store.engine, LEASE_NAME, LEASE_TTL):  # one cycle across workers, CLI, hosts
                result = _collect(settings, store, client or PveClient(settings), now)
        except ConflictError as exc:
            metrics.collections.labels("skipped").inc()
            raise ConflictError(f"a collection is already running ({(exc.details or {}).get('holder')}); skipped",
                                details=exc.details) from None
        except ProxBalanceError as exc:
            metrics.collections.labels("failed").inc()
            record_failure(store.engine, time.time() if now is None else float(now), exc.message)
            raise
        metrics.collections.labels("partial" if result.errors else "ok").inc()
        metrics.collection_duration.set(result.duration)
        return result
    finally:
        _LOCK.release()


def _collect(settings: Settings, store: Store, client: PveClient, now: float | None) -> CollectionResult:
    t = time.time() if now is None else float(now)
    started = time.perf_counter()
    calls0 = client.calls
    engine = store.engine
    with engine.connect() as conn:
        inventory = load_inventory(conn)
        cycle = int(get_state(conn, "cycle", 0)) + 1
        last_t = last_sample_time(conn)
        backfilled = get_state(conn, "backfilled_until") is not None  # a killed backfill never set it
    with ThreadPoolExecutor(max_workers=settings["proxmox.max_parallel"]) as pool:
        raw = fetch_cluster(client, pool)
        online = [n for n in raw.node_names() if raw.node_online(n)]
        cap = settings["collection.config_reads_per_cycle"] or max(1, len(online))
        targets = plan_config_reads(raw, inventory, cycle, settings["collection.config_refresh_cycles"], cap)
        fetch_details(client, pool, raw, targets)
    built = build(raw, inventory, t, cycle)
    api_calls = client.calls - calls0
    duration = time.perf_counter() - started
    snap = replace(built.snapshot, duration=duration)
    with write_tx(engine, timeout=60) as conn:  # the one transaction: all of it or nothing
        sid = save_snapshot(conn, snap, api_calls=api_calls)
        newest = last_sample_time(conn)
        if newest is None or int(t) > newest:  # two cycles in one second keep one sample (key is (t, id))
            insert_raw(conn, built.node_samples, built.guest_samples)
        replace_inventory(conn, built.inventory)
        set_state(conn, "cycle", cycle)
        set_state(conn, LAST_COLLECTION, {"time": t, "ok": True, "error": None})
        ensure_markers(conn, t)
        maintain(conn, t, Retention.from_settings(settings))
    result = CollectionResult(
        snapshot_id=sid, time=t, duration=duration, api_calls=api_calls, quorate=snap.quorate,
        errors=snap.errors, nodes=len(snap.nodes), guests=len(snap.guests),
        unreachable_nodes=tuple(n.name for n in snap.nodes if n.online and not n.reachable),
        configs_read=built.configs_read)
    if settings["collection.backfill"] and (last_t is None or not backfilled or t - last_t > _gap(settings)):
        # first run, or the first backfill never finished (retried: it only fills hours without own data)
        lo = int(t - 8 * 86400) if last_t is None or not backfilled else -(-int(last_t) // HOUR) * HOUR
        hi = int(t) // HOUR * HOUR
        if hi > lo:
            calls1 = client.calls
            try:
                rows, errs = backfill(engine, client, snap, lo, hi, settings["collection.backfill_parallel"],
                                      clock_skew(t, raw.node_rrd))
            except ProxBalanceError as exc:  # the snapshot is written; a failed backfill is only reported
                rows, errs = 0, [f"backfill: {exc.message}"]
            result = replace(result, backfill_rows=rows, backfill_calls=client.calls - calls1,
                              backfill_errors=tuple(errs))
    log.info("collection: %s", result.summary())
    from proxbalance import (
        score_history,  # imported here: score_history reads the engine, the collector does not
    )

    score_history.after_collection(settings, store, snap)
    return result
