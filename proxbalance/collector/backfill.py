"""Backfill day/week history from PVE's rrddata on the first run or after a gap, so forecasts work at once.

Points go into the hourly rollup tables (``node_1h``, ``guest_1h``) for hours with no own data:
``day`` points (30 min) where they exist, ``week`` points (3 h) before that. Each row's ``n`` is the number of
minutes it stands for, so averages with our own 1-minute samples stay time-weighted. Runs after the snapshot
is written, in its own transaction; its calls are reported apart from the cycle's.
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from typing import Any

from sqlalchemy import Engine, select

from proxbalance.model import ClusterSnapshot
from proxbalance.pve.client import PveClient
from proxbalance.pve.parse import as_float
from proxbalance.store.history import insert_rollup_rows
from proxbalance.store.inventory import set_state
from proxbalance.store.schema import guest_1h, node_1h
from proxbalance.store.tx import write_tx

HOUR = 3600
STEP_MINUTES = {"day": 30, "week": 180}
WINDOW = 8 * 86400  # how far back a backfill reaches (seconds)


def _points(day: list[dict], week: list[dict], lo: int, hi: int) -> list[tuple[int, dict, int]]:
    """(hour, point, minutes) for points in [lo, hi): day points, then week points older than the day ones."""
    out = []
    day_ok = [p for p in day if p.get("cpu") is not None]
    day_start = min((int(as_float(p.get("time"))) for p in day_ok), default=hi)
    for p in day_ok:
        out.append((int(as_float(p["time"])), p, STEP_MINUTES["day"]))
    for p in week:
        ts = int(as_float(p.get("time")))
        if p.get("cpu") is not None and ts < day_start:
            out.append((ts, p, STEP_MINUTES["week"]))
    return [(ts // HOUR * HOUR, p, n) for ts, p, n in out if lo <= ts < hi]


def _aggregate(points: list[tuple[int, dict, int]], value) -> dict[int, tuple[list[float], int]]:
    by_hour: dict[int, tuple[list[float], int]] = {}
    for hour, p, n in points:
        vals = value(p)
        acc, total = by_hour.get(hour, ([0.0] * len(vals), 0))
        by_hour[hour] = ([a + v * n for a, v in zip(acc, vals, strict=True)], total + n)
    return {h: ([a / n for a in acc], n) for h, (acc, n) in by_hour.items()}


def _guest_values(p: dict) -> list[float]:
    return [as_float(p.get("cpu")) * as_float(p.get("maxcpu")) * 1000, as_float(p.get("mem")) / 1024,
            as_float(p.get("diskread")) + as_float(p.get("diskwrite")), as_float(p.get("netin")) + as_float(p.get("netout"))]


def _node_values(p: dict) -> list[float]:
    return [as_float(p.get("cpu")) * as_float(p.get("maxcpu")), as_float(p.get("memused")), as_float(p.get("iowait")),
            as_float(p.get("netin")) + as_float(p.get("netout"))]


def clock_skew(t: float, node_rrd: dict[str, list[dict]]) -> float:
    """Seconds our clock is ahead of PVE's, judged by the newest ``hour`` rrddata point; 0 when within 5 min."""
    newest = max((as_float(p.get("time")) for pts in node_rrd.values() for p in pts), default=None)
    skew = t - newest if newest else 0.0
    return skew if abs(skew) > 300 else 0.0


def backfill(engine: Engine, client: PveClient, snap: ClusterSnapshot, lo: int, hi: int,
             parallel: int = 8, skew: float = 0.0) -> tuple[int, list[str]]:
    """Fill hours [lo, hi) from rrddata for reachable nodes and their running guests.

    ``skew`` (seconds, see :func:`clock_skew`) is added to PVE's point times so they line up with our clock.
    Returns (rows written, errors). Calls are made ``parallel`` at a time.
    """
    nodes = [n.name for n in snap.nodes if n.online and n.reachable]
    guests = [g for g in snap.guests if g.node in nodes and g.status == "running" and not g.template]
    jobs: dict[Any, Any] = {}
    errors: list[str] = []
    with ThreadPoolExecutor(max_workers=parallel) as pool:
        for n in nodes:
            for tf in ("day", "week"):
                jobs[("node", n, tf)] = pool.submit(client.node_rrddata, n, tf)
        for g in guests:
            for tf in ("day", "week"):
                jobs[("guest", g.vmid, tf)] = pool.submit(client.guest_rrddata, g.node, g.type, g.vmid, tf)
        results = {}
        for key, fut in jobs.items():
            try:
                results[key] = [{**p, "time": as_float(p.get("time")) + skew} for p in fut.result()]
            except Exception as exc:  # a failed series only leaves that entity without backfill
                results[key] = []
                errors.append(f"backfill {key[0]} {key[1]} {key[2]}: {getattr(exc, 'message', type(exc).__name__)}")
    node_rows, guest_rows = [], []
    for n in nodes:
        pts = _points(results[("node", n, "day")], results[("node", n, "week")], lo, hi)
        for hour, (v, cnt) in sorted(_aggregate(pts, _node_values).items()):
            node_rows.append({"t": hour, "node": n, "cpu": v[0], "cpu_max": v[0], "mem": v[1], "mem_max": v[1],
                              "iowait": v[2], "iowait_max": v[2], "net": v[3], "net_max": v[3], "n": cnt})
    for g in guests:
        pts = _points(results[("guest", g.vmid, "day")], results[("guest", g.vmid, "week")], lo, hi)
        for hour, (v, cnt) in sorted(_aggregate(pts, _guest_values).items()):
            iv = [round(x) for x in v]
            guest_rows.append({"t": hour, "vmid": g.vmid, "cpu": iv[0], "cpu_max": iv[0], "mem": iv[1],
                               "mem_max": iv[1], "disk": iv[2], "disk_max": iv[2], "net": iv[3], "net_max": iv[3],
                               "n": cnt})
    with write_tx(engine, timeout=60) as conn:
        have_n = {(r.t, r.node) for r in conn.execute(select(node_1h.c.t, node_1h.c.node)
                                                       .where(node_1h.c.t >= lo, node_1h.c.t < hi))}
        have_g = {(r.t, r.vmid) for r in conn.execute(select(guest_1h.c.t, guest_1h.c.vmid)
                                                       .where(guest_1h.c.t >= lo, guest_1h.c.t < hi))}
        written = insert_rollup_rows(conn, node_1h, [r for r in node_rows if (r["t"], r["node"]) not in have_n])
        written += insert_rollup_rows(conn, guest_1h, sorted((r for r in guest_rows if (r["t"], r["vmid"]) not in have_g),
                                                             key=lambda r: (r["t"], r["vmid"])))
        set_state(conn, "backfilled_until", hi)
    return written, errors
