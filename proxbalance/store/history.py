"""Usage history: raw samples in, 24 h / 7 d blends out (one query per entity kind).

Guest rows are compact integers (see store/schema.py): cpu in millicores, mem in KiB, disk and net in
bytes/s. Node rows are floats: cpu in cores, mem in bytes, iowait as a fraction, net in bytes/s.

Reading stitches three resolutions without double counting, using the rollup markers kept in
``collector_state``: hourly rows before ``rollup_1h_until``, 5-minute rows up to ``rollup_5m_until``, raw
rows after it. Rollup rows carry ``n`` (raw samples in the bucket) so averages stay sample-weighted, and
backfilled rrddata points carry the number of minutes they cover.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import Any

import numpy as np
from sqlalchemy import Connection, Engine, Table, func, select, text

from proxbalance.model import HistoryTable, UsageHistory, UsageStats
from proxbalance.store import recent_summary, usage_summary
from proxbalance.store.inventory import get_state
from proxbalance.store.schema import guest_raw, node_raw

DAY = 86400
GUEST_METRICS = ("cpu", "mem", "disk", "net")
NODE_METRICS = ("cpu", "mem", "iowait", "net")
#: stored integer -> model unit (cores, bytes, bytes/s)
GUEST_SCALE = {"cpu": 1 / 1000, "mem": 1024.0, "disk": 1.0, "net": 1.0}


def guest_sample(t: int, vmid: int, cpu_cores: float, mem_bytes: float, disk_bps: float, net_bps: float) -> dict:
    """One ``guest_raw`` row from model units."""
    return {"t": int(t), "vmid": int(vmid), "cpu": round(cpu_cores * 1000), "mem": round(mem_bytes / 1024),
            "disk": round(max(0.0, disk_bps)), "net": round(max(0.0, net_bps))}


def node_sample(t: int, node: str, cpu_cores: float, mem_bytes: float, iowait: float, net_bps: float) -> dict:
    return {"t": int(t), "node": node, "cpu": float(cpu_cores), "mem": float(mem_bytes), "iowait": float(iowait),
            "net": float(net_bps)}


def insert_raw(conn: Connection, node_rows: list[dict], guest_rows: list[dict]) -> None:
    """Append one cycle's samples (rows from :func:`node_sample` / :func:`guest_sample`)."""
    if node_rows:
        conn.execute(node_raw.insert(), node_rows)
    if guest_rows:
        conn.execute(guest_raw.insert(), sorted(guest_rows, key=lambda r: r["vmid"]))
        recent_summary.add(conn, guest_rows)


def insert_rollup_rows(conn: Connection, table: Table, rows: Iterable[dict]) -> int:
    """Insert rollup rows as they are (backfill and the storage benchmark); return how many. Hourly rows
    written this way invalidate the usage summary (the next rollup rebuilds it)."""
    batch = list(rows)
    if batch:
        conn.execute(table.insert(), batch)
        if table.name.endswith("_1h"):
            usage_summary.invalidate(conn)
    return len(batch)


def existing_times(conn: Connection, table: Table, lo: int, hi: int) -> set[int]:
    """Bucket/sample times present in ``table`` within [lo, hi)."""
    return {r[0] for r in conn.execute(select(table.c.t).where(table.c.t >= lo, table.c.t < hi).distinct())}


def last_sample_time(conn: Connection) -> int | None:
    """Newest raw sample time (Unix s) of nodes or guests, None when there is none."""
    times = [conn.execute(select(func.max(tb.c.t))).scalar() for tb in (node_raw, guest_raw)]
    return max((x for x in times if x is not None), default=None)


def _union_sql(prefix: str, key: str, metrics: tuple[str, ...], hourly: bool = True) -> str:
    cols = ", ".join(f"{m}, {m}_max" for m in metrics)
    raw_cols = ", ".join(f"{m}, {m} AS {m}_max" for m in metrics)
    # rollup rows stand at their bucket's centre, so slopes are not biased by the bucket width
    head = (f"SELECT {key} AS k, t + 1800 AS t, n, {cols} FROM {prefix}_1h WHERE t >= :w7 AND t < :m1 "
            "UNION ALL ") if hourly else ""
    return (f"{head}SELECT {key} AS k, t + 150 AS t, n, {cols} FROM {prefix}_5m "
            f"WHERE t >= :w7 AND t >= :m1 AND t < :m5 "
            f"UNION ALL SELECT {key} AS k, t, 1 AS n, {raw_cols} FROM {prefix}_raw WHERE t >= :w7 AND t >= :m5")


def _blend_sql(prefix: str, key: str, metrics: tuple[str, ...], hourly: bool = True) -> str:
    parts = ["k", "SUM(CASE WHEN t >= :w1 THEN n END) AS n1", "SUM(n) AS n7",
             "SUM(n * ((t - :now) / 86400.0)) AS sx", "SUM(n * ((t - :now) / 86400.0) * ((t - :now) / 86400.0)) AS sxx"]
    for m in metrics:
        parts += [f"SUM(CASE WHEN t >= :w1 THEN {m} * 1.0 * n END) AS {m}_s1", f"SUM({m} * 1.0 * n) AS {m}_s7",
                  f"MAX({m}_max) AS {m}_mx", f"SUM({m} * 1.0 * n * ((t - :now) / 86400.0)) AS {m}_sxy"]
    return f"SELECT {', '.join(parts)} FROM ({_union_sql(prefix, key, metrics, hourly)}) AS u GROUP BY k"


_SUM_COLS = ("n1", "n7", "sx", "sxx")


def _sum_names(metrics: tuple[str, ...]) -> list[str]:
    return [*_SUM_COLS, *(f"{m}_{p}" for m in metrics for p in ("s1", "s7", "mx", "sxy"))]


def _rows_to_sums(rows, metrics: tuple[str, ...]) -> tuple[list, dict[str, np.ndarray]]:
    """(keys, column -> float array) of :func:`_blend_sql` rows (NULL sums as 0, NULL max as -inf)."""
    names = _sum_names(metrics)
    keys = [r[0] for r in rows]
    data = np.array([r[1:] for r in rows], dtype=float).reshape(len(rows), len(names))  # NULL -> nan
    out = {}
    for i, c in enumerate(names):
        x = data[:, i]
        out[c] = np.where(np.isnan(x), -np.inf if c.endswith("_mx") else 0.0, x)
    return keys, out


def _recent_sql(prefix: str, key: str, metrics: tuple[str, ...]) -> str:
    """:func:`_blend_sql` of the rows after the hourly marker only (5-minute and raw rows), in
    :func:`_sum_names` order. They are all inside the 24-hour window (the summary answers only while ``now`` is
    within an hour of the marker), so the 24-hour sums are the 7-day ones."""
    parts = ["k", "SUM(n)", "SUM(n)", "SUM(n * x)", "SUM(n * x * x)"]
    for m in metrics:
        parts += [f"SUM({m} * 1.0 * n)", f"SUM({m} * 1.0 * n)", f"MAX({m}_max)", f"SUM({m} * 1.0 * n * x)"]
    return (f"SELECT {', '.join(parts)} FROM (SELECT k, n, (t - :now) / 86400.0 AS x, "
            f"{', '.join(f'{m}, {m}_max' for m in metrics)} FROM ({_union_sql(prefix, key, metrics, False)})) "
            "GROUP BY k")


def _merge(a: tuple[list, dict], b: tuple[list, dict], metrics: tuple[str, ...]) -> tuple[list, dict]:
    """Sums of two disjoint row sets of the same entities (max of the maxima)."""
    keys_a, sa = a
    keys_b, sb = b
    if not keys_b:
        return a
    index = {k: i for i, k in enumerate(keys_a)}
    keys = list(keys_a)
    for k in keys_b:
        if k not in index:
            index[k] = len(keys)
            keys.append(k)
    pos = np.array([index[k] for k in keys_b], dtype=np.int64)
    out = {}
    for c in sa:
        fill = -np.inf if c.endswith("_mx") else 0.0
        x = np.full(len(keys), fill)
        x[:len(keys_a)] = sa[c]
        if c.endswith("_mx"):
            x[pos] = np.maximum(x[pos], sb[c])
        else:
            x[pos] += sb[c]
        out[c] = x
    return keys, out


def _table(keys: list, s: dict[str, np.ndarray], metrics: tuple[str, ...], scale: dict[str, float] | None,
           cast) -> HistoryTable:
    """Stats of every entity with samples, as :func:`_stats` computes them, vectorised."""
    keep = np.flatnonzero(s["n7"] > 0)
    n1, n7, sx, sxx = (s[c][keep] for c in _SUM_COLS)
    denom = n7 * sxx - sx * sx
    ok = denom > 1e-9
    safe = np.where(ok, denom, 1.0)
    vals = np.empty((len(keep), len(metrics), 4))
    for j, m in enumerate(metrics):
        f = (scale or {}).get(m, 1.0)
        s1, s7, mx, sxy = (s[f"{m}_{p}"][keep] for p in ("s1", "s7", "mx", "sxy"))
        avg7 = s7 / n7
        avg1 = np.where(n1 > 0, s1 / np.where(n1 > 0, n1, 1.0), avg7)
        slope = np.where(ok, (n7 * sxy - sx * s7) / safe, 0.0)
        vals[:, j, 0], vals[:, j, 1], vals[:, j, 2], vals[:, j, 3] = avg1 * f, avg7 * f, mx * f, slope * f
    return HistoryTable(keys=tuple(cast(keys[i]) for i in keep.tolist()), metrics=metrics, values=vals)


def _from_summary(conn: Connection, now: float, m1: int, params: dict) -> UsageHistory | None:
    """The answer from the materialised summary (store/usage_summary.py) plus the rows after the hourly
    marker (guests: from store/recent_summary.py when it is current), or None when the summary can't answer
    for ``now``."""
    tables = []
    for spec, prefix, metrics, scale, cast in ((usage_summary.GUESTS, "guest", GUEST_METRICS, GUEST_SCALE, int),
                                               (usage_summary.NODES, "node", NODE_METRICS, None, str)):
        hourly = usage_summary.read(conn, spec, now, m1)
        if hourly is None:
            return None
        keys, sums = hourly
        recent = recent_summary.read(conn, now, m1, params["m5"]) if prefix == "guest" else None
        if recent is None:  # not kept current (or nodes: 64 x a few rows): aggregate the rows
            recent = _rows_to_sums(usage_summary.fetch_tuples(conn, _recent_sql(prefix, spec.key, metrics), params),
                                   metrics)
        keys, sums = _merge((keys, sums), recent, metrics)
        tables.append(_table(keys, sums, metrics, scale, cast))
    return UsageHistory(guest_table=tables[0], node_table=tables[1])


def _stats(row: Any, metrics: tuple[str, ...], scale: dict[str, float] | None) -> dict[str, UsageStats]:
    out: dict[str, UsageStats] = {}
    n1, n7, sx, sxx = row.n1, row.n7, row.sx, row.sxx
    denom = n7 * sxx - sx * sx
    for m in metrics:
        f = (scale or {}).get(m, 1.0)
        s1, s7, mx, sxy = (getattr(row, f"{m}_{s}") for s in ("s1", "s7", "mx", "sxy"))
        avg7 = s7 / n7
        avg1 = s1 / n1 if n1 else avg7
        slope = (n7 * sxy - sx * s7) / denom if denom > 1e-9 else 0.0
        out[m] = UsageStats(avg_24h=avg1 * f, avg_7d=avg7 * f, max_7d=float(mx) * f, slope_per_day=slope * f)
    return out


def usage_history(engine: Engine, now: float | None = None, exact: bool = False) -> UsageHistory:
    """24 h and 7 d averages, the 7-day max and the least-squares slope per day, for every guest and node.

    Units: cpu in cores, mem in bytes, disk/net in bytes/s, iowait a fraction. The hourly part comes from the
    materialised summary when it is current (store/usage_summary.py), else (or with ``exact``) from one
    aggregation over every row of the window per entity kind; both give the same numbers.
    """
    now = time.time() if now is None else now
    with engine.connect() as conn:
        m5 = get_state(conn, "rollup_5m_until", 0)
        m1 = get_state(conn, "rollup_1h_until", 0)
        params = {"now": now, "w1": now - DAY, "w7": now - 7 * DAY, "m1": m1, "m5": m5}
        if not exact:
            fast = _from_summary(conn, now, m1, params)
            if fast is not None:
                return fast
        tables = []
        for prefix, key, metrics, scale, cast in (("guest", "vmid", GUEST_METRICS, GUEST_SCALE, int),
                                                  ("node", "node", NODE_METRICS, None, str)):
            rows = conn.execute(text(_blend_sql(prefix, key, metrics)), params).fetchall()
            keys, sums = _rows_to_sums(rows, metrics)  # columns in _sum_names order
            tables.append(_table(keys, sums, metrics, scale, cast))
    return UsageHistory(guest_table=tables[0], node_table=tables[1])

