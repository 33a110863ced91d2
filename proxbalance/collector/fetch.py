"""Fetch one cycle's raw PVE data in two parallel phases, with a bounded thread pool.

Phase 1 (must succeed, or the cycle fails and nothing is written): ``/cluster/status`` and
``/cluster/resources``. Phase 2 (failures are recorded, the cycle continues): HA resources, HA manager status,
HA rules, ``/storage``, and per online node ``/nodes/{n}/status``, the ``hour`` rrddata and
``/nodes/{n}/storage``, plus the guest configs the caller asks for. Steady state: ``3 x nodes + 6`` calls plus
at most one due config per node.
"""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from proxbalance.errors import ProxmoxAuthError, UpstreamError
from proxbalance.pve.client import PveClient
from proxbalance.pve.parse import as_bool


@dataclass
class RawCluster:
    """What phase 1 and 2 returned. ``errors`` are human-readable problems of this cycle."""

    status: list[dict[str, Any]]
    resources: list[dict[str, Any]]
    ha_resources: list[dict[str, Any]] = field(default_factory=list)
    ha_manager: dict[str, Any] = field(default_factory=dict)
    ha_rules: list = field(default_factory=list)
    storage_config: list[dict[str, Any]] = field(default_factory=list)
    node_status: dict[str, dict[str, Any]] = field(default_factory=dict)
    node_rrd: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    node_storage: dict[str, list] = field(default_factory=dict)
    unreachable: set[str] = field(default_factory=set)  # online per cluster status, but did not answer
    configs: dict[int, dict[str, Any]] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)

    @property
    def quorate(self) -> bool:
        row = next((r for r in self.status if r.get("type") == "cluster"), None)
        return True if row is None else as_bool(row.get("quorate", 0))  # a single node has no cluster row

    @property
    def cluster_name(self) -> str:
        row = next((r for r in self.status if r.get("type") == "cluster"), None)
        return str(row.get("name", "")) if row else ""

    def node_names(self) -> list[str]:
        names = {str(r["name"]) for r in self.status if r.get("type") == "node" and r.get("name")}
        names |= {str(r["node"]) for r in self.resources if r.get("type") == "node" and r.get("node")}
        return sorted(names)

    def node_online(self, name: str) -> bool:
        """Online per ``/cluster/status`` (and ``/cluster/resources`` when status has no row for it)."""
        row = next((r for r in self.status if r.get("type") == "node" and r.get("name") == name), None)
        if row is not None:
            return as_bool(row.get("online", 0))
        res = next((r for r in self.resources if r.get("type") == "node" and r.get("node") == name), None)
        return bool(res) and res.get("status") == "online"


def _run(pool: ThreadPoolExecutor, jobs: dict[Any, Callable[[], Any]]) -> dict[Any, Any]:
    """Run jobs concurrently; each result is the value or the exception it raised."""
    futures = {key: pool.submit(fn) for key, fn in jobs.items()}
    out: dict[Any, Any] = {}
    for key, fut in futures.items():
        exc = fut.exception()
        out[key] = exc if exc is not None else fut.result()
    return out


def _fatal(result: Any) -> None:
    if isinstance(result, ProxmoxAuthError):
        raise result
    if isinstance(result, UpstreamError):
        raise UpstreamError(f"cluster unreachable, nothing written: {result.message}", details=result.details)
    if isinstance(result, Exception):
        raise result


def fetch_cluster(client: PveClient, pool: ThreadPoolExecutor) -> RawCluster:
    """Phase 1: the two cluster-wide lists everything else hangs on."""
    res = _run(pool, {"status": client.cluster_status, "resources": client.cluster_resources})
    for key in ("status", "resources"):
        _fatal(res[key])
    return RawCluster(status=res["status"], resources=res["resources"])


def fetch_details(client: PveClient, pool: ThreadPoolExecutor, raw: RawCluster,
                  config_targets: dict[int, tuple[str, str]]) -> None:
    """Phase 2, filled into ``raw``. ``config_targets`` maps vmid -> (node, type) of configs to read."""
    jobs: dict[Any, Callable[[], Any]] = {
        "ha_resources": client.ha_resources, "ha_manager": client.ha_manager_status,
        "ha_rules": client.ha_rules, "storage_config": client.storage_config}
    online = [n for n in raw.node_names() if raw.node_online(n)]
    for n in online:
        jobs[("status", n)] = lambda n=n: client.node_status(n)
        jobs[("rrd", n)] = lambda n=n: client.node_rrddata(n, "hour")
        jobs[("storage", n)] = lambda n=n: client.node_storage(n)
    for vmid, (node, gtype) in config_targets.items():
        if node in online:
            jobs[("config", vmid)] = lambda v=vmid, n=node, t=gtype: client.guest_config(n, t, v)
    res = _run(pool, jobs)
    for value in res.values():
        if isinstance(value, ProxmoxAuthError):
            raise value
    for key in ("ha_resources", "ha_manager", "ha_rules", "storage_config"):
        value = res[key]
        if isinstance(value, Exception):
            raw.errors.append(f"{key}: {getattr(value, 'message', None) or type(value).__name__}")
        else:
            setattr(raw, key, value)
    for n in online:
        failed = [(kind, res[(kind, n)]) for kind in ("status", "rrd", "storage")
                  if isinstance(res[(kind, n)], Exception)]
        if any(kind == "status" for kind, _ in failed):
            raw.unreachable.add(n)
        for kind, exc in failed:
            raw.errors.append(f"node {n}: {kind}: {getattr(exc, 'message', None) or type(exc).__name__}")
        if not isinstance(res[("status", n)], Exception):
            raw.node_status[n] = res[("status", n)]
        if not isinstance(res[("rrd", n)], Exception):
            raw.node_rrd[n] = res[("rrd", n)]
        if not isinstance(res[("storage", n)], Exception):
            raw.node_storage[n] = res[("storage", n)]
    for key, value in res.items():
        if isinstance(key, tuple) and key[0] == "config":
            if isinstance(value, Exception):
                raw.errors.append(f"guest {key[1]}: config: {getattr(value, 'message', None) or type(value).__name__}")
            else:
                raw.configs[key[1]] = value
