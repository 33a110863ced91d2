"""The HA manager: migrate requests, service states, node maintenance, status views."""

from __future__ import annotations

from proxbalance.sim import migrate
from proxbalance.sim.cluster import Cluster, SimGuest
from proxbalance.sim.pve_errors import NO_QUORUM, PVEError
from proxbalance.sim.tasks import TaskManager

CRM_DELAY = 5.0  # sim seconds between a request and the CRM acting on it


class HAManager:
    def __init__(self, cluster: Cluster, tasks: TaskManager):
        self.c = cluster
        self.tasks = tasks
        self.pending: dict[str, str] = {}  # sid -> requested node
        self.migrating: set[str] = set()

    def resolve(self, sid: str) -> SimGuest:
        """Accept ``vm:100``, ``ct:100`` or ``100`` like PVE does."""
        s = sid if ":" in sid else None
        vmid = sid.split(":")[-1]
        g = self.c.guest(int(vmid)) if vmid.isdigit() else None
        if g is None or (s and s != g.sid) or g.sid not in self.c.ha_resources:
            raise PVEError(500, f"service '{sid}' not defined")
        return g

    def check(self, g: SimGuest, target: str) -> None:
        if not self.c.quorate:
            raise PVEError(500, NO_QUORUM)
        if self.c.node(target) is None:
            raise PVEError(500, f"no such cluster node '{target}'")
        rule = migrate.strict_rule_block(self.c, g, target)
        if rule:
            raise PVEError(500, f"service '{g.sid}' cannot be migrated to node '{target}' - not allowed by "
                                f"strict node-affinity rule '{rule}'")

    def request(self, g: SimGuest, target: str, now: float) -> dict:
        """POST /cluster/ha/resources/{sid}/migrate: queue the request, answer at once."""
        self.check(g, target)
        self.pending[g.sid] = target
        self.c.schedule(now + CRM_DELAY, lambda at, sid=g.sid: self._act(sid, at))
        return {"sid": g.sid, "requested-node": target}

    def _act(self, sid: str, at: float) -> None:
        target = self.pending.pop(sid, None)
        g = self.c.guest(int(sid.split(":")[1]))
        if target is None or g is None or g.node == target or g.lock or not self.c.quorate:
            return
        self.migrating.add(sid)
        task = migrate.start_migration(self.c, self.tasks, g, target, at, "root@pam",
                                       online=g.type == "qemu", restart=g.type == "lxc")
        prev = task.on_end

        def done(t: float, ok: bool) -> None:
            self.migrating.discard(sid)
            prev(t, ok)
        task.on_end = done

    def hamigrate_task(self, g: SimGuest, target: str, now: float, user: str):
        """A plain migrate call on an HA guest: a ``hamigrate`` task that files the HA request."""
        lines = [(now, f"Requesting HA migration for {migrate.kind(g)} {g.vmid} to node {target}")]
        status = "OK"
        try:
            self.check(g, target)
        except PVEError as exc:
            status = exc.message
        end = now + 1.0

        def on_end(at: float, ok: bool) -> None:
            if ok:
                self.pending[g.sid] = target
                self.c.schedule(at + CRM_DELAY, lambda t, sid=g.sid: self._act(sid, t))
        return self.tasks.start(g.node, "hamigrate", str(g.vmid), user, now, end, status, lines, on_end,
                                stamped=False)

    def set_maintenance(self, node: str, on: bool, now: float) -> None:
        """Maintenance on: every HA service on the node is moved to the least-loaded other node."""
        n = self.c.node(node)
        n.maintenance = on
        self.c.touch()
        if not on:
            return
        snap = self.c.snapshot(at=now)
        usage = {m.name: float(snap.node_mem_demand[i]) / m.memory for i, m in enumerate(self.c.nodes)}
        for g in self.c.guests:
            if g.node != node or g.sid not in self.c.ha_resources:
                continue
            cands = [m.name for m in self.c.nodes if m.online and not m.maintenance and m.name != node
                     and not migrate.strict_rule_block(self.c, g, m.name)]
            if cands:
                target = min(cands, key=lambda x: usage[x])
                usage[target] += g.memory / self.c.node(target).memory
                self.pending[g.sid] = target
                self.c.schedule(now + CRM_DELAY, lambda at, sid=g.sid: self._act(sid, at))

    def service_state(self, g: SimGuest) -> str:
        res = self.c.ha_resources[g.sid]
        if g.sid in self.migrating or g.sid in self.pending:
            return "migrate"
        if not self.c.node(g.node).online:
            return "fence"
        return {"started": "started" if g.status == "running" else "starting"}.get(res["state"], res["state"])

    def status_current(self, now: float) -> list[dict]:
        master = next((n.name for n in self.c.nodes if n.online), self.c.nodes[0].name)
        rows = [{"id": "quorum", "type": "quorum", "node": master, "quorate": int(self.c.quorate),
                 "status": "OK" if self.c.quorate else "No quorum on node '" + master + "'!"},
                {"id": "master", "type": "master", "node": master, "status": f"{master} (active, {_ts(now)})",
                 "timestamp": int(now)}]
        for n in self.c.nodes:
            st = ("maintenance mode" if n.maintenance else "active") if n.online else "old timestamp - dead?"
            rows.append({"id": f"lrm:{n.name}", "type": "lrm", "node": n.name, "timestamp": int(now),
                         "status": f"{n.name} ({st}, {_ts(now)})"})
        for sid in sorted(self.c.ha_resources, key=lambda s: int(s.split(":")[1])):
            g = self.c.guest(int(sid.split(":")[1]))
            res = self.c.ha_resources[sid]
            state = self.service_state(g)
            rows.append({"id": f"service:{sid}", "type": "service", "sid": sid, "node": g.node,
                         "state": state, "request_state": res["state"], "crm_state": state,
                         "max_relocate": res.get("max_relocate", 1), "max_restart": res.get("max_restart", 1),
                         "failback": res.get("failback", 1),
                         "status": f"{sid} ({g.node}, {state})"})
        return rows

    def manager_status(self, now: float) -> dict:
        master = next((n.name for n in self.c.nodes if n.online), self.c.nodes[0].name)
        ns = {n.name: ("maintenance" if n.maintenance else "online") if n.online else "unknown" for n in self.c.nodes}
        svc = {}
        for sid in self.c.ha_resources:
            g = self.c.guest(int(sid.split(":")[1]))
            row = {"node": g.node, "state": self.service_state(g), "uid": f"{g.vmid:x}sim"}
            if sid in self.pending:
                row["target"] = self.pending[sid]
            svc[sid] = row
        return {"manager_status": {"master_node": master, "node_status": ns, "service_status": svc,
                                   "timestamp": int(now)},
                "quorum": {"node": master, "quorate": "1" if self.c.quorate else "0"}}


def _ts(now: float) -> str:
    import time
    return time.strftime("%a %b %d %H:%M:%S %Y", time.gmtime(now))
