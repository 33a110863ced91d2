"""PVE API: /version, /cluster/..., /pools, /storage, /nodes/{n}/storage, /access/..."""

from __future__ import annotations

import gzip
import json
import threading

import numpy as np

from proxbalance.sim import views
from proxbalance.sim.api_nodes import NODE, VERSION, online_node
from proxbalance.sim.pve_errors import NO_QUORUM, PVEError
from proxbalance.sim.routing import Ctx, route

PRIVS = ("Datastore.Allocate", "Datastore.AllocateSpace", "Datastore.Audit", "Pool.Audit", "Sys.Audit",
         "Sys.Console", "Sys.Modify", "VM.Allocate", "VM.Audit", "VM.Config.Options", "VM.Migrate",
         "VM.PowerMgmt", "VM.Monitor")

_GZ_LOCK = threading.Lock()


class Raw(bytes):
    """An already-encoded JSON answer (the ``{"data": ...}`` envelope included); its gzip form is cached."""

    _gz: bytes | None = None

    def gzipped(self) -> bytes:
        with _GZ_LOCK:
            if self._gz is None:
                self._gz = gzip.compress(self, 1)
        return self._gz


@route("GET", "/version")
def version(ctx: Ctx, p: dict):
    return {**VERSION, "console": "xtermjs"}


@route("GET", "/cluster/resources", type=("str", False, ("vm", "storage", "node", "sdn")))
def resources(ctx: Ctx, p: dict):
    c = ctx.sim.cluster
    with c.lock:  # one thread rebuilds, the others then find it cached
        s = c.snapshot()
        key = (s.t, c.version, p.get("type"))
        cache = ctx.sim.resources_cache
        if key not in cache:
            if len(cache) > 8:
                cache.clear()
            cache[key] = _resources(c, s, p.get("type"))
        return cache[key]


def _resources(c, s, typ: str | None) -> Raw:
    rows: list[dict] = []
    if typ in (None, "node"):
        rows += [views.node_row(c, s, i) for i in range(len(c.nodes))]
    if typ in (None, "storage"):
        rows += views.storage_rows(c)
    if typ in (None, "sdn"):  # the default "localnetwork" zone of every node (PVE/API2/Cluster.pm)
        rows += [{"id": f"sdn/{n.name}/localnetwork", "sdn": "localnetwork", "node": n.name, "type": "sdn",
                  "status": "ok"} for n in c.nodes]
    parts = [json.dumps(r, separators=(",", ":")) for r in rows]
    if typ in (None, "vm") and c.guests:
        parts.insert(0, views.resources_vm_json(c, s))
    if typ is None and c.pools:
        parts.insert(0, ",".join(json.dumps(r, separators=(",", ":")) for r in pool_rows(c, s)))
    return Raw(('{"data":[' + ",".join(parts) + "]}").encode())


def pool_rows(c, s) -> list[dict]:
    """Pools first, as PVE/API2/Cluster.pm lists them (id ``/pool/NAME``), with the running members' summed
    mem/maxmem, their maxcpu-weighted cpu, and the longest uptime; no stats while no member runs."""
    st = views._guest_static(c)
    pools, pool = st["pools"], st["pool"]
    run = s.active & (pool >= 0)
    idx, P = pool[run], len(pools)
    cores = c.params.cores[run]
    n = np.bincount(idx, minlength=P)
    mem = np.bincount(idx, weights=s.guest_mem[run].astype(np.int64), minlength=P)
    maxmem = np.bincount(idx, weights=c.params.maxmem[run], minlength=P)
    maxcpu = np.bincount(idx, weights=cores, minlength=P)
    used = np.bincount(idx, weights=(s.guest_cpu[run] / cores).round(6) * cores, minlength=P)
    up = np.zeros(P)
    since = np.array([g.start_time for g in c.guests])[run]
    np.maximum.at(up, idx, np.floor(s.t - since))
    rows = []
    for k, pid in enumerate(pools):
        row = {"id": f"/pool/{pid}", "pool": pid, "type": "pool"}
        if n[k]:
            row.update(uptime=int(up[k]), mem=int(mem[k]), maxmem=int(maxmem[k]),
                       cpu=float(used[k] / maxcpu[k]), maxcpu=int(maxcpu[k]))
        rows.append(row)
    return rows


@route("GET", "/cluster/status")
def cluster_status(ctx: Ctx, p: dict):
    c = ctx.sim.cluster
    online = sum(n.online for n in c.nodes)
    rows = [{"id": "cluster", "type": "cluster", "name": c.name, "nodes": len(c.nodes),
             "quorate": int(c.quorate), "version": len(c.nodes) + 3}]
    for n in c.nodes:
        rows.append({"id": f"node/{n.name}", "type": "node", "name": n.name, "nodeid": n.nodeid,
                     "online": int(n.online), "local": int(n is c.nodes[0]), "ip": n.ip, "level": ""})
    del online
    return rows


@route("GET", "/cluster/options")
def cluster_options(ctx: Ctx, p: dict):
    """datacenter.cfg plus ``allowed-tags`` (every tag in use, for root; PVE/API2/Cluster.pm get_options)."""
    c = ctx.sim.cluster
    tags = sorted({t for g in c.guests for t in g.tags.split(";") if t})
    return {**c.options, "allowed-tags": tags}


@route("PUT", "/cluster/options", crs=("str", False), migration=("str", False), bwlimit=("str", False),
       ha=("str", False), keyboard=("str", False), delete=("str", False), description=("str", False),
       max_workers=("int", False))
def cluster_options_put(ctx: Ctx, p: dict):
    c = ctx.sim.cluster
    if not c.quorate:
        raise PVEError(500, NO_QUORUM)
    for k, v in p.items():
        if k == "delete":
            for key in v.split(","):
                c.options.pop(key.strip(), None)
        else:
            c.options[k] = v
    return None


@route("GET", "/cluster/nextid", vmid=("int", False))
def nextid(ctx: Ctx, p: dict):
    c = ctx.sim.cluster
    if "vmid" in p:
        if c.guest(p["vmid"]):
            raise PVEError(400, f"VM {p['vmid']} already exists", {"vmid": f"VM {p['vmid']} already exists"})
        return str(p["vmid"])
    n = 100
    while c.guest(n):
        n += 1
    return str(n)


@route("GET", "/cluster/backup-info/not-backed-up")
def not_backed_up(ctx: Ctx, p: dict):
    return [{"vmid": g.vmid, "name": g.name, "type": g.type} for g in ctx.sim.cluster.guests
            if not g.template]


@route("GET", "/cluster/backup")
def backup_jobs(ctx: Ctx, p: dict):
    """vzdump jobs (PVE/API2/Backup.pm index): the sim has none, so every guest is in not-backed-up."""
    return []


@route("GET", "/cluster/ha/resources", type=("str", False, ("ct", "vm")))
def ha_resources(ctx: Ctx, p: dict):
    c = ctx.sim.cluster
    out = []
    for sid, r in sorted(c.ha_resources.items(), key=lambda x: int(x[0].split(":")[1])):
        if p.get("type") and not sid.startswith(p["type"] + ":"):
            continue
        out.append({"sid": sid, "type": sid.split(":")[0], "digest": "0" * 40, **r})
    return out


@route("GET", "/cluster/ha/resources/{sid}", sid=("str", True))
def ha_resource(ctx: Ctx, p: dict):
    g = ctx.sim.ha.resolve(p["sid"])
    return {"sid": g.sid, "type": g.sid.split(":")[0], "digest": "0" * 40, **ctx.sim.cluster.ha_resources[g.sid]}


@route("GET", "/cluster/ha/status/current")
def ha_status(ctx: Ctx, p: dict):
    return ctx.sim.ha.status_current(ctx.now)


@route("GET", "/cluster/ha/status/manager_status")
def ha_manager_status(ctx: Ctx, p: dict):
    return ctx.sim.ha.manager_status(ctx.now)


@route("GET", "/cluster/ha/rules", type=("str", False, ("node-affinity", "resource-affinity")),
       resource=("str", False))
def ha_rules(ctx: Ctx, p: dict):
    out = []
    for r in ctx.sim.cluster.ha_rules:
        if p.get("type") and r["type"] != p["type"]:
            continue
        if p.get("resource") and p["resource"] not in r["resources"].split(","):
            continue
        out.append({"digest": "0" * 40, "order": len(out) + 1, **r})
    return out


@route("GET", "/cluster/ha/groups")
def ha_groups(ctx: Ctx, p: dict):
    return []  # PVE 9 migrated HA groups to node-affinity rules


@route("GET", "/pools", poolid=("str", False), type=("str", False, ("qemu", "lxc", "storage")))
def pools(ctx: Ctx, p: dict):
    c = ctx.sim.cluster
    ids = [p["poolid"]] if p.get("poolid") else list(c.pools)
    return [{"poolid": pid, "comment": c.pools[pid], "members": _members(ctx, pid, p.get("type"))}
            for pid in ids if pid in c.pools]


@route("GET", "/pools/{poolid}", poolid=("str", True), type=("str", False, ("qemu", "lxc", "storage")))
def pool(ctx: Ctx, p: dict):
    c = ctx.sim.cluster
    if p["poolid"] not in c.pools:
        raise PVEError(500, f"pool '{p['poolid']}' does not exist")
    return {"comment": c.pools[p["poolid"]], "members": _members(ctx, p["poolid"], p.get("type"))}


def _members(ctx: Ctx, pid: str, typ: str | None) -> list[dict]:
    c = ctx.sim.cluster
    s = c.snapshot()
    return [views.guest_row(c, s, gi) for gi, g in enumerate(c.guests)
            if g.pool == pid and typ in (None, g.type)]


@route("GET", "/storage", type=("str", False))
def storage(ctx: Ctx, p: dict):
    out = []
    for st in ctx.sim.cluster.storages:
        if p.get("type") and st.type != p["type"]:
            continue
        row = {"storage": st.storage, "type": st.type, "content": st.content, "digest": "0" * 40}
        if st.shared:
            row["shared"] = 1
        if st.nodes:
            row["nodes"] = ",".join(st.nodes)
        if st.type == "rbd":
            row.update(pool="rbd", krbd=0)
        if st.type == "lvmthin":
            row.update(thinpool="data", vgname="pve")
        out.append(row)
    return out


@route("GET", "/nodes/{node}/storage", **NODE, content=("str", False), enabled=("bool", False),
       format=("bool", False), storage=("str", False), target=("str", False))
def node_storage(ctx: Ctx, p: dict):
    online_node(ctx, p["node"])
    out = []
    for r in views.storage_rows(ctx.sim.cluster, p["node"]):
        if p.get("storage") and r["storage"] != p["storage"]:
            continue
        if p.get("content") and not set(p["content"].split(",")) & set(r["content"].split(",")):
            continue
        total, used = r["maxdisk"], r["disk"]
        out.append({"storage": r["storage"], "type": r["plugintype"], "content": r["content"],
                    "shared": r["shared"], "active": 1, "enabled": 1, "total": total, "used": used,
                    "avail": total - used, "used_fraction": round(used / total, 6)})
    return out


@route("GET", "/access/permissions", path=("str", False), userid=("str", False))
def permissions(ctx: Ctx, p: dict):
    allp = {k: 1 for k in PRIVS}
    paths = ["/", "/vms", "/nodes", "/storage", "/pool"]
    if p.get("path"):
        paths = [p["path"]]
    return {path: dict(allp) for path in paths}


@route("GET", "/access/acl")
def acl(ctx: Ctx, p: dict):
    return [{"path": "/", "roleid": "Administrator", "type": "token", "ugid": ctx.sim.token_id, "propagate": 1}]
