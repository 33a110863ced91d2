"""Recent usage summary: per guest, the sums of the history rows after the hourly marker, kept by the collector.

:func:`store.history.usage_history` adds to the hourly summary (store/usage_summary.py) the guest rows after
``rollup_1h_until`` (``m1``): 5-minute rows in ``[m1, m5)`` and raw rows from ``rollup_5m_until`` (``m5``) on.
Aggregating them on every decision costs ~170 ms at 10,000 guests (up to 17 rows each). This table holds, per
guest, those rows' sufficient statistics with the time as integer seconds ``x = t - m1`` (``t`` the row's
centre: raw ``t``, 5-minute ``t + 150``): ``n`` samples, ``sx`` / ``sxx`` (sums of ``n x`` and ``n x**2``),
per metric ``s`` (sum of ``value n``), ``sxy`` (sum of ``value n x``) and ``mx`` (max of the maxima). All
integers: exact, shifted to any ``now`` by the reader.

* :func:`add` (from ``insert_raw``, in the collection's transaction) adds one cycle's raw rows;
* :func:`refresh` (from the rollup, every cycle) rebuilds it when the markers moved (every 5 minutes) or it is
  not current;
* :func:`read` answers only when ``collector_state`` says it covers exactly the rows there are: the markers it
  was built for and the number of guest raw rows from ``m5`` and 5-minute rows from ``m1`` (rows written any
  other way change the counts, and the exact query answers until the next rebuild).

SQLite only (upserts); on other backends it is never current and the exact query answers.
"""

from __future__ import annotations

import numpy as np
from sqlalchemy import Column, Connection, Integer, MetaData, Table

from proxbalance.store.inventory import get_state, set_state
from proxbalance.store.usage_summary import fetch_tuples, value_matrix

STATE_KEY = "recent_summary"
METRICS = ("cpu", "mem", "disk", "net")
COLUMNS = ("n", "sx", "sxx", *(f"{m}_{p}" for m in METRICS for p in ("s", "sxy", "mx")))

metadata = MetaData()
table = Table("guest_recent_summary", metadata,
              Column("vmid", Integer, primary_key=True, autoincrement=False),
              *(Column(c, Integer, nullable=False) for c in COLUMNS))


def create_tables(conn: Connection) -> None:
    table.create(conn)


def _counts(conn: Connection, m1: int, m5: int) -> list[int]:
    return list(conn.exec_driver_sql(
        "SELECT (SELECT COUNT(*) FROM guest_raw WHERE t >= ?), (SELECT COUNT(*) FROM guest_5m WHERE t >= ? AND t < ?)",
        (int(m5), int(m1), int(m5))).one())


def _state(conn: Connection) -> dict | None:
    value = get_state(conn, STATE_KEY)
    return value if isinstance(value, dict) else None


def _current(conn: Connection, m1: int, m5: int) -> dict | None:
    """The state when the table covers exactly the rows after ``m1`` now, else None."""
    st = _state(conn)
    if conn.dialect.name != "sqlite" or st is None or st.get("m1") != m1 or st.get("m5") != m5:
        return None
    return st if [st.get("raw"), st.get("five")] == _counts(conn, m1, m5) else None


def _markers(conn: Connection) -> tuple[int | None, int | None]:
    m1, m5 = get_state(conn, "rollup_1h_until"), get_state(conn, "rollup_5m_until")
    return (None if m1 is None else int(m1)), (None if m5 is None else int(m5))


def add(conn: Connection, rows: list[dict]) -> None:
    """Add raw guest rows (:func:`store.history.guest_sample` dicts) just inserted by ``insert_raw``. Does
    nothing when the table is not current (the next :func:`refresh` rebuilds it)."""
    m1, m5 = _markers(conn)
    st = _state(conn)
    if m1 is None or m5 is None or st is None or conn.dialect.name != "sqlite":
        return
    new = [r for r in rows if r["t"] >= m5]
    if st.get("m1") != m1 or st.get("m5") != m5 or [st.get("raw", -1) + len(new), st.get("five")] != _counts(conn, m1, m5):
        set_state(conn, STATE_KEY, None)  # rows it does not know of: rebuilt at the next refresh
        return
    if new:
        cols = ", ".join(COLUMNS)
        values = []
        for r in new:
            x = int(r["t"]) - m1
            vals = [1, x, x * x]
            for m in METRICS:
                v = int(r[m])
                vals += [v, v * x, v]
            values.append((int(r["vmid"]), *vals))
        upd = ", ".join(f"{c} = MAX({c}, excluded.{c})" if c.endswith("_mx") else f"{c} = {c} + excluded.{c}"
                        for c in COLUMNS)
        conn.exec_driver_sql(f"INSERT INTO guest_recent_summary (vmid, {cols}) VALUES ({', '.join('?' * (len(COLUMNS) + 1))}) "
                             f"ON CONFLICT(vmid) DO UPDATE SET {upd}", values)
    set_state(conn, STATE_KEY, {**st, "raw": st["raw"] + len(new)})


def refresh(conn: Connection) -> str:
    """Rebuild the table unless it is current (markers and row counts); returns ``"current"``, ``"rebuilt"`` or
    ``"unavailable"`` (no markers yet, or not SQLite)."""
    m1, m5 = _markers(conn)
    if m1 is None or m5 is None or conn.dialect.name != "sqlite":
        return "unavailable"
    if _current(conn, m1, m5) is not None:
        return "current"
    parts = ["vmid", "SUM(n)", "SUM(n * x)", "SUM(n * x * x)"]
    for m in METRICS:
        parts += [f"SUM({m} * n)", f"SUM({m} * n * x)", f"MAX({m}_max)"]
    maxes = ", ".join(f"{m}_max" for m in METRICS)
    raw_maxes = ", ".join(f"{m} AS {m}_max" for m in METRICS)
    metrics = ", ".join(METRICS)
    sql = (f"INSERT INTO guest_recent_summary (vmid, {', '.join(COLUMNS)}) SELECT {', '.join(parts)} FROM ("
           f"SELECT vmid, n, t + 150 - {m1} AS x, {metrics}, {maxes} FROM guest_5m WHERE t >= {m1} AND t < {m5} "
           f"UNION ALL SELECT vmid, 1 AS n, t - {m1} AS x, {metrics}, {raw_maxes} FROM guest_raw WHERE t >= {m5}"
           ") GROUP BY vmid")
    conn.exec_driver_sql("DELETE FROM guest_recent_summary")
    conn.exec_driver_sql(sql)
    raw, five = _counts(conn, m1, m5)
    set_state(conn, STATE_KEY, {"m1": m1, "m5": m5, "raw": raw, "five": five})
    return "rebuilt"


def read(conn: Connection, now: float, m1: int, m5: int) -> tuple[list, dict[str, np.ndarray]] | None:
    """``(vmids, sums)`` of the guest rows after ``m1`` in the convention of ``history._sum_names`` (x in days
    relative to ``now``; the 24-hour sums equal the 7-day ones), or None when the table is not current."""
    if _current(conn, int(m1), int(m5)) is None:
        return None
    rows = fetch_tuples(conn, f"SELECT vmid, {', '.join(COLUMNS)} FROM guest_recent_summary")
    keys = [r[0] for r in rows]
    data = value_matrix(rows, len(COLUMNS), numeric_key=True)
    col = {c: data[:, i] for i, c in enumerate(COLUMNS)}
    c, day = float(m1) - float(now), 86400.0  # x_now = (x + c) / day
    n, sx, sxx = col["n"], col["sx"], col["sxx"]
    out = {"n1": n, "n7": n, "sx": (sx + c * n) / day, "sxx": (sxx + 2.0 * c * sx + c * c * n) / (day * day)}
    for m in METRICS:
        s = col[f"{m}_s"]
        out[f"{m}_s1"] = s
        out[f"{m}_s7"] = s
        out[f"{m}_mx"] = col[f"{m}_mx"]
        out[f"{m}_sxy"] = (col[f"{m}_sxy"] + c * s) / day
    return keys, out

