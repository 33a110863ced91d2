"""Typed reads and writes of the PVE API, mixed into :class:`proxbalance.pve.client.PveClient`.

Every method is one API call (``self.call``), so the collector can count and budget them. Path templates are
the metric labels. Writes return PVE's UPID (task id) so callers can follow the task.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from proxbalance.model import HARule, Storage
from proxbalance.pve.parse import as_int, parse_ha_rule, parse_storage, upid_node

Timeframe = Literal["hour", "day", "week", "month", "year", "decade"]


@dataclass(frozen=True, slots=True)
class TaskStatus:
    """``/nodes/{node}/tasks/{upid}/status``. ``exitstatus`` is "OK" or the error text once stopped."""

    upid: str
    node: str
    type: str
    id: str
    user: str
    status: str  # running | stopped
    exitstatus: str | None
    starttime: int  # Unix seconds
    pid: int = 0

    @property
    def running(self) -> bool:
        return self.status == "running"

    @property
    def ok(self) -> bool:
        return self.status == "stopped" and self.exitstatus == "OK"


class PveApi:
    """Methods need ``self.call(method, template, params, **path)`` and ``self.get``."""

    def call(self, method: str, template: str, params: dict[str, Any] | None = None, **path: Any) -> Any:
        raise NotImplementedError

    def get(self, template: str, params: dict[str, Any] | None = None, **path: Any) -> Any:
        return self.call("GET", template, params, **path)

    # -- cluster-wide reads ---------------------------------------------------------------------------------
    def version(self) -> dict[str, Any]:
        return self.get("/version") or {}

    def cluster_resources(self, type: str | None = None) -> list[dict[str, Any]]:
        """Nodes, guests, storages (and pools, sdn) with PVE's units: cpu fraction, bytes, byte counters."""
        return self.get("/cluster/resources", {"type": type}) or []

    def cluster_status(self) -> list[dict[str, Any]]:
        """One ``type=cluster`` row (quorate) and one ``type=node`` row per node (online)."""
        return self.get("/cluster/status") or []

    def ha_resources(self) -> list[dict[str, Any]]:
        return self.get("/cluster/ha/resources") or []

    def ha_manager_status(self) -> dict[str, Any]:
        """``{manager_status: {node_status: {node: "online"|"maintenance"|...}, ...}, quorum: {...}}``."""
        return self.get("/cluster/ha/status/manager_status") or {}

    def ha_status_current(self) -> list[dict[str, Any]]:
        return self.get("/cluster/ha/status/current") or []

    def ha_rules(self) -> list[HARule]:
        """PVE 9 HA rules; an older PVE without ``/cluster/ha/rules`` (404/501) gives an empty list."""
        from proxbalance.pve.client import PveApiError

        try:
            rows = self.get("/cluster/ha/rules") or []
        except PveApiError as exc:
            if exc.status_code in (400, 404, 501):
                return []
            raise
        return [r for r in (parse_ha_rule(row) for row in rows) if r is not None]

    def storage_config(self) -> list[dict[str, Any]]:
        """``/storage``: the cluster's storage definitions (type, shared, nodes restriction, disable)."""
        return self.get("/storage") or []

    def pools(self) -> list[dict[str, Any]]:
        return self.get("/pools") or []

    def cluster_options(self) -> dict[str, Any]:
        return self.get("/cluster/options") or {}

    def permissions(self, path: str | None = None) -> dict[str, dict[str, int]]:
        """Effective privileges of the authenticated user/token: ``{path: {privilege: propagate}}``."""
        return self.get("/access/permissions", {"path": path}) or {}

    def cluster_tasks(self) -> list[dict[str, Any]]:
        return self.get("/cluster/tasks") or []

    # -- per-node reads -------------------------------------------------------------------------------------
    def node_status(self, node: str) -> dict[str, Any]:
        return self.get("/nodes/{node}/status", node=node) or {}

    def node_rrddata(self, node: str, timeframe: Timeframe = "hour", cf: str = "AVERAGE") -> list[dict[str, Any]]:
        """Points ``{time, cpu, iowait, loadavg, memused, memtotal, netin, netout, pressure*...}``, rates/s."""
        return self.get("/nodes/{node}/rrddata", {"timeframe": timeframe, "cf": cf}, node=node) or []

    def node_storage(self, node: str) -> list[Storage]:
        rows = self.get("/nodes/{node}/storage", node=node) or []
        return [parse_storage(node, r) for r in rows]

    def guest_config(self, node: str, gtype: str, vmid: int) -> dict[str, Any]:
        return self.get("/nodes/{node}/" + _gtype(gtype) + "/{vmid}/config", node=node, vmid=vmid) or {}

    def guest_rrddata(self, node: str, gtype: str, vmid: int, timeframe: Timeframe = "day",
                      cf: str = "AVERAGE") -> list[dict[str, Any]]:
        return self.get("/nodes/{node}/" + _gtype(gtype) + "/{vmid}/rrddata", {"timeframe": timeframe, "cf": cf},
                        node=node, vmid=vmid) or []

    def guest_status(self, node: str, gtype: str, vmid: int) -> dict[str, Any]:
        return self.get("/nodes/{node}/" + _gtype(gtype) + "/{vmid}/status/current", node=node, vmid=vmid) or {}

    # -- tasks ------------------------------------------------------------------------------------------------
    def task_status(self, node: str, upid: str) -> TaskStatus:
        row = self.get("/nodes/{node}/tasks/{upid}/status", node=node, upid=upid) or {}
        return TaskStatus(upid=str(row.get("upid", upid)), node=str(row.get("node", node)),
                          type=str(row.get("type", "")), id=str(row.get("id", "")), user=str(row.get("user", "")),
                          status=str(row.get("status", "")), exitstatus=row.get("exitstatus"),
                          starttime=as_int(row.get("starttime")), pid=as_int(row.get("pid")))

    def task_log(self, node: str, upid: str, start: int = 0, limit: int = 50) -> list[dict[str, Any]]:
        """Log lines ``{n, t}``; a finished task ends with ``TASK OK`` or ``TASK ERROR: ...``."""
        return self.get("/nodes/{node}/tasks/{upid}/log", {"start": start, "limit": limit},
                        node=node, upid=upid) or []

    def stop_task(self, node: str, upid: str) -> None:
        self.call("DELETE", "/nodes/{node}/tasks/{upid}", node=node, upid=upid)

    # -- writes -------------------------------------------------------------------------------------------------
    def migrate(self, node: str, gtype: str, vmid: int, target: str, *, online: bool | None = None,
                with_local_disks: bool = False, targetstorage: str | None = None, restart: bool = False,
                bwlimit: int | None = None, timeout: int | None = None) -> str:
        """Start a migration; returns the UPID of the ``qmigrate``/``vzmigrate`` task on ``node``.

        VMs: ``online`` (live) and ``with-local-disks``/``targetstorage``. Containers cannot move live: a running
        CT moves with ``restart=1`` (``timeout``: seconds it gets to shut down first).
        """
        params: dict[str, Any] = {"target": target, "bwlimit": bwlimit}
        if _gtype(gtype) == "qemu":
            if online is not None:
                params["online"] = int(online)
            if with_local_disks:
                params["with-local-disks"] = 1
            params["targetstorage"] = targetstorage
        else:
            if restart:
                params["restart"] = 1
                params["timeout"] = timeout
            params["target-storage"] = targetstorage
        return str(self.call("POST", "/nodes/{node}/" + _gtype(gtype) + "/{vmid}/migrate", params,
                             node=node, vmid=vmid))

    def ha_migrate(self, sid: str, target: str) -> dict[str, Any]:
        """Ask the HA manager to move ``sid`` (``vm:100``); answers at once, the move happens later."""
        return self.call("POST", "/cluster/ha/resources/{sid}/migrate", {"node": target}, sid=sid) or {}

    def ha_set_failback(self, sid: str, on: bool) -> None:
        """PVE 9 HA resource option ``failback`` (PUT /cluster/ha/resources/{sid}; needs Sys.Console on /)."""
        self.call("PUT", "/cluster/ha/resources/{sid}", {"failback": int(on)}, sid=sid)

    def set_tags(self, node: str, gtype: str, vmid: int, tags: list[str] | tuple[str, ...],
                 digest: str | None = None) -> None:
        """Replace a guest's tags (``;``-joined). ``digest`` guards against concurrent config edits."""
        params: dict[str, Any] = {"digest": digest}
        if tags:
            params["tags"] = ";".join(tags)
        else:
            params["delete"] = "tags"
        self.call("PUT", "/nodes/{node}/" + _gtype(gtype) + "/{vmid}/config", params, node=node, vmid=vmid)


def _gtype(gtype: str) -> str:
    low = gtype.lower()
    if low in ("qemu", "vm"):
        return "qemu"
    if low in ("lxc", "ct"):
        return "lxc"
    raise ValueError(f"guest type must be qemu or lxc, got {gtype!r}")


__all__ = ["PveApi", "TaskStatus", "Timeframe", "upid_node"]
