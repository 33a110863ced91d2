"""Validation of one move, run before every execution (manual, batch, automatic, evacuation).

The contract's six checks by name (``staleness``, ``guest_state``, ``resources``, ``storage``, ``locks``,
``affinity``) plus ``quorum``, ``target`` (exists, online, not in maintenance) and ``devices`` (passthrough,
unshared bind mounts). Each check's ``detail`` says what it saw and, on failure, what would fix it. Numbers
are live (read from PVE just now); only the staleness check looks at the stored snapshot.

An unknown vmid or target node is bad input: NotFoundError (404), not a failed check.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from proxbalance.executor.context import ExecContext
from proxbalance.executor.live import LiveGuest, LiveView
from proxbalance.executor.maintenance import maintenance_nodes
from proxbalance.store import migrations_log as mlog
from proxbalance.store.snapshots import snapshot_age_seconds

GIB = 1024**3
PIN_TAGS = {"pinned", "pin"}


@dataclass(frozen=True)
class Check:
    name: str
    passed: bool
    detail: str

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "passed": self.passed, "detail": self.detail}


@dataclass
class Validation:
    checks: list[Check] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)
    #: how the move would run: mode (online|restart|offline), with_local_disks, targetstorage, ha, guest facts
    plan: dict[str, Any] = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        return all(c.passed for c in self.checks)

    @property
    def failed(self) -> list[Check]:
        return [c for c in self.checks if not c.passed]

    def check(self, name: str) -> Check:
        return next(c for c in self.checks if c.name == name)

    def to_dict(self) -> dict[str, Any]:
        return {"passed": self.passed, "checks": [c.to_dict() for c in self.checks], "warnings": list(self.warnings)}

    def reason(self) -> str:
        return "; ".join(f"{c.name}: {c.detail}" for c in self.failed)


def _gib(b: float) -> str:
    return f"{b / GIB:.1f} GiB"


def storage_map(spec: str | None) -> dict[str, str]:
    """``targetstorage`` as PVE takes it: ``dst`` (every storage) or ``src:dst,src2:dst2``; key ``*`` = all."""
    out: dict[str, str] = {}
    for part in filter(None, (spec or "").split(",")):
        src, _, dst = part.partition(":")
        out[src if dst else "*"] = dst or src
    return out


def validate_move(ctx: ExecContext, vmid: int, target_node: str, *, source_node: str | None = None,
                  online: bool | None = None, targetstorage: str | None = None,
                  ignore_maintenance_of: set[str] | frozenset[str] | None = None, live: LiveView | None = None,
                  exclude_migration_id: str | None = None) -> Validation:
    """Run every check for moving ``vmid`` to ``target_node`` now. Raises NotFoundError for an unknown guest or
    node; everything else is a check result."""
    live = live or LiveView.read(ctx.pve)
    g = live.guest(vmid)
    target = live.node(target_node)
    v = Validation()
    v.plan = {"vmid": vmid, "guest_type": g.type, "name": g.name, "source_node": g.node, "target_node": target_node,
              "ha": g.ha_managed, "mem": g.mem, "cpu_cores": g.cpu_cores, "targetstorage": targetstorage}
    v.checks.append(_staleness(ctx))
    v.checks.append(_guest_state(g, source_node, online, v))
    v.checks.append(_resources(ctx, live, g, target_node, v, exclude_migration_id))
    v.checks.append(storage_check(live, g, target_node, targetstorage, v))
    v.checks.append(_locks(ctx, live, g, exclude_migration_id))
    v.checks.append(_affinity(live, g, target_node, v))
    v.checks.append(Check("quorum", live.quorate, "Cluster is quorate" if live.quorate else
                          "Cluster has no quorum: PVE refuses migrations until quorum is restored"))
    v.checks.append(_target(ctx, live, g, target, ignore_maintenance_of or frozenset()))
    v.checks.append(_devices(live, g))
    return v


def _staleness(ctx: ExecContext) -> Check:
    age = snapshot_age_seconds(ctx.store.engine, now=ctx.now())
    limit = float(ctx.settings["thresholds.stale_minutes"])
    if age is None:
        return Check("staleness", False, "No cluster data collected yet: run `proxbalance collect` first")
    minutes = age / 60.0
    if minutes > limit:
        return Check("staleness", False, f"Data is {minutes:.0f} minutes old (limit {limit:g}): run a collection "
                                         "(`proxbalance collect` or POST /api/refresh) and retry")
    return Check("staleness", True, f"Data is {minutes:.0f} minutes old")


def _guest_state(g: LiveGuest, source: str | None, online: bool | None, v: Validation) -> Check:
    name = "guest_state"
    if source and source != g.node:
        return Check(name, False, f"Guest {g.vmid} runs on {g.node}, not on {source}: refresh the data and retry")
    if g.template:
        return Check(name, False, f"Guest {g.vmid} is a template: templates are not balanced")
    if g.status not in ("running", "stopped"):
        return Check(name, False, f"Guest {g.vmid} is {g.status} on {g.node}: it must be running or stopped "
                                  "(is its node reachable?)")
    running = g.status == "running"
    if online and not running:
        return Check(name, False, f"Guest {g.vmid} is stopped: it can only move offline (drop online=true)")
    if online is False and running and g.type == "qemu":
        return Check(name, False, f"VM {g.vmid} is running: PVE moves a running VM only live (online)")
    v.plan["mode"] = ("online" if g.type == "qemu" else "restart") if running else "offline"
    how = {"online": "live", "restart": "in restart mode", "offline": "offline"}[v.plan["mode"]]
    return Check(name, True, f"Guest {g.status} on {g.node}; moves {how}")


def _incoming_reserved(ctx: ExecContext, live: LiveView, target: str, vmid: int, exclude: str | None) -> int:
    """Memory (bytes) of guests ProxBalance is moving onto ``target`` right now (not counted there yet)."""
    total = 0
    for m in mlog.active(ctx.store.engine):
        if m["target_node"] != target or m["vmid"] == vmid or m["migration_id"] == exclude:
            continue
        other = live.guests.get(m["vmid"])
        if other is not None and other.node != target:
            total += other.mem
    return total


def _resources(ctx: ExecContext, live: LiveView, g: LiveGuest, target: str, v: Validation,
               exclude: str | None) -> Check:
    n = live.nodes[target]
    name = "resources"
    if not n.maxmem:
        return Check(name, False, f"No live memory figures for {target} (offline?)")
    if g.status != "running":
        if g.maxmem > n.maxmem:
            v.warnings.append(f"{g.kind} {g.vmid} is configured with {_gib(g.maxmem)}, more than {target} has")
        return Check(name, True, f"Stopped guest needs no memory on {target} until it starts")
    limit_pct = float(ctx.settings["thresholds.mem_limit_percent"])
    reserved = _incoming_reserved(ctx, live, target, g.vmid, exclude)
    after = n.mem + reserved + g.mem
    limit = n.maxmem * limit_pct / 100.0
    if after > limit:
        return Check(name, False, f"{target} would use {_gib(after)} of {_gib(n.maxmem)} memory "
                                  f"({100 * after / n.maxmem:.0f} %, limit {limit_pct:g} %"
                                  + (f", {_gib(reserved)} already on its way there" if reserved else "")
                                  + f"): free {_gib(after - limit)} on {target} or pick another node")
    cpu_after = (n.cpu * n.maxcpu + g.cpu_cores) / max(n.maxcpu, 1) * 100.0
    cpu_limit = float(ctx.settings["executor.max_target_cpu_percent"])
    if cpu_after > cpu_limit:
        return Check(name, False, f"{target} CPU would reach {cpu_after:.0f} % (limit {cpu_limit:g} %): "
                                  "pick a less loaded node")
    if 100 * after / n.maxmem > float(ctx.settings["thresholds.mem_percent"]):
        v.warnings.append(f"{target} memory would be {100 * after / n.maxmem:.0f} %, above the "
                          f"{ctx.settings['thresholds.mem_percent']:g} % threshold")
    v.plan["predicted"] = {"target_mem_pct": round(100 * after / n.maxmem, 2), "target_cpu_pct": round(cpu_after, 2)}
    src = live.nodes.get(g.node)
    if src and src.maxmem:
        v.plan["predicted"].update(
            source_mem_pct=round(100 * max(src.mem - g.mem, 0) / src.maxmem, 2),
            source_cpu_pct=round(max(src.cpu * src.maxcpu - g.cpu_cores, 0) / max(src.maxcpu, 1) * 100, 2))
    return Check(name, True, f"Target has sufficient capacity: memory {100 * after / n.maxmem:.0f} % and CPU "
                             f"{cpu_after:.0f} % after the move")


def storage_check(live: LiveView, g: LiveGuest, target: str, targetstorage: str | None, v: Validation) -> Check:
    name = "storage"
    cfg = live.config_of(g)
    mapping = storage_map(targetstorage)
    missing, local = [], []
    for d in cfg.disks:
        dst = mapping.get(d.storage, mapping.get("*", d.storage))
        if not live.storage_on(target, dst):
            missing.append((d, dst))
        elif not d.shared:
            local.append(d)
    v.plan["with_local_disks"] = bool(local) and g.type == "qemu"
    v.plan["local_disk_bytes"] = sum(d.size for d in local)
    if missing:
        have = ", ".join(sorted(live.storages.get(target, {}))) or "none"
        what = ", ".join(f"'{dst}' ({d.key})" for d, dst in missing)
        return Check(name, False, f"Storage {what} is not available on {target}: give targetstorage mapping to "
                                  f"one of {have}, or pick a node that has it")
    if local:
        disks = ", ".join(f"{d.key} on {d.storage}" for d in local)
        return Check(name, True, f"Storage compatible; local disks ({disks}, {_gib(v.plan['local_disk_bytes'])}) "
                                 "will be copied" + (" with with-local-disks" if g.type == "qemu" else ""))
    return Check(name, True, "Storage compatible" + (" (all disks on shared storage)" if cfg.disks else ""))


def _locks(ctx: ExecContext, live: LiveView, g: LiveGuest, exclude: str | None) -> Check:
    name = "locks"
    if g.lock:
        return Check(name, False, f"Guest is locked ({g.lock}): wait for the operation holding it to finish "
                                  "(or `qm unlock` if it is stale)")
    tasks = live.running_migration_tasks(g.vmid)
    if tasks:
        return Check(name, False, f"A {tasks[0].get('type')} task of this guest is running ({tasks[0].get('upid')}): "
                                  "wait for it to end")
    mine = mlog.active_for_vmid(ctx.store.engine, g.vmid)
    if mine and mine["migration_id"] != exclude:
        return Check(name, False, f"ProxBalance migration {mine['migration_id']} of this guest is {mine['state']}: "
                                  "wait for it to be resolved")
    return Check(name, True, "No active locks")


def _affinity(live: LiveView, g: LiveGuest, target: str, v: Validation) -> Check:
    name = "affinity"
    tags = {t.lower() for t in g.tags}
    if tags & PIN_TAGS:
        return Check(name, False, f"Guest is tagged {sorted(tags & PIN_TAGS)[0]!r}: remove the tag to move it")
    if "ignore" in tags:
        v.warnings.append("guest is tagged 'ignore': the balancer would not move it on its own")
    on_target = [o for o in live.guests.values() if o.node == target and o.vmid != g.vmid]
    for tag in sorted(t for t in tags if t.startswith("exclude_")):
        clash = [o.vmid for o in on_target if tag in {t.lower() for t in o.tags}]
        if clash:
            return Check(name, False, f"Anti-affinity tag {tag!r}: guest(s) {clash} with the same tag already run "
                                      f"on {target}; pick another node")
    for tag in sorted(t for t in tags if t.startswith("affinity_")):
        stay = [o.vmid for o in live.guests.values() if o.vmid != g.vmid and o.node == g.node
                and tag in {t.lower() for t in o.tags}]
        if stay:
            v.warnings.append(f"affinity group {tag!r}: {stay} stay on {g.node}")
    if g.ha_state is not None:
        for rule in live.ha_rules():
            if rule.disabled or g.sid not in rule.resources:
                continue
            if rule.type == "node-affinity":
                allowed = {n for n, _ in rule.nodes}
                if target not in allowed:
                    if rule.strict:
                        return Check(name, False, f"Strict HA node-affinity rule {rule.rule!r} allows only "
                                                  f"{sorted(allowed)}: pick one of them")
                    v.warnings.append(f"HA node-affinity rule {rule.rule!r} prefers {sorted(allowed)}")
            elif rule.affinity == "negative":
                clash = [o.vmid for o in on_target if o.sid in rule.resources]
                if clash:
                    return Check(name, False, f"HA resource-affinity rule {rule.rule!r} keeps {g.sid} apart from "
                                              f"{clash} on {target}; pick another node")
            elif rule.affinity == "positive":
                v.warnings.append(f"HA resource-affinity rule {rule.rule!r} keeps {g.sid} with {list(rule.resources)}")
    return Check(name, True, "No anti-affinity conflicts")


def _target(ctx: ExecContext, live: LiveView, g: LiveGuest, target, ignore: set[str] | frozenset[str]) -> Check:
    name = "target"
    if target.name == g.node:
        return Check(name, False, f"Guest already runs on {target.name}: pick another target")
    if not target.online:
        return Check(name, False, f"{target.name} is offline")
    if target.name in maintenance_nodes(ctx.store) and target.name not in ignore:
        return Check(name, False, f"{target.name} is in ProxBalance maintenance mode: clear it or pick another node")
    if target.ha_maintenance and target.name not in ignore:
        return Check(name, False, f"{target.name} is in PVE HA maintenance mode")
    return Check(name, True, f"{target.name} is online and accepts guests")


def _devices(live: LiveView, g: LiveGuest) -> Check:
    cfg = live.config_of(g)
    if cfg.passthrough:
        return Check("devices", False, "Guest uses local devices (PCI/USB/serial passthrough) that exist only on "
                                       f"{g.node}: remove them from the config to migrate")
    if cfg.bind_mounts:
        return Check("devices", False, "Container has bind mounts or device entries of host paths that are not "
                                       "shared: mark them shared=1 or remove them to migrate")
    return Check("devices", True, "No passthrough devices or local bind mounts")
