"""JSON rows in PVE's shapes built from the cluster model and a load snapshot."""

from __future__ import annotations

import hashlib
import json

import numpy as np

from proxbalance.sim import load
from proxbalance.sim.cluster import Cluster, SimGuest
from proxbalance.sim.load import Snapshot


def storage_used(c: Cluster, storage: str, node: str | None) -> int:
    """Bytes used: 55 % of the disks' size (thin provisioning) + 2 GiB; cached per cluster version."""
    cache = getattr(c, "_storage_used", None)
    if cache is None or cache[0] != c.version:
        used: dict[tuple[str, str | None], int] = {}
        for g in c.guests:
            for d in g.disks:
                st = c.storage(d.storage)
                key = (d.storage, None if st.shared else g.node)
                used[key] = used.get(key, 0) + d.size
        cache = (c.version, used)
        c._storage_used = cache
    st = c.storage(storage)
    return int(cache[1].get((storage, None if st.shared else node), 0) * 0.55) + 2 * 1024**3


def guest_pid(g: SimGuest) -> int:
    """PID of the guest's QEMU process / container init: new at every (re)start."""
    return 1000 + (g.vmid * 7919 + int(g.start_time)) % 4_000_000


def ct_disk_used(g: SimGuest) -> int:
    """Bytes used in a container's root filesystem (df inside the CT): 20-65 % of it, fixed per vmid.
    PVE reports it only for running CTs (pve-container PVE/LXC.pm vmstatus, get_container_disk_usage); a VM's
    ``disk`` is always 0 (qemu-server PVE/QemuServer.pm vmstatus: "no info available")."""
    return int(g.maxdisk * (0.2 + 0.45 * ((g.vmid * 0.6180339887) % 1.0)))


CT_SWAP = 512 * 1024**2  # the containers' configured swap (bytes)


def ct_swap_used(mem: float, maxmem: int) -> int:
    """Swap a container uses: none below 60 % of its memory, up to a quarter of its swap when full."""
    return int(CT_SWAP * 0.25 * min(1.0, max(0.0, (mem / maxmem - 0.6) / 0.4)))


def _guest_static(c: Cluster) -> dict:
    """Per-guest values that change only with the cluster's state (cached per version): QEMU overhead
    (G,) int64 (0 for CTs), CT root-fs usage (G,) int64 (0 for VMs), pool index (G,) int (-1: none)."""
    cache = getattr(c, "_guest_static", None)
    if cache is not None and cache[0] == c.version:
        return cache[1]
    qemu = np.array([g.type == "qemu" for g in c.guests], dtype=bool)
    pools = sorted(c.pools)
    at = {p: k for k, p in enumerate(pools)}
    out = {"ovh": np.where(qemu, load.qemu_overhead(c.params.maxmem), 0).astype(np.int64),
           "ctdisk": np.array([ct_disk_used(g) if g.type == "lxc" else 0 for g in c.guests], dtype=np.int64),
           "pools": pools, "pool": np.array([at.get(g.pool, -1) for g in c.guests], dtype=np.int64)}
    c._guest_static = (c.version, out)
    return out


def live(c: Cluster, s: Snapshot) -> dict[str, list]:
    """Per-guest (G,) lists of what the rows report, computed once per snapshot: online, running (bool), cpu
    (fraction of maxcpu), mem, memhost (bytes; 0 for CTs: pvestatd writes none for them, pve-manager
    pvestatd.pm), disk (bytes), ctr (4 lists of counters)."""
    cache = getattr(s, "_live", None)
    if cache is not None and cache[0] == c.version:
        return cache[1]
    st = _guest_static(c)
    online = np.array([n.online for n in c.nodes], dtype=bool)[s.node_of]
    mem = s.guest_mem.astype(np.int64)
    out = {"online": online.tolist(), "running": s.active.tolist(),
           "cpu": (s.guest_cpu / c.params.cores).round(6).tolist(), "mem": mem.tolist(),
           "memhost": np.where(st["ovh"] > 0, mem + st["ovh"], 0).tolist(), "disk": st["ctdisk"].tolist(),
           "ctr": s.counters.tolist()}
    s._live = (c.version, out)
    return out


def resources_vm_rows(c: Cluster, s: Snapshot) -> list[dict]:
    """All guests' /cluster/resources rows as dicts (the readable reference for :func:`resources_vm_json`).
    Fields as pve-manager PVE/API2Tools.pm extract_vm_stats gives them from the ``pve-vm-9.0`` RRD."""
    lv = live(c, s)
    return [_resource_row(c, s, lv, gi) for gi in range(len(c.guests))]


def _resource_row(c: Cluster, s: Snapshot, lv: dict, gi: int) -> dict:
    g = c.guests[gi]
    run = lv["running"][gi]
    row = {"id": f"{g.type}/{g.vmid}", "type": g.type, "node": g.node, "vmid": g.vmid, "name": g.name,
           "maxcpu": g.cores, "maxmem": g.memory, "maxdisk": g.maxdisk, "template": int(g.template),
           "status": g.status if lv["online"][gi] else "unknown",
           "cpu": lv["cpu"][gi] if run else 0, "mem": lv["mem"][gi] if run else 0,
           "memhost": lv["memhost"][gi] if run else 0, "disk": lv["disk"][gi] if run else 0,
           "diskread": lv["ctr"][0][gi] if run else 0, "diskwrite": lv["ctr"][1][gi] if run else 0,
           "netin": lv["ctr"][2][gi] if run else 0, "netout": lv["ctr"][3][gi] if run else 0,
           "uptime": int(s.t - g.start_time) if run else 0}
    for k, v in (("tags", g.tags), ("lock", g.lock), ("pool", g.pool),
                 ("hastate", c.hastate(g.sid) if g.sid in c.ha_resources else None)):
        if v:
            row[k] = v
    return row


def node_row(c: Cluster, s: Snapshot, i: int, resources: bool = True) -> dict:
    """A node's row: PVE/API2Tools.pm extract_node_stats (``/nodes`` and ``/cluster/resources``); the max*
    and level come from the last RRD data, so an offline node keeps them. ``/cluster/resources`` adds
    ``cgroup-mode`` and, once the HA manager runs, ``hastate`` (PVE/API2/Cluster.pm)."""
    n = c.nodes[i]
    row = {"id": f"node/{n.name}", "type": "node", "node": n.name, "status": "online" if n.online else "offline",
           "maxcpu": n.cores, "maxmem": n.memory, "maxdisk": n.rootfs, "level": ""}
    if n.online:
        row.update(cpu=round(float(s.node["cpu"][i]), 6), mem=int(min(s.node["memused"][i], n.memory)),
                   disk=n.root_used, uptime=int(s.t - n.boot_time))
    if resources:
        row["cgroup-mode"] = 2
        if c.ha_resources:
            row["hastate"] = c.node_hastate(n)
    return row


def guest_row(c: Cluster, s: Snapshot, gi: int, resources: bool = True) -> dict:
    """A guest's row: /cluster/resources (``resources``) or the node's qemu/lxc list and status/current
    (qemu-server PVE/QemuServer.pm and pve-container PVE/LXC.pm vmstatus)."""
    g = c.guests[gi]
    lv = live(c, s)
    if resources:
        return _resource_row(c, s, lv, gi)
    running = lv["running"][gi]
    status = g.status if lv["online"][gi] else "unknown"
    row = {"vmid": g.vmid, "name": g.name, "status": status,
           "cpu": lv["cpu"][gi] if running else 0, "cpus": g.cores,
           "mem": lv["mem"][gi] if running else 0, "maxmem": g.memory,
           "disk": lv["disk"][gi] if running else 0, "maxdisk": g.maxdisk,
           "diskread": lv["ctr"][0][gi] if running else 0, "diskwrite": lv["ctr"][1][gi] if running else 0,
           "netin": lv["ctr"][2][gi] if running else 0, "netout": lv["ctr"][3][gi] if running else 0,
           "uptime": int(s.t - g.start_time) if running else 0}
    if g.template:
        row["template"] = 1
    if g.tags:
        row["tags"] = g.tags
    if g.lock:
        row["lock"] = g.lock
    if g.type == "qemu":
        row["memhost"] = lv["memhost"][gi] if running else 0
    else:
        row.update(type="lxc", maxswap=CT_SWAP, swap=ct_swap_used(lv["mem"][gi], g.memory) if running else 0)
    if running:
        row["pid"] = guest_pid(g)
        row.update({k: round(float(s.guest_psi[k][gi]), 2) for k in load.PSI_KEYS})
        if g.type == "qemu":
            row["qmpstatus"] = "running"
    return row


def storage_rows(c: Cluster, node: str | None = None) -> list[dict]:
    rows = []
    for n in c.nodes:
        if node and n.name != node:
            continue
        for st in c.storages:
            if not st.on(n.name):
                continue
            rows.append({"id": f"storage/{n.name}/{st.storage}", "type": "storage", "storage": st.storage,
                         "node": n.name, "status": "available" if n.online else "unknown",
                         "disk": storage_used(c, st.storage, n.name), "maxdisk": st.size,
                         "plugintype": st.type, "shared": int(st.shared), "content": st.content})
    return rows


def guest_config(c: Cluster, g: SimGuest) -> dict:
    if g.type == "qemu":
        cfg = {"name": g.name, "cores": g.cores, "sockets": 1, "memory": str(g.memory // 1024**2),
               "ostype": "l26", "scsihw": "virtio-scsi-single", "boot": "order=scsi0;net0",
               "net0": f"virtio=BC:24:11:{g.vmid // 256 % 256:02X}:{g.vmid % 256:02X}:01,bridge=vmbr0",
               "agent": "1", "cpu": "x86-64-v2-AES", "numa": 0,
               "smbios1": f"uuid=00000000-0000-4000-8000-{g.vmid:012d}",
               "vmgenid": f"00000000-0000-4000-9000-{g.vmid:012d}", "meta": "creation-qemu=9.0.2,ctime=1700000000"}
        for i, d in enumerate(g.disks):
            cfg[d.key] = f"{d.volid(g.vmid, i)},iothread=1,size={d.size // 1024**3}G"
        if g.passthrough:
            cfg["hostpci0"] = "0000:41:00.0,pcie=1"
    else:
        cfg = {"hostname": g.name, "cores": g.cores, "memory": g.memory // 1024**2, "swap": 512,
               "ostype": "debian", "arch": "amd64", "unprivileged": 1,
               "net0": f"name=eth0,bridge=vmbr0,hwaddr=BC:24:11:{g.vmid // 256 % 256:02X}:{g.vmid % 256:02X}:02,"
                       "ip=dhcp,type=veth"}
        for i, d in enumerate(g.disks):
            extra = ",mp=/srv/data" if d.key.startswith("mp") else ""
            cfg[d.key] = f"{d.volid(g.vmid, i)},size={d.size // 1024**3}G{extra}"
    if g.tags:
        cfg["tags"] = g.tags
    if g.lock:
        cfg["lock"] = g.lock
    if g.template:
        cfg["template"] = 1
    cfg["digest"] = hashlib.sha1(repr(sorted(cfg.items())).encode()).hexdigest()
    return cfg


def _static_parts(c: Cluster) -> list[tuple[str, str]]:
    """Per guest (JSON prefix, JSON suffix) of its /cluster/resources row; cached per cluster version."""
    cache = getattr(c, "_row_parts", None)
    if cache is not None and cache[0] == c.version:
        return cache[1]
    parts = []
    for g in c.guests:
        pre = (f'{{"id":"{g.type}/{g.vmid}","type":"{g.type}","node":{json.dumps(g.node)},"vmid":{g.vmid},'
               f'"name":{json.dumps(g.name)},"maxcpu":{g.cores},"maxmem":{g.memory},'
               f'"maxdisk":{g.maxdisk},"template":{int(g.template)}')
        extra = {"tags": g.tags or None, "lock": g.lock, "pool": g.pool,
                 "hastate": c.hastate(g.sid) if g.sid in c.ha_resources else None}
        suf = "".join(f",{json.dumps(k)}:{json.dumps(v)}" for k, v in extra.items() if v) + "}"
        parts.append((pre, suf))
    c._row_parts = (c.version, parts)
    return parts


def resources_vm_json(c: Cluster, s: Snapshot) -> str:
    """The same rows as :func:`resources_vm_rows`, JSON-encoded directly (comma-joined, no brackets)."""
    parts = _static_parts(c)
    lv = live(c, s)
    cpu, mem, memhost, disk, online, running = (lv[k] for k in ("cpu", "mem", "memhost", "disk", "online",
                                                                "running"))
    rd, wr, nin, nout = lv["ctr"]
    out = []
    for gi, g in enumerate(c.guests):
        pre, suf = parts[gi]
        if running[gi]:
            out.append(f'{pre},"status":"running","cpu":{cpu[gi]},"mem":{mem[gi]},"memhost":{memhost[gi]},'
                       f'"disk":{disk[gi]},"diskread":{rd[gi]},"diskwrite":{wr[gi]},"netin":{nin[gi]},'
                       f'"netout":{nout[gi]},"uptime":{int(s.t - g.start_time)}{suf}')
        else:
            st = g.status if online[gi] else "unknown"
            out.append(f'{pre},"status":"{st}","cpu":0,"mem":0,"memhost":0,"disk":0,"diskread":0,'
                       f'"diskwrite":0,"netin":0,"netout":0,"uptime":0{suf}')
    return ",".join(out)
