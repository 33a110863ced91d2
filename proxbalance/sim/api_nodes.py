"""PVE API: /nodes/... (node status, guests, rrddata, tasks, migrate, power, config)."""

from __future__ import annotations

import re

from proxbalance.sim import migrate, rrd, views
from proxbalance.sim.cluster import SimGuest
from proxbalance.sim.pve_errors import (
    NO_QUORUM,
    PVEError,
    no_config,
    no_such_node,
    node_unreachable,
    param_error,
)
from proxbalance.sim.routing import Ctx, route

VERSION = {"version": "9.0.10", "release": "9.0", "repoid": "deb1ca707ec72a89"}
TF = ("hour", "day", "week", "month", "year", "decade")
CF = ("AVERAGE", "MAX")
NODE = {"node": ("str", True)}
GUEST = {"node": ("str", True), "vmid": ("int", True)}
TAG_RX = re.compile(r"^[a-z0-9_][a-z0-9_\-+.]*$", re.I)


def online_node(ctx: Ctx, name: str):
    n = ctx.sim.cluster.node(name)
    if n is None:
        raise no_such_node(name)
    if not n.online:
        raise node_unreachable(name)
    return n


def guest_on(ctx: Ctx, node: str, vmid: int, gtype: str) -> SimGuest:
    online_node(ctx, node)
    g = ctx.sim.cluster.guest(vmid)
    if g is None or g.node != node or g.type != gtype:
        raise no_config(node, gtype, vmid)
    return g


@route("GET", "/nodes")
def nodes(ctx: Ctx, p: dict):
    """pve-manager PVE/API2/Nodes.pm (index): extract_node_stats rows + ssl_fingerprint."""
    c = ctx.sim.cluster
    s = c.snapshot()
    return [{**views.node_row(c, s, i, resources=False), "ssl_fingerprint": ctx.sim.fingerprint}
            for i in range(len(c.nodes))]


NODE_INDEX = ("aplinfo", "apt", "capabilities", "ceph", "certificates", "config", "disks", "dns", "firewall",
              "hardware", "hosts", "journal", "lxc", "migrateall", "netstat", "network", "qemu",
              "query-url-metadata", "replication", "report", "rrd", "rrddata", "scan", "services", "spiceshell",
              "startall", "status", "stopall", "storage", "subscription", "suspendall", "syslog", "tasks",
              "termproxy", "time", "version", "vncshell", "vzdump", "wakeonlan")  # PVE/API2/Nodes.pm index


@route("GET", "/nodes/{node}", **NODE)
def node_index(ctx: Ctx, p: dict):
    online_node(ctx, p["node"])
    return [{"name": x} for x in NODE_INDEX]


@route("GET", "/nodes/{node}/subscription", **NODE)
def subscription(ctx: Ctx, p: dict):
    """No key installed: PVE/API2/Subscription.pm answers status ``notfound`` (with the server id for
    auditors), and extract_node_stats' ``level`` is then empty."""
    n = online_node(ctx, p["node"])
    return {"status": "notfound", "message": "There is no subscription key",
            "url": "https://www.proxmox.com/en/proxmox-virtual-environment/pricing",
            "serverid": f"{(n.nodeid * 0x9E3779B1) & 0xFFFFFFFF:08X}{n.nodeid:024X}"[:32]}


@route("GET", "/nodes/{node}/replication", **NODE, guest=("int", False))
def replication(ctx: Ctx, p: dict):
    """Storage replication jobs of guests on this node (PVE/API2/Replication.pm): the sim has none."""
    online_node(ctx, p["node"])
    return []


@route("GET", "/nodes/{node}/status", **NODE)
def node_status(ctx: Ctx, p: dict):
    n = online_node(ctx, p["node"])
    c = ctx.sim.cluster
    s = c.snapshot()
    i = c.node_index[n.name]
    used = int(min(s.node["memused"][i], n.memory))
    la = float(s.node["loadavg"][i])
    return {
        "cpu": round(float(s.node["cpu"][i]), 6), "wait": round(float(s.node["iowait"][i]), 6), "idle": 0,
        "loadavg": [f"{la:.2f}", f"{la * 0.95:.2f}", f"{la * 0.9:.2f}"],
        "cpuinfo": {"model": n.cpu_model, "cores": n.cores // 2 // n.sockets, "cpus": n.cores,
                    "sockets": n.sockets, "mhz": "2800.000", "hvm": "1", "flags": "", "user_hz": 100},
        "memory": {"total": n.memory, "used": used, "free": n.memory - used - rrd.page_cache(n, used),
                   "available": n.memory - used},
        "swap": {"total": n.swap, "used": 0, "free": n.swap},
        # df('/'): avail leaves out the blocks reserved for root (5 % on ext4)
        "rootfs": {"total": n.rootfs, "used": n.root_used, "free": n.rootfs - n.root_used,
                   "avail": max(0, n.rootfs - n.root_used - n.rootfs // 20)},
        "ksm": {"shared": 0}, "uptime": int(s.t - n.boot_time),
        "pveversion": f"pve-manager/{VERSION['version']}/{VERSION['repoid']}",
        "kversion": "Linux 6.14.8-2-pve #1 SMP PREEMPT_DYNAMIC PMX 6.14.8-2 (2025-07-22T10:04Z)",
        "current-kernel": {"sysname": "Linux", "release": "6.14.8-2-pve", "machine": "x86_64",
                           "version": "#1 SMP PREEMPT_DYNAMIC PMX 6.14.8-2 (2025-07-22T10:04Z)"},
        "boot-info": {"mode": "efi", "secureboot": 0},
    }


@route("GET", "/nodes/{node}/version", **NODE)
def node_version(ctx: Ctx, p: dict):
    online_node(ctx, p["node"])
    return dict(VERSION)


@route("GET", "/nodes/{node}/rrddata", **NODE, timeframe=("str", True, TF), cf=("str", False, CF))
def node_rrddata(ctx: Ctx, p: dict):
    online_node(ctx, p["node"])
    c = ctx.sim.cluster
    with c.lock:
        return rrd.node_rrd(c, p["node"], p["timeframe"], p.get("cf", "AVERAGE"), c.sync())


def _guest_list(ctx: Ctx, node: str, gtype: str) -> list[dict]:
    online_node(ctx, node)
    c = ctx.sim.cluster
    s = c.snapshot()
    return [views.guest_row(c, s, gi, resources=False) for gi, g in enumerate(c.guests)
            if g.node == node and g.type == gtype]


@route("GET", "/nodes/{node}/qemu", **NODE, full=("bool", False))
def qemu_list(ctx: Ctx, p: dict):
    return _guest_list(ctx, p["node"], "qemu")


@route("GET", "/nodes/{node}/lxc", **NODE)
def lxc_list(ctx: Ctx, p: dict):
    return _guest_list(ctx, p["node"], "lxc")


def _status_current(ctx: Ctx, p: dict, gtype: str):
    g = guest_on(ctx, p["node"], p["vmid"], gtype)
    c = ctx.sim.cluster
    s = c.snapshot()
    row = views.guest_row(c, s, c.guest_index[g.vmid], resources=False)
    row["ha"] = ({"managed": 1, "state": c.ha_resources[g.sid]["state"]} if g.sid in c.ha_resources
                 else {"managed": 0})
    if gtype == "qemu":
        row.update(agent=1, **({"running-machine": "pc-q35-9.0+pve0", "running-qemu": "9.0.2"}
                               if g.status == "running" else {}))
    return row


@route("GET", "/nodes/{node}/qemu/{vmid}/status/current", **GUEST)
def qemu_status(ctx: Ctx, p: dict):
    return _status_current(ctx, p, "qemu")


@route("GET", "/nodes/{node}/lxc/{vmid}/status/current", **GUEST)
def lxc_status(ctx: Ctx, p: dict):
    return _status_current(ctx, p, "lxc")


GTF = {"timeframe": ("str", True, TF), "cf": ("str", False, CF)}


@route("GET", "/nodes/{node}/qemu/{vmid}/rrddata", **GUEST, **GTF)
def qemu_rrddata(ctx: Ctx, p: dict):
    return _guest_rrd(ctx, p, "qemu")


@route("GET", "/nodes/{node}/lxc/{vmid}/rrddata", **GUEST, **GTF)
def lxc_rrddata(ctx: Ctx, p: dict):
    return _guest_rrd(ctx, p, "lxc")


def _guest_rrd(ctx: Ctx, p: dict, gtype: str):
    g = guest_on(ctx, p["node"], p["vmid"], gtype)
    c = ctx.sim.cluster
    with c.lock:
        return rrd.guest_rrd(c, g.vmid, p["timeframe"], p.get("cf", "AVERAGE"), c.sync())


@route("GET", "/nodes/{node}/qemu/{vmid}/config", **GUEST, current=("bool", False), snapshot=("str", False))
def qemu_config(ctx: Ctx, p: dict):
    return views.guest_config(ctx.sim.cluster, guest_on(ctx, p["node"], p["vmid"], "qemu"))


@route("GET", "/nodes/{node}/lxc/{vmid}/config", **GUEST, current=("bool", False), snapshot=("str", False))
def lxc_config(ctx: Ctx, p: dict):
    return views.guest_config(ctx.sim.cluster, guest_on(ctx, p["node"], p["vmid"], "lxc"))


CONFIG_PUT = {**GUEST, "tags": ("str", False), "delete": ("str", False), "digest": ("str", False),
              "description": ("str", False), "name": ("str", False), "hostname": ("str", False),
              "onboot": ("bool", False)}


def _put_config(ctx: Ctx, p: dict, gtype: str):
    c = ctx.sim.cluster
    g = guest_on(ctx, p["node"], p["vmid"], gtype)
    if not c.quorate:
        raise PVEError(500, NO_QUORUM)
    if g.lock:
        raise PVEError(500, f"{migrate.kind(g)} is locked ({g.lock})")
    if "digest" in p and p["digest"] != views.guest_config(c, g)["digest"]:
        raise PVEError(500, "detected modified configuration - file changed by other user? Try again.")
    if "tags" in p:
        tags = [t for t in re.split(r"[;, ]+", p["tags"]) if t]
        bad = [t for t in tags if not TAG_RX.match(t)]
        if bad:
            raise param_error({"tags": f"invalid format - invalid tag '{bad[0]}'"})
        g.tags = ";".join(sorted(dict.fromkeys(tags)))
    for key in filter(None, re.split(r"[,; ]+", p.get("delete", ""))):
        if key == "tags":
            g.tags = ""
    if p.get("name") or p.get("hostname"):
        g.name = p.get("name") or p.get("hostname")
    c.touch()
    return None


@route("PUT", "/nodes/{node}/qemu/{vmid}/config", **CONFIG_PUT)
def qemu_put_config(ctx: Ctx, p: dict):
    return _put_config(ctx, p, "qemu")


@route("PUT", "/nodes/{node}/lxc/{vmid}/config", **CONFIG_PUT)
def lxc_put_config(ctx: Ctx, p: dict):
    return _put_config(ctx, p, "lxc")
