"""Scenario files (TOML) -> a :class:`Cluster`. The format is documented in docs/simulator.md."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from proxbalance.sim.clock import SimClock
from proxbalance.sim.cluster import Cluster, SimDisk, SimGuest, SimNode, SimStorage
from proxbalance.sim.generator import WEEK, generate
from proxbalance.sim.traces import Trace

SCENARIO_DIR = Path(__file__).resolve().parent / "scenarios"
DEFAULT_EPOCH = 1748851200  # 2025-06-02 08:00:00 UTC, a Monday morning
GiB, MiB = 1024**3, 1024**2


@dataclass
class Scenario:
    name: str
    data: dict
    faults: list[dict] = field(default_factory=list)


def available() -> list[str]:
    return sorted(p.stem for p in SCENARIO_DIR.glob("*.toml"))


def load_scenario(name_or_path: str | Path) -> Scenario:
    p = Path(name_or_path)
    if not p.suffix and not p.exists():
        p = SCENARIO_DIR / f"{name_or_path}.toml"
    if not p.exists():
        raise FileNotFoundError(f"no scenario '{name_or_path}' (shipped: {', '.join(available())})")
    data = tomllib.loads(p.read_text())
    return Scenario(name=data.get("name", p.stem), data=data, faults=list(data.get("faults", [])))


def _disk(spec: str, default_key: str) -> SimDisk:
    """``key=storage:size_gib`` or ``storage:size_gib``."""
    key, _, rest = spec.rpartition("=")
    storage, _, size = rest.partition(":")
    return SimDisk(key=key or default_key, storage=storage, size=int(float(size or 8) * GiB))


def _root_used_gib(seed: int, i: int, n: dict) -> float:
    """Used space on a node's / (OS, logs, ISOs, templates): 12-45 % of it, fixed per (seed, node)."""
    frac = (0.6180339887 * (i + 1) + 0.137 * seed) % 1.0
    return float(n.get("rootfs_gib", 100)) * (0.12 + 0.33 * frac)


def build(sc: Scenario, seed: int, trace: Trace, speed: float, stepped: bool) -> Cluster:
    d = dict(sc.data)
    epoch = float(d.get("epoch", DEFAULT_EPOCH))
    base_offset = (epoch - trace.t0) % WEEK
    seed = int(d.get("seed", 0)) if seed is None else seed
    if "generator" in d:
        gen = generate(d["generator"], seed, trace.cpu_mean, base_offset)
        for key, rows in gen.items():
            d[key] = rows + list(d.get(key, []))
    nodes = []
    for i, n in enumerate(d.get("nodes", [])):
        nodes.append(SimNode(name=n["name"], nodeid=i + 1, ip=n.get("ip", f"10.10.0.{i + 11}"),
                             cores=int(n.get("cores", 16)), memory=int(float(n.get("memory_gib", 64)) * GiB),
                             online=bool(n.get("online", True)), maintenance=bool(n.get("maintenance", False)),
                             boot_time=epoch - 86400 * (20 + 3 * i) - 1234 * i,
                             cpu_model=n.get("cpu_model", "AMD EPYC 7402P 24-Core Processor"),
                             rootfs=int(float(n.get("rootfs_gib", 100)) * GiB),
                             root_used=int(float(n.get("root_used_gib", _root_used_gib(seed, i, n))) * GiB)))
    storages = [SimStorage(storage=s["storage"], type=s["type"], shared=bool(s.get("shared", False)),
                           content=s.get("content", "images,rootdir"), size=int(float(s.get("size_gib", 1024)) * GiB),
                           nodes=s.get("nodes")) for s in d.get("storages", [])]
    guests = []
    for k, g in enumerate(d.get("guests", [])):
        gtype = g.get("type", "qemu")
        root = "scsi0" if gtype == "qemu" else "rootfs"
        disks = [_disk(s, root if j == 0 else f"{'scsi' if gtype == 'qemu' else 'mp'}{j - (gtype != 'qemu')}")
                 for j, s in enumerate(g.get("disks", [f"{root}=ceph:32"]))]
        mem = int(g["memory_mib"] * MiB) if "memory_mib" in g else int(float(g.get("memory_gib", 2)) * GiB)
        guests.append(SimGuest(
            vmid=int(g["vmid"]), name=g.get("name", f"guest{g['vmid']}"), type=gtype, node=g["node"],
            status=g.get("status", "running"), cores=int(g.get("cores", 2)), memory=mem, disks=disks,
            tags=g.get("tags", ""), template=bool(g.get("template", False)), pool=g.get("pool"),
            lock=g.get("lock"), passthrough=bool(g.get("passthrough", False)),
            trace_row=int(g.get("trace", k)), offset=float(g.get("offset", base_offset)),
            scale=float(g.get("load", 1.0)), start_time=epoch - 86400 * (3 + k % 17) - 97 * k))
    ha = {}
    for r in d.get("ha_resources", []):
        ha[r["sid"]] = {"state": r.get("state", "started"), "max_relocate": int(r.get("max_relocate", 1)),
                        "max_restart": int(r.get("max_restart", 1)), "failback": int(r.get("failback", 1)),
                        **({"group": r["group"]} if r.get("group") else {}),
                        **({"comment": r["comment"]} if r.get("comment") else {})}
    rules = [dict(r) for r in d.get("ha_rules", [])]
    for r in rules:
        if "strict" in r:
            r["strict"] = int(r["strict"])
    pools = {p["poolid"]: p.get("comment", "") for p in d.get("pools", [])}
    options = {"crs": d.get("crs", "ha=static"), "migration": "secure", "keyboard": "en-us",
               "bwlimit": f"migration={int(float(d.get('migration_bandwidth_mib', 500)) * 1024)}"}
    clock = SimClock(epoch, speed=speed, stepped=stepped)
    c = Cluster(name=d.get("cluster_name", f"sim-{sc.name}"), nodes=nodes, guests=guests, storages=storages,
                pools=pools, ha_resources=ha, ha_rules=rules, options=options, trace=trace, clock=clock,
                seed=seed, bandwidth=float(d.get("migration_bandwidth_mib", 500)) * MiB)
    _validate(c)
    return c


def _validate(c: Cluster) -> None:
    seen = set()
    for g in c.guests:
        if g.vmid in seen:
            raise ValueError(f"duplicate vmid {g.vmid}")
        seen.add(g.vmid)
        if c.node(g.node) is None:
            raise ValueError(f"guest {g.vmid} is on unknown node '{g.node}'")
        for disk in g.disks:
            if c.storage(disk.storage) is None:
                raise ValueError(f"guest {g.vmid} uses unknown storage '{disk.storage}'")
    for sid in c.ha_resources:
        g = c.guest(int(sid.split(":")[1]))
        if g is None or g.sid != sid:
            raise ValueError(f"HA resource '{sid}' does not match a guest")
