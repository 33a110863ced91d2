"""PVE API: migrate (GET preconditions, POST), power actions, HA migrate, and the task endpoints."""

from __future__ import annotations

from proxbalance.sim import migrate
from proxbalance.sim.api_nodes import GUEST, NODE, guest_on, online_node
from proxbalance.sim.pve_errors import NO_QUORUM, PVEError
from proxbalance.sim.routing import Ctx, route


def _not_allowed(ctx: Ctx, g, storages: bool = True) -> tuple[list[str], dict]:
    """allowed / not-allowed nodes of a migrate precondition: every other cluster node (offline ones too),
    blocked by storages missing there (VMs only) and by negative resource-affinity partners on it
    (qemu-server PVE/API2/Qemu.pm and pve-container PVE/API2/LXC.pm migrate_vm_precondition)."""
    c = ctx.sim.cluster
    blocking = ctx.sim.ha.motion_info(g.sid)[1] if c.ha_managed(g) else {}
    allowed, blocked = [], {}
    for n in c.nodes:
        if n.name == g.node:
            continue
        info = {}
        missing = migrate.unavailable_storages(c, g, n.name, {}) if storages else []
        if missing:
            info["unavailable_storages"] = missing
        if blocking.get(n.name):
            info["blocking-ha-resources"] = blocking[n.name]
        if info:
            blocked[n.name] = info
        else:
            allowed.append(n.name)
    return allowed, blocked


def _precondition_checks(ctx: Ctx, g) -> None:
    if not ctx.sim.cluster.quorate:
        raise PVEError(500, NO_QUORUM)
    if g.lock:
        raise PVEError(500, f"{migrate.kind(g)} is locked ({g.lock})")


def _dependent(ctx: Ctx, g) -> dict:
    """``dependent-ha-resources`` (positive-affinity partners), only for HA-managed guests."""
    if not ctx.sim.cluster.ha_managed(g):
        return {}
    return {"dependent-ha-resources": ctx.sim.ha.motion_info(g.sid)[0]}


@route("GET", "/nodes/{node}/qemu/{vmid}/migrate", **GUEST, target=("str", False))
def qemu_migrate_info(ctx: Ctx, p: dict):
    c = ctx.sim.cluster
    g = guest_on(ctx, p["node"], p["vmid"], "qemu")
    _precondition_checks(ctx, g)
    allowed, blocked = _not_allowed(ctx, g)
    return {"running": int(g.status == "running"), "allowed_nodes": allowed, "not_allowed_nodes": blocked,
            "local_disks": [{"volid": d.volid(g.vmid, i), "size": d.size, "cdrom": 0, "is_unused": 0,
                             "drivename": d.key} for i, d in migrate.local_disks(c, g)],
            "local_resources": ["hostpci0"] if g.passthrough else [], "mapped-resources": [],
            "mapped-resource-info": {}, "has-dbus-vmstate": 1, **_dependent(ctx, g)}


@route("GET", "/nodes/{node}/lxc/{vmid}/migrate", **GUEST, target=("str", False))
def lxc_migrate_info(ctx: Ctx, p: dict):
    g = guest_on(ctx, p["node"], p["vmid"], "lxc")
    _precondition_checks(ctx, g)
    allowed, blocked = _not_allowed(ctx, g, storages=False)
    return {"running": int(g.status == "running"), "allowed-nodes": allowed,
            "not-allowed-nodes": blocked, **_dependent(ctx, g)}


QM = {**GUEST, "target": ("str", True), "online": ("bool", False), "with-local-disks": ("bool", False),
      "targetstorage": ("str", False), "bwlimit": ("int", False), "force": ("bool", False),
      "migration_type": ("str", False, ("secure", "insecure")), "migration_network": ("str", False),
      "with-conntrack-state": ("bool", False)}
CT = {**GUEST, "target": ("str", True), "online": ("bool", False), "restart": ("bool", False),
      "target-storage": ("str", False), "bwlimit": ("num", False), "timeout": ("int", False)}


def _storage_check(c, g, target: str, spec: str | None) -> None:
    missing = migrate.unavailable_storages(c, g, target, migrate.storage_map(spec))
    if missing:
        raise PVEError(500, f"storage '{missing[0]}' is not available on node '{target}'")


@route("POST", "/nodes/{node}/qemu/{vmid}/migrate", **QM)
def qemu_migrate(ctx: Ctx, p: dict):
    c, sim = ctx.sim.cluster, ctx.sim
    g = guest_on(ctx, p["node"], p["vmid"], "qemu")
    with c.lock:
        migrate.check_request(c, g, p["node"], p["target"])
        if g.status == "running" and not p.get("online"):
            raise PVEError(500, "can't migrate running VM without --online")
        _storage_check(c, g, p["target"], p.get("targetstorage"))
        if c.ha_managed(g):
            return sim.ha.hamigrate_task(g, p["target"], ctx.now, ctx.user).upid
        return migrate.start_migration(c, sim.tasks, g, p["target"], ctx.now, ctx.user,
                                       online=bool(p.get("online")) and g.status == "running",
                                       with_local_disks=bool(p.get("with-local-disks")),
                                       targetstorage=p.get("targetstorage"), bwlimit=p.get("bwlimit"),
                                       force=bool(p.get("force"))).upid


@route("POST", "/nodes/{node}/lxc/{vmid}/migrate", **CT)
def lxc_migrate(ctx: Ctx, p: dict):
    c, sim = ctx.sim.cluster, ctx.sim
    g = guest_on(ctx, p["node"], p["vmid"], "lxc")
    with c.lock:
        migrate.check_request(c, g, p["node"], p["target"])
        running = g.status == "running"
        if running and not p.get("online") and not p.get("restart"):
            raise PVEError(500, "can't migrate running container without --online or --restart")
        _storage_check(c, g, p["target"], p.get("target-storage"))
        if c.ha_managed(g):
            return sim.ha.hamigrate_task(g, p["target"], ctx.now, ctx.user).upid
        return migrate.start_migration(c, sim.tasks, g, p["target"], ctx.now, ctx.user,
                                       restart=bool(p.get("restart")), targetstorage=p.get("target-storage"),
                                       bwlimit=p.get("bwlimit"), ct_online=running and bool(p.get("online"))).upid


@route("POST", "/cluster/ha/resources/{sid}/migrate", sid=("str", True), node=("str", True))
def ha_migrate(ctx: Ctx, p: dict):
    ha = ctx.sim.ha
    with ctx.sim.cluster.lock:
        g = ha.resolve(p["sid"])
        return ha.request(g, p["node"], ctx.now)


@route("PUT", "/cluster/ha/resources/{sid}", sid=("str", True), failback=("bool", False),
       state=("str", False, ("started", "stopped", "enabled", "disabled", "ignored")), max_relocate=("int", False),
       max_restart=("int", False), comment=("str", False), delete=("str", False), digest=("str", False))
def ha_update(ctx: Ctx, p: dict):
    """Update an HA resource's config (src/PVE/API2/HA/Resources.pm update): ``delete`` resets the named
    options to their defaults; the CRM sees the change in its next round."""
    ha = ctx.sim.ha
    with ctx.sim.cluster.lock:
        g = ha.resolve(p["sid"])
        res = ctx.sim.cluster.ha_resources[g.sid]
        defaults = {"failback": 1, "max_relocate": 1, "max_restart": 1}
        for name in filter(None, (x.strip() for x in p.get("delete", "").split(","))):
            if name in defaults:
                res[name] = defaults[name]
            else:
                res.pop(name, None)
        for k in ("failback", "max_relocate", "max_restart", "comment"):
            if k in p:
                res[k] = int(p[k]) if k != "comment" else p[k]
        if "state" in p:
            res["state"] = "started" if p["state"] == "enabled" else p["state"]
        ctx.sim.cluster.touch()
        ha.resource_changed(g.sid, ctx.now)
    return None


@route("POST", "/cluster/ha/resources/{sid}/relocate", sid=("str", True), node=("str", True))
def ha_relocate(ctx: Ctx, p: dict):
    return ha_migrate(ctx, p)


POWER = {"start": (2.0, True), "stop": (1.0, False), "shutdown": (5.0, False)}


def _power(ctx: Ctx, p: dict, gtype: str, action: str):
    c = ctx.sim.cluster
    g = guest_on(ctx, p["node"], p["vmid"], gtype)
    k = "VM" if gtype == "qemu" else "CT"
    with c.lock:
        if not c.quorate:
            raise PVEError(500, NO_QUORUM)
        if g.lock and not p.get("skiplock"):
            raise PVEError(500, f"{k} is locked ({g.lock})")
        if action == "start" and g.status == "running":
            raise PVEError(500, f"{k} {g.vmid} already running")
        if action == "shutdown" and g.status != "running":
            raise PVEError(500, f"{k} {g.vmid} not running")
        if g.template and action == "start":
            raise PVEError(500, "you can't start a vm if it's a template")
        secs, up = POWER[action]
        prefix = "qm" if gtype == "qemu" else "vz"

        def on_end(at: float, ok: bool) -> None:
            if ok and (g.status == "running") != up:
                c.set_running(g, up, at)
        return ctx.sim.tasks.start(g.node, prefix + action, str(g.vmid), ctx.user, ctx.now, ctx.now + secs,
                                   "OK", [], on_end, stamped=False).upid


for _t in ("qemu", "lxc"):
    for _a in POWER:
        route("POST", f"/nodes/{{node}}/{_t}/{{vmid}}/status/{_a}", **GUEST, skiplock=("bool", False),
              timeout=("int", False), forceStop=("bool", False), keepActive=("bool", False),
              **{"overrule-shutdown": ("bool", False)})(
            lambda ctx, p, t=_t, a=_a: _power(ctx, p, t, a))


def _task(ctx: Ctx, p: dict):
    online_node(ctx, p["node"])
    t = ctx.sim.tasks.get(p["upid"])
    if t is None or t.node != p["node"]:
        if not p["upid"].startswith("UPID:"):
            raise PVEError(500, f"unable to parse worker upid '{p['upid']}'")
        raise PVEError(500, "no such task")
    return t


TASK = {**NODE, "upid": ("str", True)}


@route("GET", "/nodes/{node}/tasks/{upid}/status", **TASK)
def task_status(ctx: Ctx, p: dict):
    return _task(ctx, p).status(ctx.now)


@route("GET", "/nodes/{node}/tasks/{upid}/log", **TASK, start=("int", False), limit=("int", False),
       download=("bool", False))
def task_log(ctx: Ctx, p: dict):
    lines = _task(ctx, p).log(ctx.now)
    start, limit = p.get("start", 0), p.get("limit", 50)
    return [{"n": i + 1, "t": text} for i, text in enumerate(lines)][start:start + limit]


@route("DELETE", "/nodes/{node}/tasks/{upid}", **TASK)
def task_stop(ctx: Ctx, p: dict):
    t = _task(ctx, p)
    with ctx.sim.cluster.lock:
        ctx.sim.tasks.cancel(t, ctx.now)
    return None


@route("GET", "/nodes/{node}/tasks", **NODE, start=("int", False), limit=("int", False),
       source=("str", False, ("archive", "active", "all")), vmid=("int", False), typefilter=("str", False),
       userfilter=("str", False), errors=("bool", False), since=("int", False), until=("int", False),
       statusfilter=("str", False))
def node_tasks(ctx: Ctx, p: dict):
    online_node(ctx, p["node"])
    src = p.get("source", "archive")
    rows = []
    for t in ctx.sim.tasks.rows(ctx.now, p["node"]):
        running = t.running(ctx.now)
        if (src == "archive" and running) or (src == "active" and not running):
            continue
        if "vmid" in p and t.id != str(p["vmid"]):
            continue
        if p.get("typefilter") and t.type != p["typefilter"]:
            continue
        if p.get("errors") and (running or t.exitstatus == "OK"):
            continue
        if p.get("userfilter") and p["userfilter"].lower() not in t.user.partition("!")[0].lower():
            continue
        rows.append(t.row(ctx.now))
    start, limit = p.get("start", 0), p.get("limit", 50)
    return rows[start:start + limit]


@route("GET", "/cluster/tasks")
def cluster_tasks(ctx: Ctx, p: dict):
    return [t.row(ctx.now) for t in ctx.sim.tasks.rows(ctx.now)]
