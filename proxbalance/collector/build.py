"""Build a :class:`ClusterSnapshot`, history samples and the new guest inventory from one cycle's raw data.

Pure: no I/O, no clock (``t`` is passed in). Units follow proxbalance.model.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from proxbalance.collector.fetch import RawCluster
from proxbalance.model import ClusterSnapshot, Guest, Node, Storage
from proxbalance.pve.parse import (
    GuestConfig,
    as_bool,
    as_float,
    as_int,
    newest_point,
    parse_guest_config,
    split_tags,
)
from proxbalance.store.history import guest_sample, node_sample
from proxbalance.store.inventory import Counters, InventoryEntry


def guest_shape(row: dict[str, Any]) -> str:
    """Fingerprint of the config-derived sizes in /cluster/resources: a change means the config changed."""
    return f"{as_float(row.get('maxcpu')):g}/{as_int(row.get('maxmem'))}/{as_int(row.get('maxdisk'))}"


def guest_rows(raw: RawCluster) -> list[dict[str, Any]]:
    return sorted((r for r in raw.resources if r.get("type") in ("qemu", "lxc") and r.get("vmid") is not None),
                  key=lambda r: int(r["vmid"]))


def plan_config_reads(raw: RawCluster, inventory: dict[int, InventoryEntry], cycle: int,
                      refresh_cycles: int, cap: int) -> dict[int, tuple[str, str]]:
    """vmid -> (node, type) of configs to read: every new/changed guest, plus up to ``cap`` due ones."""
    need: dict[int, tuple[str, str]] = {}
    due: list[tuple[int, int, str, str]] = []
    for row in guest_rows(raw):
        vmid, node, gtype = int(row["vmid"]), str(row.get("node", "")), str(row["type"])
        entry = inventory.get(vmid)
        if (entry is None or entry.node != node or entry.type != gtype or entry.lock != row.get("lock")
                or entry.tags != (row.get("tags") or "") or entry.shape != guest_shape(row)):
            need[vmid] = (node, gtype)
        elif cycle - entry.config_cycle >= refresh_cycles:
            due.append((entry.config_cycle, vmid, node, gtype))
    for _, vmid, node, gtype in sorted(due)[:cap]:
        need[vmid] = (node, gtype)
    return need


def _rate(cur: Any, prev: int, dt: float) -> float:
    value = as_int(cur)
    return (value - prev) / dt if dt > 0 and value >= prev else 0.0


def _maintenance(raw: RawCluster) -> set[str]:
    status = (raw.ha_manager or {}).get("manager_status", {}).get("node_status", {}) or {}
    return {n for n, s in status.items() if str(s).startswith("maintenance")}


def build_nodes(raw: RawCluster) -> list[Node]:
    res = {r["node"]: r for r in raw.resources if r.get("type") == "node" and r.get("node")}
    maint = _maintenance(raw)
    nodes = []
    for name in raw.node_names():
        row, st = res.get(name, {}), raw.node_status.get(name, {})
        online = raw.node_online(name)
        rrd = newest_point(raw.node_rrd.get(name, []))
        mem = st.get("memory") or {}
        load = st.get("loadavg") or []
        nodes.append(Node(
            name=name, online=online, reachable=online and name not in raw.unreachable,
            maxcpu=as_int((st.get("cpuinfo") or {}).get("cpus")) or as_int(row.get("maxcpu")),
            cpu=as_float(st.get("cpu", row.get("cpu"))),
            maxmem=as_int(mem.get("total")) or as_int(row.get("maxmem")),
            mem=as_int(mem.get("used")) if mem.get("used") is not None else as_int(row.get("mem")),
            iowait=as_float(rrd.get("iowait")), loadavg=as_float(load[0] if load else rrd.get("loadavg")),
            netin=as_float(rrd.get("netin")), netout=as_float(rrd.get("netout")),
            pressure_cpu_some=as_float(rrd.get("pressurecpusome")),
            pressure_io_some=as_float(rrd.get("pressureiosome")),
            pressure_io_full=as_float(rrd.get("pressureiofull")),
            pressure_mem_some=as_float(rrd.get("pressurememorysome")),
            pressure_mem_full=as_float(rrd.get("pressurememoryfull")),
            maintenance=name in maint, uptime=as_int(st.get("uptime", row.get("uptime"))),
            pve_version=str(st.get("pveversion", ""))))
    return nodes


def build_storages(raw: RawCluster) -> list[Storage]:
    """Per-node storage lists; nodes that did not answer fall back to /cluster/resources storage rows."""
    out: list[Storage] = []
    for name in raw.node_names():
        if name in raw.node_storage:
            out.extend(raw.node_storage[name])
            continue
        for r in raw.resources:
            if r.get("type") == "storage" and r.get("node") == name:
                out.append(Storage(storage=str(r.get("storage", "")), node=name, type=str(r.get("plugintype", "")),
                                   shared=as_bool(r.get("shared", 0)), total=as_int(r.get("maxdisk")),
                                   used=as_int(r.get("disk")), active=r.get("status") == "available",
                                   content=tuple(sorted(c for c in str(r.get("content", "")).split(",") if c))))
    return sorted(out, key=lambda s: (s.node, s.storage))


@dataclass
class Built:
    snapshot: ClusterSnapshot
    node_samples: list[dict]
    guest_samples: list[dict]
    inventory: list[InventoryEntry]
    configs_read: int


def build(raw: RawCluster, inventory: dict[int, InventoryEntry], t: float, cycle: int) -> Built:
    nodes = build_nodes(raw)
    storages = build_storages(raw)
    shared = frozenset(s.storage for s in storages if s.shared) | frozenset(
        str(s.get("storage")) for s in raw.storage_config if as_bool(s.get("shared", 0)))
    ha = {str(r.get("sid")): r for r in raw.ha_resources}
    guests: list[Guest] = []
    inv: list[InventoryEntry] = []
    gsamples: list[dict] = []
    for row in guest_rows(raw):
        vmid, node, gtype = int(row["vmid"]), str(row.get("node", "")), str(row["type"])
        old = inventory.get(vmid)
        if vmid in raw.configs:
            cfg, cfg_cycle, cfg_time = parse_guest_config(gtype, raw.configs[vmid], shared), cycle, t
        elif old is not None:
            cfg, cfg_cycle, cfg_time = old.config, old.config_cycle, old.config_time
        else:
            cfg, cfg_cycle, cfg_time = GuestConfig(), -10**9, 0.0
        # re-mark shared flags with this cycle's storage list (a storage may have become shared)
        disks = tuple(d if (d.storage in shared) == d.shared else type(d)(d.key, d.storage, d.size, d.storage in shared)
                      for d in cfg.disks)
        prev = old.counters if old is not None else None
        dt = t - prev.time if prev is not None and prev.node == node else 0.0
        p = prev or Counters(0, "", 0, 0, 0, 0)
        rates = [_rate(row.get(k), getattr(p, k), dt) for k in ("diskread", "diskwrite", "netin", "netout")]
        sid = f"{'vm' if gtype == 'qemu' else 'ct'}:{vmid}"
        ha_row = ha.get(sid)
        guest = Guest(
            vmid=vmid, name=str(row.get("name", "")), type=gtype, node=node, status=str(row.get("status", "")),
            maxcpu=as_float(row.get("maxcpu")), cpu=as_float(row.get("cpu")), maxmem=as_int(row.get("maxmem")),
            mem=as_int(row.get("mem")), maxdisk=as_int(row.get("maxdisk")), diskread=rates[0], diskwrite=rates[1],
            netin=rates[2], netout=rates[3], tags=split_tags(row.get("tags")),
            ha_managed=ha_row is not None or bool(row.get("hastate")),
            ha_state=(ha_row or {}).get("state") or row.get("hastate"), lock=row.get("lock") or None,
            template=as_bool(row.get("template", 0)), pool=row.get("pool") or None, disks=disks,
            passthrough=cfg.passthrough, bind_mounts=cfg.bind_mounts, uptime=as_int(row.get("uptime")))
        guests.append(guest)
        counters = Counters(t, node, *(as_int(row.get(k)) for k in ("diskread", "diskwrite", "netin", "netout")))
        inv.append(InventoryEntry(vmid=vmid, type=gtype, node=node, lock=row.get("lock"), tags=row.get("tags") or "",
                                  shape=guest_shape(row), config=cfg, config_cycle=cfg_cycle, config_time=cfg_time,
                                  counters=counters, seen_time=t))
        if not guest.template:
            gsamples.append(guest_sample(int(t), vmid, guest.cpu * guest.maxcpu, guest.mem,
                                         rates[0] + rates[1], rates[2] + rates[3]))
    # a config we wanted but could not read (node down) keeps the old node/lock/tags so it is retried
    inv = [_keep_stale(e, inventory.get(e.vmid)) if e.vmid not in raw.configs and _changed(e, inventory.get(e.vmid))
           else e for e in inv]
    known = {n.name for n in nodes}
    for g in guests:  # every guest's node must be in the snapshot (the engine indexes by it)
        if g.node not in known:
            nodes.append(Node(name=g.node, online=False, maxcpu=0, cpu=0.0, maxmem=0, mem=0, reachable=False))
            known.add(g.node)
    nsamples = [node_sample(int(t), n.name, n.cpu * n.maxcpu, n.mem, n.iowait, n.netin + n.netout)
                for n in nodes if n.online and n.reachable]
    snapshot = ClusterSnapshot(time=t, nodes=tuple(nodes), guests=tuple(guests), storages=tuple(storages),
                               ha_rules=tuple(raw.ha_rules), quorate=raw.quorate, cluster_name=raw.cluster_name,
                               errors=tuple(raw.errors))
    return Built(snapshot, nsamples, gsamples, inv, len(raw.configs))


def _changed(new: InventoryEntry, old: InventoryEntry | None) -> bool:
    return old is None or (new.node, new.type, new.lock, new.tags, new.shape) != (
        old.node, old.type, old.lock, old.tags, old.shape)


def _keep_stale(new: InventoryEntry, old: InventoryEntry | None) -> InventoryEntry:
    """Keep the old change-detection keys so the next cycle tries the config read again."""
    if old is None:
        return InventoryEntry(new.vmid, new.type, new.node, new.lock, "\x00unread", new.shape, new.config,
                              new.config_cycle, new.config_time, new.counters, new.seen_time)
    return InventoryEntry(new.vmid, old.type, old.node, old.lock, old.tags, old.shape, new.config,
                          new.config_cycle, new.config_time, new.counters, new.seen_time)
