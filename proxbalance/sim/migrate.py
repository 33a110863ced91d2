"""Migrations as PVE does them: checks made before the task, then a timed qmigrate/vzmigrate task.

Duration = (memory in use for a live VM + local disks that are copied) / bandwidth, plus a few seconds of
fixed phases. The guest (and so its load) changes node only when the task ends OK.
"""

from __future__ import annotations

from proxbalance.sim.cluster import Cluster, SimGuest
from proxbalance.sim.pve_errors import NO_QUORUM, PVEError, param_error
from proxbalance.sim.tasks import Task, TaskManager, duration_text


def fmt_bytes(b: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if abs(b) < 1024 or unit == "TiB":
            return f"{b:.1f} {unit}" if unit != "B" else f"{int(b)} B"
        b /= 1024
    return f"{b:.1f} TiB"


def kind(g: SimGuest) -> str:
    return "VM" if g.type == "qemu" else "CT"


def storage_map(spec: str | None) -> dict[str, str]:
    """Parse ``targetstorage`` (``dst`` or ``src:dst,src2:dst2``); key ``*`` = every storage."""
    out: dict[str, str] = {}
    for part in filter(None, (spec or "").split(",")):
        src, _, dst = part.partition(":")
        out[src if dst else "*"] = dst or src
    return out


def unavailable_storages(c: Cluster, g: SimGuest, target: str, mapping: dict[str, str]) -> list[str]:
    missing = []
    for d in g.disks:
        sid = mapping.get(d.storage, mapping.get("*", d.storage))
        st = c.storage(sid)
        if st is None or not st.on(target):
            missing.append(sid)
    return sorted(set(missing))


def local_disks(c: Cluster, g: SimGuest) -> list[tuple[int, object]]:
    return [(i, d) for i, d in enumerate(g.disks) if not (c.storage(d.storage) and c.storage(d.storage).shared)]


def check_request(c: Cluster, g: SimGuest, source: str, target: str) -> None:
    """Checks PVE makes synchronously for every migrate call (order as in qemu-server/pve-container)."""
    if target == source:
        raise param_error({"target": "target is local node."})
    if not c.quorate:
        raise PVEError(500, NO_QUORUM)
    if c.node(target) is None:
        raise PVEError(500, f"no such cluster node '{target}'")
    if g.lock:
        raise PVEError(500, f"{kind(g)} is locked ({g.lock})")


def start_migration(c: Cluster, tm: TaskManager, g: SimGuest, target: str, now: float, user: str,
                    online: bool = False, restart: bool = False, with_local_disks: bool = False,
                    targetstorage: str | None = None, bwlimit: float | None = None, force: bool = False,
                    ct_online: bool = False) -> Task:
    """Start the qmigrate/vzmigrate task (checks already done). ``bwlimit`` in KiB/s as PVE takes it.
    ``force`` lets a stopped VM with local devices go (QemuMigrate.pm prepare: never a running one);
    ``ct_online`` is a running CT asked to move with ``online=1``: the API accepts it, the task then fails
    (pve-container PVE/LXC/Migrate.pm prepare: "lxc live migration is currently not implemented")."""
    src = c.node(g.node)
    tgt = c.node(target)
    running = g.status == "running"
    bw = min(c.bandwidth, bwlimit * 1024) if bwlimit else c.bandwidth
    snap = c.snapshot(at=now)
    mem = float(snap.guest_mem[c.guest_index[g.vmid]]) if running else 0.0
    disks = local_disks(c, g)
    disk_bytes = float(sum(d.size for _, d in disks))
    k = kind(g)
    lines: list[tuple[float, str]] = []
    t = now

    def log(text: str, dt: float = 0.0) -> None:
        nonlocal t
        t += dt
        lines.append((t, text))

    fail: str | None = None
    exitstatus = "OK"
    if ct_online:
        log(f"starting migration of {k} {g.vmid} to node '{target}' ({tgt.ip})")
        log(f"ERROR: migration aborted (duration {duration_text(1)}): lxc live migration is currently not "
            "implemented", 1)
        return _finish(c, tm, g, src.name, target, now, t + 0.5, "migration aborted", lines, user, lock=False)
    if g.type == "lxc" and running:
        log(f"shutdown CT {g.vmid}")
        t += 3
    log(f"starting migration of {k} {g.vmid} to node '{target}' ({tgt.ip})")
    for i, d in disks:
        where = "attached" if g.type == "qemu" else "in current VM config"
        log(f"found local {'disk' if g.type == 'qemu' else 'volume'} '{d.volid(g.vmid, i)}' ({where})")
    if not tgt.online:
        fail = "Can't connect to destination address using public key"
        log(f"# /usr/bin/ssh -e none -o 'BatchMode=yes' -o 'HostKeyAlias={target}' root@{tgt.ip} /bin/true")
        log(f"ssh: connect to host {tgt.ip} port 22: No route to host", 3)
    elif g.type == "qemu" and g.passthrough and (running or not force):
        fail = "can't migrate VM which uses local devices: hostpci0"
    elif g.type == "qemu" and running and online and disks and not with_local_disks:
        fail = "can't live migrate attached local disks without with-local-disks option"
    else:
        free = float(tgt.memory) - float(snap.node_mem_demand[c.node_index[target]])
        need = mem if running else 0.0
        if running and need > free:
            fail = (f"start failed: not enough memory on node '{target}' to start {k} {g.vmid} "
                    f"(needs {fmt_bytes(need)}, available {fmt_bytes(max(free, 0.0))})")
            log(f"starting {k} {g.vmid} on remote node '{target}'", 1)
    if g.type == "qemu" and g.passthrough and not fail:
        log("migrating VM which uses local devices")
    if fail:
        log(f"ERROR: migration aborted (duration {duration_text(t + 1 - now)}): {fail}", 1)
        exitstatus = "migration aborted"
    else:
        forced = c.fail_migrations.get(g.vmid, 0) > 0
        if forced:
            c.fail_migrations[g.vmid] -= 1
        exitstatus = _transfer(g, log, lambda: t, target, running and g.type == "qemu", mem, disks,
                               disk_bytes if (with_local_disks or not running or g.type == "lxc") else 0.0,
                               bw, now, forced)
    return _finish(c, tm, g, src.name, target, now, t + 0.5, exitstatus, lines, user)


def _finish(c: Cluster, tm: TaskManager, g: SimGuest, source: str, target: str, now: float, end: float,
            exitstatus: str, lines: list, user: str, lock: bool = True) -> Task:
    """Lock the guest and start the task; at its end the lock goes and, if it went OK, the guest moves.
    (A migration failing in its prepare step never takes the config lock.)"""
    if lock:
        g.lock = "migrate"
    c.touch()

    def on_end(at: float, ok: bool) -> None:
        if g.node != source or not lock:  # recovered elsewhere by HA fencing meanwhile: nothing left to do
            return
        g.lock = None
        if ok:
            c.move_guest(g, target, at)
        c.touch()

    ttype = "qmigrate" if g.type == "qemu" else "vzmigrate"
    return tm.start(source, ttype, str(g.vmid), user, now, end, exitstatus, lines, on_end)


def _transfer(g, log, clock, target, live, mem, disks, disk_bytes, bw, start, forced) -> str:
    """Append the transfer phase's progress lines; return the exit status."""
    if g.type == "qemu" and live:
        log(f"starting VM {g.vmid} on remote node '{target}'", 1)
        log("start remote tunnel", 1)
        log("ssh tunnel ver 1")
        if disk_bytes:
            log("starting storage migration")
            for _, d in disks:
                drive = f"drive-{d.key}"
                log(f"{d.key}: start migration to nbd:unix:/run/qemu-server/{g.vmid}_nbd.migrate:exportname={drive}")
                log(f"drive mirror is starting for {drive}")
                _progress(log, d.size, bw, lambda x, tot, s, dt, drive=drive:
                          f"{drive}: transferred {fmt_bytes(x)} of {fmt_bytes(tot)} ({100 * x / tot:.2f}%) in {dt}s"
                          + (", ready" if x >= tot else ""))
            log("all 'mirror' jobs are ready")
        log(f"starting online/live migration on unix:/run/qemu-server/{g.vmid}.migrate")
        log("set migration capabilities")
        log("migration downtime limit: 100 ms")
        log("migration cachesize: 512.0 MiB")
        log("set migration parameters")
        log(f"start migrate command to unix:/run/qemu-server/{g.vmid}.migrate")
        if forced:
            _progress(log, mem, bw, _mem_line, stop_at=0.5)
            log(f"ERROR: online migrate failure - VM {g.vmid} qmp command 'query-migrate' failed - "
                "client closed connection")
            log("aborting phase 2 - cleanup resources")
            log("migrate_cancel")
            log(f"ERROR: migration finished with problems (duration {duration_text(clock() + 1 - start)})", 1)
            return "migration problems"
        _progress(log, mem, bw, _mem_line)
        log(f"average migration speed: {fmt_bytes(bw)}/s - downtime 47 ms")
        log("migration status: completed")
    else:
        if disk_bytes:
            log("copying local disk images" if g.type == "qemu" else "start copying volumes", 1)
            _progress(log, disk_bytes, bw, lambda x, tot, s, dt: f"transferred {fmt_bytes(x)} of "
                      f"{fmt_bytes(tot)} ({100 * x / tot:.2f}%)")
            for i, d in disks:
                log(f"volume '{d.volid(g.vmid, i)}' is '{d.volid(g.vmid, i)}' on the target")
        if forced:
            log(f"ERROR: migration aborted (duration {duration_text(clock() + 1 - start)}): "
                "command 'rsync' failed: exit code 12", 1)
            return "migration aborted"
        if g.type == "lxc":
            log("start final cleanup", 1)
            if g.status == "running":
                log("start container on target node", 1)
    log(f"migration finished successfully (duration {duration_text(clock() + 1 - start)})", 1)
    return "OK"


def _mem_line(x: float, tot: float, speed: float, dt: int) -> str:
    return f"migration active, transferred {fmt_bytes(x)} of {fmt_bytes(tot)} VM-state, {fmt_bytes(speed)}/s"


def _progress(log, total: float, bw: float, fmt, stop_at: float = 1.0) -> None:
    """Progress lines for ``total`` bytes at ``bw`` bytes/s: one per interval, at most ~20."""
    total = max(total, 1.0)
    seconds = total / bw
    step = max(1.0, seconds / 20)
    done, elapsed = 0.0, 0.0
    while done < total * stop_at:
        dt = min(step, (total - done) / bw)
        elapsed += dt
        done = min(total, done + bw * dt)
        log(fmt(done, total, bw, int(round(elapsed))), dt)
