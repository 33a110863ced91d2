"""The collector: PVE -> ClusterSnapshot -> store, once a cycle.

Modules: ``fetch`` (raw PVE data in two parallel phases), ``build`` (pure: snapshot, samples, inventory),
``backfill`` (day/week history from rrddata), ``cycle`` (one collection in one transaction, under the
``collection`` lease) and ``cli`` (``proxbalance collect``). The cycle's public names are re-exported here.
"""

from __future__ import annotations

from proxbalance.collector.cycle import _LOCK, LEASE_NAME, LEASE_TTL, CollectionResult, collect_once

__all__ = ["LEASE_NAME", "LEASE_TTL", "CollectionResult", "_LOCK", "collect_once"]
