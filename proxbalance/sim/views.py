"""JSON rows in PVE's shapes built from the cluster model and a load snapshot."""

from __future__ import annotations

import hashlib
import json

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


def resources_vm_rows(c: Cluster, s: Snapshot) -> list[dict]:
    """All guests' /cluster/resources rows at once (the hot path: per-column ``tolist`` then one dict each)."""
    G = len(c.guests)
    online = [c.node(g.node).online for g in c.guests]
    running = [o and g.status == "running" for o, g in zip(online, c.guests, strict=True)]
    cpu = (s.guest_cpu / c.params.cores).round(6).tolist()
    mem = s.guest_mem.astype("int64").tolist()
    ctr = s.counters.tolist()
    rows = []
    for gi in range(G):
        g = c.guests[gi]
        run = running[gi]
        row = {"id": f"{g.type}/{g.vmid}", "type": g.type, "node": g.node, "vmid": g.vmid, "name": g.name,
               "status": g.status if online[gi] else "unknown", "cpu": cpu[gi] if run else 0,
               "maxcpu": g.cores, "mem": mem[gi] if run else 0, "maxmem": g.memory, "disk": 0,
               "maxdisk": g.maxdisk, "diskread": ctr[0][gi] if run else 0,
               "diskwrite": ctr[1][gi] if run else 0, "netin": ctr[2][gi] if run else 0,
               "netout": ctr[3][gi] if run else 0, "uptime": int(s.t - g.start_time) if run else 0,
               "template": int(g.template)}
        if g.tags:
            row["tags"] = g.tags
        if g.lock:
            row["lock"] = g.lock
        if g.pool:
            row["pool"] = g.pool
        ha = c.ha_resources.get(g.sid)
        if ha:
            row["hastate"] = ha["state"]
        rows.append(row)
    return rows


def node_row(c: Cluster, s: Snapshot, i: int) -> dict:
    n = c.nodes[i]
    row = {"id": f"node/{n.name}", "type": "node", "node": n.name, "status": "online" if n.online else "offline",
           "maxcpu": n.cores, "maxmem": n.memory, "maxdisk": n.rootfs, "level": "", "cgroup-mode": 2}
    if n.online:
        row.update(cpu=round(float(s.node["cpu"][i]), 6), mem=int(min(s.node["memused"][i], n.memory)),
                   disk=int(0.3 * n.rootfs), uptime=int(s.t - n.boot_time))
    return row


def guest_row(c: Cluster, s: Snapshot, gi: int, resources: bool = True) -> dict:
    g = c.guests[gi]
    node = c.node(g.node)
    if not node.online:
        status = "unknown"
    else:
        status = g.status
    running = status == "running"
    row = {"vmid": g.vmid, "name": g.name, "status": status,
           "cpu": round(float(s.guest_cpu[gi]) / g.cores, 6) if running else 0,
           "maxcpu" if resources else "cpus": g.cores,
           "mem": int(s.guest_mem[gi]) if running else 0, "maxmem": g.memory,
           "disk": 0, "maxdisk": g.maxdisk,
           "diskread": int(s.counters[0, gi]) if running else 0,
           "diskwrite": int(s.counters[1, gi]) if running else 0,
           "netin": int(s.counters[2, gi]) if running else 0,
           "netout": int(s.counters[3, gi]) if running else 0,
           "uptime": int(s.t - g.start_time) if running else 0,
           "template": int(g.template)}
    if resources:
        row = {"id": f"{g.type}/{g.vmid}", "type": g.type, "node": g.node, **row}
    if g.tags:
        row["tags"] = g.tags
    if g.lock:
        row["lock"] = g.lock
    if resources and g.pool:
        row["pool"] = g.pool
    if resources and g.sid in c.ha_resources:
        row["hastate"] = c.ha_resources[g.sid]["state"]
    if not resources and running and g.type == "qemu":
        row["pid"] = 100000 + g.vmid
        row["qmpstatus"] = "running"
    if not resources and g.type == "lxc":
        row["type"] = "lxc"
        row["maxswap"] = 512 * 1024**2
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
               f'"name":{json.dumps(g.name)},"maxcpu":{g.cores},"maxmem":{g.memory},"disk":0,'
               f'"maxdisk":{g.maxdisk},"template":{int(g.template)}')
        extra = {"tags": g.tags or None, "lock": g.lock, "pool": g.pool,
                 "hastate": c.ha_resources[g.sid]["state"] if g.sid in c.ha_resources else None}
        suf = "".join(f",{json.dumps(k)}:{json.dumps(v)}" for k, v in extra.items() if v) + "}"
        parts.append((pre, suf))
    c._row_parts = (c.version, parts)
    return parts


def resources_vm_json(c: Cluster, s: Snapshot) -> str:
    """The same rows as :func:`resources_vm_rows`, JSON-encoded directly (comma-joined, no brackets)."""
    parts = _static_parts(c)
    online = [c.node(g.node).online for g in c.guests]
    cpu = (s.guest_cpu / c.params.cores).round(6).tolist()
    mem = s.guest_mem.astype("int64").tolist()
    rd, wr, nin, nout = s.counters.tolist()
    out = []
    for gi, g in enumerate(c.guests):
        pre, suf = parts[gi]
        if online[gi] and g.status == "running":
            out.append(f'{pre},"status":"running","cpu":{cpu[gi]},"mem":{mem[gi]},"diskread":{rd[gi]},'
                       f'"diskwrite":{wr[gi]},"netin":{nin[gi]},"netout":{nout[gi]},'
                       f'"uptime":{int(s.t - g.start_time)}{suf}')
        else:
            st = g.status if online[gi] else "unknown"
            out.append(f'{pre},"status":"{st}","cpu":0,"mem":0,"diskread":0,"diskwrite":0,"netin":0,'
                       f'"netout":0,"uptime":0{suf}')
    return ",".join(out)
