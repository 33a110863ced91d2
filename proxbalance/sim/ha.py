"""The HA stack (CRM + LRMs) as pve-ha-manager 5.0 (PVE 9) runs it: migrate requests, rules, maintenance,
fencing and recovery, and the status views.

Timing: the CRM acts on a queued command ``CRM_DELAY`` after it was filed (its 10 s loop). A node that goes
offline is marked ``fence`` after ``FENCE_DELAY`` (src/PVE/HA/NodeStatus.pm ``$fence_delay``); fencing
succeeds once the dead node's agent lock has expired, ``LOCK_TIMEOUT`` after it was last renewed
(src/PVE/HA/Env/PVE2.pm, "hardcoded lock lifetime limit from pmxcfs"), and its services are then recovered to
other nodes (Manager.pm next_state_recovery).
"""

from __future__ import annotations

from proxbalance.sim import ha_rules, migrate
from proxbalance.sim.cluster import Cluster, SimGuest
from proxbalance.sim.pve_errors import NO_QUORUM, PVEError
from proxbalance.sim.tasks import TaskManager

CRM_DELAY = 5.0  # sim seconds between a request and the CRM acting on it
FENCE_DELAY = 60.0
LOCK_TIMEOUT = 120.0
START_SECONDS = 2.0


class HAManager:
    def __init__(self, cluster: Cluster, tasks: TaskManager):
        self.c = cluster
        self.tasks = tasks
        self.pending: dict[str, str] = {}  # sid -> requested node
        self.migrating: dict[str, str] = {}  # sid -> target while its migration task runs
        self.offline_gen: dict[str, int] = {}  # node -> generation, bumped at each offline/online
        self.offline_since: dict[str, float] = {}
        self.maintenance_node: dict[str, str] = {}  # sid -> the node it left for maintenance (its way back)
        self.log: list[tuple[float, str, str]] = []  # (time, level, message): the CRM's syslog

    def _log(self, at: float, level: str, msg: str) -> None:
        self.log.append((at, level, msg))
        del self.log[:-500]

    def resolve(self, sid: str) -> SimGuest:
        """Accept ``vm:100``, ``ct:100`` or ``100`` like PVE does."""
        s = sid if ":" in sid else None
        vmid = sid.split(":")[-1]
        g = self.c.guest(int(vmid)) if vmid.isdigit() else None
        if g is None or (s and s != g.sid) or g.sid not in self.c.ha_resources:
            raise PVEError(500, f"service '{sid}' not defined")
        return g

    def _guest(self, sid: str) -> SimGuest:
        return self.c.guest(int(sid.split(":")[1]))

    # ---- requests --------------------------------------------------------------------------------------
    def motion_info(self, sid: str) -> tuple[list[str], dict[str, list[dict]]]:
        """(comigrated/dependent resources, node -> blocking resources) as PVE::HA::Config
        get_resource_motion_info gives them: positive partners, and per online node the negative partners
        that are on it or on their way to it."""
        together, separate = ha_rules.affinitive(self.c, sid)
        blocking: dict[str, list[dict]] = {}
        for n in self.c.nodes:
            if self.c.node_hastate(n) != "online":
                continue
            for csid in separate:
                if n.name in self._service_nodes(csid):
                    blocking.setdefault(n.name, []).append({"sid": csid, "cause": "resource-affinity"})
        return together, blocking

    def _service_nodes(self, sid: str) -> set[str]:
        g = self._guest(sid)
        out = {g.node}
        if sid in self.migrating:
            out.add(self.migrating[sid])
        return out

    def request(self, g: SimGuest, target: str, now: float) -> dict:
        """POST /cluster/ha/resources/{sid}/migrate: queue ``migrate SID NODE`` for the CRM and answer at once
        (src/PVE/API2/HA/Resources.pm). Nothing is checked against rules here: the CRM decides."""
        if not self.c.quorate:
            raise PVEError(500, NO_QUORUM)
        if self.c.ha_service_state.get(g.sid) == "error":
            raise PVEError(500, f"service '{g.sid}' in error state, must be disabled and fixed first")
        self._queue(g.sid, target, now)
        together, blocking = self.motion_info(g.sid)
        out: dict = {"sid": g.sid, "requested-node": target}
        if together:
            out["comigrated-resources"] = together
        if blocking.get(target):
            out["blocking-resources"] = blocking[target]
        return out

    def _queue(self, sid: str, target: str, now: float) -> None:
        self.pending[sid] = target
        self.c.schedule(now + CRM_DELAY, lambda at, s=sid: self._act(s, at))

    def _act(self, sid: str, at: float) -> None:
        """The CRM's update_crm_commands + execute_migration for one queued command (Manager.pm)."""
        target = self.pending.pop(sid, None)
        g = self._guest(sid)
        if target is None or g is None or sid not in self.c.ha_resources:
            return
        cmd = f"migrate {sid} {target}"
        tn = self.c.node(target)
        if tn is None or self.c.node_hastate(tn) != "online":
            return self._log(at, "err", f"crm command error - node not online: {cmd}")
        if g.node == target:
            return self._log(at, "info", f"ignore crm command - service already on target node: {cmd}")
        together, separate = ha_rules.affinitive(self.c, sid)
        for csid in separate:
            if target in self._service_nodes(csid):
                return self._log(at, "err", f"crm command '{cmd}' error - service '{csid}' on node '{target}' "
                                            f"in negative affinity with service '{sid}'")
        self._log(at, "info", f"got crm command: {cmd}")
        self._migrate(g, target, at)
        for csid in together:
            if target in self._service_nodes(csid):
                continue
            self._log(at, "info", f"crm command '{cmd}' - migrate service '{csid}' to node '{target}' "
                                  f"(service '{csid}' in positive affinity with service '{sid}')")
            self._migrate(self._guest(csid), target, at)

    def _migrate(self, g: SimGuest, target: str, at: float) -> None:
        """The LRM's migrate: a VM goes live with ``with-local-disks`` and ``force`` (src/PVE/HA/Resources/
        PVEVM.pm, "bug #2241"); a CT is relocated (shut down, moved, started: PVECT.pm)."""
        if g.lock or g.sid in self.migrating or not self.c.quorate:
            return
        if migrate.unavailable_storages(self.c, g, target, {}):
            return self._log(at, "err", f"service '{g.sid}' - migration failed (exit code 1)")
        running = g.status == "running"
        self.migrating[g.sid] = target
        self.c.ha_service_state[g.sid] = "migrate" if g.type == "qemu" else "relocate"
        task = migrate.start_migration(self.c, self.tasks, g, target, at, "root@pam",
                                       online=g.type == "qemu" and running, restart=g.type == "lxc",
                                       with_local_disks=True, force=True)
        prev = task.on_end

        def done(t: float, ok: bool) -> None:
            self.migrating.pop(g.sid, None)
            self.c.ha_service_state.pop(g.sid, None)
            prev(t, ok)
            if ok:  # next CRM round: the service's node is checked against its rules again
                self.c.schedule(t + CRM_DELAY, lambda at2, sid=g.sid: self._settle(sid, at2))
        task.on_end = done

    def hamigrate_task(self, g: SimGuest, target: str, now: float, user: str):
        """A plain migrate call on an HA guest: a ``hamigrate`` task running ``ha-manager migrate SID NODE``
        (qemu-server PVE/API2/Qemu.pm migrate_vm; pve-container likewise)."""
        lines = [(now, f"Requesting HA migration for {migrate.kind(g)} {g.vmid} to node {target}")]
        status = "OK" if self.c.quorate else NO_QUORUM

        def on_end(at: float, ok: bool) -> None:
            if ok:
                self._queue(g.sid, target, at)
        return self.tasks.start(g.node, "hamigrate", str(g.vmid), user, now, now + 1.0, status, lines, on_end,
                                stamped=False)

    # ---- placement -------------------------------------------------------------------------------------
    def select_node(self, g: SimGuest, at: float, preference: str = "none", exclude: str | None = None
                    ) -> str | None:
        """Manager.pm select_service_node: with ``none`` and the resource's ``failback`` off it stays on an
        allowed current node; else highest-priority allowed nodes, positive affinity picks the partners' node,
        negative affinity removes theirs; the maintenance fallback node wins when it is among them; ``none``
        stays put on a top-priority node, else the node with the lowest memory use. Nodes in maintenance are
        not online here (NodeStatus.pm), so nothing is ever placed on one."""
        c = self.c
        online = [n.name for n in c.nodes if c.node_hastate(n) == "online" and n.name != exclude]
        pri = ha_rules.allowed_nodes(c, g.sid, online)
        if not pri:
            return None
        together, separate = ha_rules.affinitive(c, g.sid)
        banned = set().union(*(self._service_nodes(s) for s in separate)) if separate else set()
        failback = int(c.ha_resources.get(g.sid, {}).get("failback", 1))
        if preference == "none" and not failback and g.node in ha_rules.permitted_nodes(c, g.sid, online) \
                and g.node not in banned and all(g.node in self._service_nodes(s) for s in together):
            return g.node
        votes: dict[str, int] = {}
        for csid in together:
            for n in self._service_nodes(csid):
                if n in pri:
                    votes[n] = votes.get(n, 0) + 1
        if votes:
            best = max(votes.values())
            pri = [min(n for n, v in votes.items() if v == best)]
        pri = [n for n in pri if n not in banned]
        if not pri:
            return None
        fallback = self.maintenance_node.get(g.sid)
        if fallback in pri:
            return fallback
        if preference == "none" and g.node in pri:
            return g.node
        snap = c.snapshot(at=at)
        use = {n.name: float(snap.node_mem_demand[i]) / n.memory for i, n in enumerate(c.nodes)}
        return min(pri, key=lambda n: (use[n], n))

    def _settle(self, sid: str, at: float) -> None:
        """One CRM round for a started service (Manager.pm next_state_started): on a node its rules do not
        prefer it is moved to one they do (strict node-affinity after a manual migration elsewhere, failback to
        a preferred node, the way back from maintenance), unless its ``failback`` is off."""
        g = self._guest(sid)
        if g is None or sid not in self.c.ha_resources or sid in self.migrating or sid in self.pending:
            return
        if self.c.ha_resources[sid]["state"] != "started" or not self.c.node(g.node).online:
            return
        if self.c.node(g.node).maintenance:
            self.maintenance_node.setdefault(sid, g.node)
            node = self.select_node(g, at, "best-score", exclude=g.node)
        else:
            node = self.select_node(g, at)
        fallback = self.maintenance_node.get(sid)
        if node and node != g.node:
            if fallback is not None and node == fallback:
                self._log(at, "info", f"moving service '{sid}' back to '{fallback}', node came back from "
                                      "maintenance.")
                del self.maintenance_node[sid]
            elif fallback is not None and g.node != fallback:
                self._log(at, "info", f"dropping maintenance fallback node '{fallback}' for '{sid}'")
                del self.maintenance_node[sid]
            self._log(at, "info", f"migrate service '{sid}' to node '{node}' (running)")
            self._migrate(g, node, at)
        elif fallback is not None and g.node == fallback and self.c.node_hastate(self.c.node(g.node)) == "online":
            del self.maintenance_node[sid]  # "clearing stale maintenance node setting (is current node)"

    def set_maintenance(self, node: str, on: bool, now: float) -> None:
        """``ha-manager crm-command node-maintenance enable|disable NODE`` (a CLI command writing the CRM's
        command queue; PVE's REST API has no call for it). On: the node leaves the online set and every started
        service on it is moved to the best other allowed node, remembering the node as its way back; nothing is
        moved onto it or failed back to it. Off: the node is online again and the next CRM round moves those
        services back to it (Manager.pm: "node came back from maintenance")."""
        n = self.c.node(node)
        if n.maintenance == on:
            return
        n.maintenance = on
        self._log(now, "info", f"node '{node}': state changed from '{'online' if on else 'maintenance'}' => "
                               f"'{'maintenance' if on else 'online'}'")
        self.c.touch()
        if on:
            sids = [g.sid for g in self.c.guests if g.node == node and g.sid in self.c.ha_resources]
        else:
            sids = [sid for sid, fb in self.maintenance_node.items() if fb == node]
        for sid in sorted(sids, key=lambda x: int(x.split(":")[1])):
            self.c.schedule(now + CRM_DELAY, lambda at, s=sid: self._settle(s, at))

    def resource_changed(self, sid: str, now: float) -> None:
        """A resource's config was updated (PUT /cluster/ha/resources/{sid}): the next CRM round re-checks it."""
        self.c.schedule(now + CRM_DELAY, lambda at, s=sid: self._settle(s, at))

    # ---- fencing ---------------------------------------------------------------------------------------
    def node_offline(self, node: str, at: float) -> None:
        gen = self.offline_gen.get(node, 0) + 1
        self.offline_gen[node] = gen
        self.offline_since[node] = at
        self.c.schedule(at + FENCE_DELAY, lambda t, n=node, k=gen: self._fence(n, k, t))

    def node_online(self, node: str, at: float) -> None:
        self.offline_gen[node] = self.offline_gen.get(node, 0) + 1
        self.offline_since.pop(node, None)
        self.c.ha_node_state.pop(node, None)
        for sid in [s for s, st in self.c.ha_service_state.items() if st == "fence"]:
            if self._guest(sid).node == node:
                self.c.ha_service_state.pop(sid)
        self.c.touch()

    def _still_down(self, node: str, gen: int) -> bool:
        return self.offline_gen.get(node) == gen and not self.c.node(node).online

    def _fence(self, node: str, gen: int, at: float) -> None:
        """Fence delay over: the node and its services enter ``fence``; recovery waits for the lock."""
        if not self._still_down(node, gen):
            return
        if not self.c.quorate:  # no CRM master without quorum: try again next round
            return self.c.schedule(at + 10.0, lambda t: self._fence(node, gen, t))
        self.c.ha_node_state[node] = "fence"
        for g in self.c.guests:
            if g.node == node and g.sid in self.c.ha_resources and self.c.ha_resources[g.sid]["state"] != "ignored":
                self.c.ha_service_state[g.sid] = "fence"
        self._log(at, "info", f"node '{node}': state changed from 'unknown' => 'fence'")
        fenced_at = max(at, self.offline_since[node] + LOCK_TIMEOUT)
        self.c.schedule(fenced_at, lambda t: self._recover(node, gen, t))
        self.c.touch()

    def _recover(self, node: str, gen: int, at: float) -> None:
        """Fencing succeeded: recover every fenced service to a new node (Manager.pm next_state_recovery);
        leftover locks are removed; a service that was started is started there (a start task)."""
        if not self._still_down(node, gen):
            return
        if not self.c.quorate:
            return self.c.schedule(at + 10.0, lambda t: self._recover(node, gen, t))
        self.c.ha_node_state[node] = "unknown"
        self._log(at, "info", f"fencing: acknowledged - got agent lock for node '{node}'")
        sids = sorted((s for s, st in self.c.ha_service_state.items()
                       if st in ("fence", "recovery") and self._guest(s).node == node),
                      key=lambda s: int(s.split(":")[1]))
        for sid in sids:
            g = self._guest(sid)
            self.migrating.pop(sid, None)
            self.pending.pop(sid, None)
            target = self.select_node(g, at, "best-score", exclude=node)
            if target is None:
                self.c.ha_service_state[sid] = "recovery"
                self._log(at, "err", f"recovering service '{sid}' from fenced node '{node}' failed, "
                                     "no recovery node found")
                continue
            self._log(at, "info", f"recover service '{sid}' from fenced node '{node}' to node '{target}'")
            self.c.ha_service_state.pop(sid, None)
            g.lock = None
            self.c.move_guest(g, target, at, running=False)
            if self.c.ha_resources[sid]["state"] == "started":
                self._start(g, at)
        self.c.touch()

    def _start(self, g: SimGuest, at: float) -> None:
        prefix = "qm" if g.type == "qemu" else "vz"

        def on_end(t: float, ok: bool) -> None:
            if ok and g.status != "running":
                self.c.set_running(g, True, t)
        self.tasks.start(g.node, prefix + "start", str(g.vmid), "root@pam", at, at + START_SECONDS, "OK", [],
                         on_end, stamped=False)

    # ---- views -----------------------------------------------------------------------------------------
    def service_state(self, g: SimGuest) -> str:
        return self.c.hastate(g.sid)

    def status_current(self, now: float) -> list[dict]:
        master = next((n.name for n in self.c.nodes if n.online), self.c.nodes[0].name)
        rows = [{"id": "quorum", "type": "quorum", "node": master, "quorate": int(self.c.quorate),
                 "status": "OK" if self.c.quorate else "No quorum on node '" + master + "'!"},
                {"id": "master", "type": "master", "node": master, "status": f"{master} (active, {_ts(now)})",
                 "timestamp": int(now)}]
        for n in self.c.nodes:
            ts = now if n.online else self.offline_since.get(n.name, now)
            st = ("maintenance mode" if n.maintenance else "active") if n.online else "old timestamp - dead?"
            rows.append({"id": f"lrm:{n.name}", "type": "lrm", "node": n.name, "timestamp": int(ts),
                         "status": f"{n.name} ({st}, {_ts(ts)})"})
        for sid in sorted(self.c.ha_resources, key=lambda s: int(s.split(":")[1])):
            g = self._guest(sid)
            res = self.c.ha_resources[sid]
            state = self.service_state(g)
            rows.append({"id": f"service:{sid}", "type": "service", "sid": sid, "node": g.node,
                         "state": state, "request_state": res["state"], "crm_state": state,
                         "max_relocate": res.get("max_relocate", 1), "max_restart": res.get("max_restart", 1),
                         "failback": res.get("failback", 1),
                         "status": f"{sid} ({g.node}, {state})"})
        return rows

    def manager_status(self, now: float) -> dict:
        """GET /cluster/ha/status/manager_status: the CRM's state plus every node's LRM status
        (src/PVE/API2/HA/Status.pm; LRM.pm update_lrm_status writes state, mode, results, timestamp)."""
        c = self.c
        master = next((n.name for n in c.nodes if n.online), c.nodes[0].name)
        ns = {n.name: c.node_hastate(n) for n in c.nodes}
        svc = {}
        for sid in c.ha_resources:
            g = self._guest(sid)
            row = {"node": g.node, "state": self.service_state(g), "uid": f"{g.vmid:x}sim"}
            if sid in self.migrating:
                row["target"] = self.migrating[sid]
            elif sid in self.pending:
                row["target"] = self.pending[sid]
            if g.status == "running" and sid not in self.migrating:
                row["running"] = 1
            svc[sid] = row
        lrm = {}
        for n in sorted(c.nodes, key=lambda x: x.name):
            mine = [s for s in c.ha_resources if self._guest(s).node == n.name]
            ts = now if n.online else self.offline_since.get(n.name, now)
            lrm[n.name] = {"state": ("active" if mine else "wait_for_agent_lock") if n.online else "lost_agent_lock",
                           "mode": "maintenance" if n.maintenance else "active", "results": {},
                           "timestamp": int(ts)}
        return {"manager_status": {"master_node": master, "node_status": ns, "service_status": svc,
                                   "timestamp": int(now)},
                "quorum": {"node": master, "quorate": int(c.quorate)},
                "lrm_status": lrm}


def _ts(now: float) -> str:
    import time
    return time.strftime("%a %b %d %H:%M:%S %Y", time.gmtime(now))
