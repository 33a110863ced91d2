"""PVE worker tasks: UPIDs, timed log lines, status, cancellation.

A task's whole future is planned when it starts (its log lines with their sim times, its end time and exit
status), so its visible state at any sim time is a pure function of that time. Its effect (moving a guest,
releasing a lock) runs as a cluster event at the end time.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field

from proxbalance.sim.cluster import Cluster


def stamp(t: float) -> str:
    return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(t))


def duration_text(seconds: float) -> str:
    s = int(round(seconds))
    return f"{s // 3600:02d}:{s % 3600 // 60:02d}:{s % 60:02d}"


@dataclass
class Task:
    upid: str
    node: str
    type: str
    id: str
    user: str
    pid: int
    pstart: int
    starttime: int
    end: float  # sim time it stops
    exitstatus: str  # "OK" or the error text, effective once stopped
    lines: list[tuple[float, str]] = field(default_factory=list)  # timestamped (prefix) when stamped=True
    stamped: bool = True
    on_end: Callable[[float, bool], None] | None = None
    done: bool = False

    def running(self, now: float) -> bool:
        return now < self.end

    def log(self, now: float) -> list[str]:
        out = [f"{stamp(t)} {text}" if self.stamped else text for t, text in self.lines if t <= now]
        if not self.running(now):
            out.append("TASK OK" if self.exitstatus == "OK" else f"TASK ERROR: {self.exitstatus}")
        return out

    def _who(self) -> dict:
        """The UPID carries the full auth id (``root@pam!proxbalance``); the task endpoints split a token's
        into ``user`` and ``tokenid`` (pve-manager PVE/API2/Tasks.pm convert_token_task, Cluster.pm tasks)."""
        user, _, token = self.user.partition("!")
        return {"user": user, "tokenid": token} if token else {"user": user}

    def row(self, now: float) -> dict:
        d = {"upid": self.upid, "node": self.node, "pid": self.pid, "pstart": self.pstart,
             "starttime": self.starttime, "type": self.type, "id": self.id, **self._who()}
        if not self.running(now):
            d["endtime"] = int(self.end)
            d["status"] = self.exitstatus
        return d

    def status(self, now: float) -> dict:
        d = {"upid": self.upid, "node": self.node, "pid": self.pid, "pstart": self.pstart,
             "starttime": self.starttime, "type": self.type, "id": self.id, **self._who(),
             "status": "running" if self.running(now) else "stopped"}
        if not self.running(now):
            d["exitstatus"] = self.exitstatus
        return d


class TaskManager:
    def __init__(self, cluster: Cluster):
        self.cluster = cluster
        self.tasks: dict[str, Task] = {}
        self._pid = 4000 + (cluster.seed % 1000) * 10

    def start(self, node: str, type_: str, id_: str, user: str, now: float, end: float, exitstatus: str,
              lines: list[tuple[float, str]], on_end: Callable[[float, bool], None] | None = None,
              stamped: bool = True) -> Task:
        self._pid += 7
        n = self.cluster.node(node)
        pstart = int((now - (n.boot_time if n else 0.0)) * 100)
        st = int(now)
        upid = f"UPID:{node}:{self._pid:08X}:{pstart:08X}:{st:08X}:{type_}:{id_}:{user}:"
        task = Task(upid=upid, node=node, type=type_, id=id_, user=user, pid=self._pid, pstart=pstart,
                    starttime=st, end=end, exitstatus=exitstatus, lines=lines, on_end=on_end, stamped=stamped)
        self.tasks[upid] = task
        self.cluster.schedule(end, lambda at, t=task, e=end: self._finish(t, at, e))
        return task

    def _finish(self, task: Task, at: float, planned_end: float) -> None:
        if task.done or task.end != planned_end:  # cancelled: a newer end event handles it
            return
        task.done = True
        if task.on_end:
            task.on_end(at, task.exitstatus == "OK")

    def cancel(self, task: Task, now: float) -> None:
        """Stop a running task now: its remaining lines are dropped and it ends with an error."""
        if not task.running(now):
            return
        task.lines = [(t, s) for t, s in task.lines if t <= now]
        if task.type in ("qmigrate", "vzmigrate"):
            task.lines.append((now, "received interrupt"))
            start = task.lines[0][0] if task.lines else now
            task.lines.append((now, f"ERROR: migration aborted (duration {duration_text(now - start)}): "
                                    "interrupted by signal"))
            task.exitstatus = "migration aborted"
        else:
            task.exitstatus = "interrupted by signal"
        task.end = now
        self.cluster.schedule(now, lambda at, t=task, e=now: self._finish(t, at, e))
        self.cluster.touch()

    def get(self, upid: str) -> Task | None:
        return self.tasks.get(upid)

    def rows(self, now: float, node: str | None = None) -> list[Task]:
        ts = [t for t in self.tasks.values() if node is None or t.node == node]
        return sorted(ts, key=lambda t: (-t.starttime, t.upid))
