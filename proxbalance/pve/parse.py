"""Turn PVE's JSON into model objects and small typed records. Pure functions, no I/O.

Units are PVE's: CPU fractions of ``maxcpu``, bytes, byte counters (cumulative) or rates (bytes/s in rrddata).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from proxbalance.model import Disk, HARule, Storage

_SIZE = re.compile(r"^(\d+(?:\.\d+)?)([KMGT]?)B?$", re.IGNORECASE)
_UNITS = {"": 1, "K": 1024, "M": 1024**2, "G": 1024**3, "T": 1024**4}
QEMU_DISK_KEY = re.compile(r"^(ide|sata|scsi|virtio|efidisk|tpmstate)\d+$")
LXC_DISK_KEY = re.compile(r"^(rootfs|mp\d+)$")
QEMU_PASSTHROUGH_KEY = re.compile(r"^(hostpci|usb|serial|parallel)\d+$")


def as_float(value: Any, default: float = 0.0) -> float:
    try:
        return default if value is None else float(value)
    except (TypeError, ValueError):
        return default


def as_int(value: Any, default: int = 0) -> int:
    try:
        return default if value is None else int(float(value))
    except (TypeError, ValueError):
        return default


def as_bool(value: Any) -> bool:
    if isinstance(value, str):
        return value.strip().lower() in ("1", "true", "yes", "on")
    return bool(value)


def parse_size(text: str) -> int:
    """``32G`` -> bytes (PVE sizes are binary: K=1024)."""
    m = _SIZE.match(text.strip())
    if not m:
        return 0
    return int(float(m.group(1)) * _UNITS[m.group(2).upper()])


def split_tags(text: str | None) -> tuple[str, ...]:
    """PVE writes tags ``;``-separated (older versions also accept ``,`` and spaces)."""
    if not text:
        return ()
    return tuple(t for t in re.split(r"[;,\s]+", text) if t)


def _options(value: str) -> tuple[str, dict[str, str]]:
    """``local-lvm:vm-100-disk-0,size=32G,ssd=1`` -> ("local-lvm:vm-100-disk-0", {"size": "32G", "ssd": "1"})."""
    parts = str(value).split(",")
    head, opts = parts[0], {}
    for p in parts[1:]:
        k, _, v = p.partition("=")
        opts[k.strip()] = v.strip()
    if "=" in head:  # "file=local:..." or "volume=..." written with its key
        k, _, v = head.partition("=")
        opts[k] = v
        head = opts.get("file") or opts.get("volume") or v
    return head, opts


@dataclass(frozen=True, slots=True)
class GuestConfig:
    """What ProxBalance needs from a guest config. ``digest`` is PVE's config digest (sha1)."""

    disks: tuple[Disk, ...] = ()
    passthrough: bool = False
    bind_mounts: bool = False
    cores: float = 0.0
    memory: int = 0  # bytes
    digest: str = ""


def parse_guest_config(gtype: str, config: dict[str, Any], shared_storages: frozenset[str]) -> GuestConfig:
    """Disks with their storages, passthrough devices, bind mounts, cores and memory of a qemu/lxc config."""
    disks: list[Disk] = []
    passthrough = bind = False
    key_re = QEMU_DISK_KEY if gtype == "qemu" else LXC_DISK_KEY
    for key, value in config.items():
        if key_re.match(key):
            head, opts = _options(value)
            if opts.get("media") == "cdrom" or head in ("none", "cdrom"):
                continue
            if head.startswith("/"):  # a host path: block device passthrough (qemu) or bind mount (lxc)
                if gtype == "qemu":
                    passthrough = True
                else:
                    bind = True
                continue
            storage = head.split(":", 1)[0]
            disks.append(Disk(key=key, storage=storage, size=parse_size(opts.get("size", "0")),
                              shared=storage in shared_storages))
        elif gtype == "qemu" and QEMU_PASSTHROUGH_KEY.match(key):
            text = str(value)
            if key.startswith("usb") and text.startswith("spice"):
                continue
            if key.startswith(("serial", "parallel")) and not text.startswith("/dev/"):
                continue  # "socket" serial consoles migrate fine
            passthrough = True
        elif gtype == "lxc" and (re.match(r"^dev\d+$", key) or key == "lxc"):
            bind = True  # device passthrough or raw lxc.* keys (mount entries, cgroup devices)
    if gtype == "qemu":
        cores = as_float(config.get("vcpus")) or as_float(config.get("cores"), 1) * as_float(config.get("sockets"), 1)
    else:
        cores = as_float(config.get("cores"))
    return GuestConfig(disks=tuple(sorted(disks, key=lambda d: d.key)), passthrough=passthrough,
                       bind_mounts=bind, cores=cores, memory=as_int(config.get("memory")) * 1024**2,
                       digest=str(config.get("digest", "")))


def parse_storage(node: str, row: dict[str, Any]) -> Storage:
    """One row of ``/nodes/{node}/storage``."""
    return Storage(storage=str(row.get("storage", "")), node=node, type=str(row.get("type", "")),
                   shared=as_bool(row.get("shared", 0)), total=as_int(row.get("total")),
                   used=as_int(row.get("used")), active=as_bool(row.get("active", 1)),
                   enabled=as_bool(row.get("enabled", 1)),
                   content=tuple(sorted(c for c in str(row.get("content", "")).split(",") if c)))


def parse_ha_rule(row: dict[str, Any]) -> HARule | None:
    """One row of ``/cluster/ha/rules`` (PVE 9); None for a type ProxBalance does not know."""
    rtype = row.get("type")
    if rtype not in ("node-affinity", "resource-affinity"):
        return None
    nodes: list[tuple[str, int]] = []
    for part in str(row.get("nodes", "") or "").split(","):
        if part:
            name, _, prio = part.partition(":")
            nodes.append((name, as_int(prio, 0)))
    affinity = row.get("affinity") if rtype == "resource-affinity" else None
    return HARule(rule=str(row.get("rule", "")), type=rtype,
                  resources=tuple(r for r in str(row.get("resources", "")).split(",") if r),
                  nodes=tuple(nodes), strict=as_bool(row.get("strict", 0)),
                  affinity=affinity if affinity in ("positive", "negative") else None,
                  disabled=as_bool(row.get("disable", 0)))


def newest_point(points: list[dict[str, Any]], key: str = "cpu") -> dict[str, Any]:
    """The newest rrddata point that has ``key`` (the newest one is often still empty)."""
    for point in sorted(points or [], key=lambda p: as_float(p.get("time")), reverse=True):
        if point.get(key) is not None:
            return point
    return {}


UPID = re.compile(r"^UPID:([A-Za-z0-9_-]{1,50}):[0-9A-Fa-f]{8}:[0-9A-Fa-f]{8}:[0-9A-Fa-f]{8}:[^:]*:[^:]*:[^:]*:$")


def upid_node(upid: str) -> str | None:
    """The node a UPID belongs to, or None when ``upid`` is not a valid UPID."""
    m = UPID.match(upid)
    return m.group(1) if m else None
