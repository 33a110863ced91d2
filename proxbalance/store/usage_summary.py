"""Materialised usage summary: the hourly part of :func:`store.history.usage_history`, one row per guest/node.

``usage_history`` aggregates up to 168 hourly rollup rows per guest (1.68 M rows at 10,000 guests: seconds).
This summary holds, per guest and per node, the sufficient statistics of the hourly rows the 7-day and
24-hour windows take at the hourly marker ``until`` (= ``rollup_1h_until`` when it was last brought up to date):

* 7-day part over the 167 newest buckets ``t in [until - 7 d + 1 h, until)`` (what the exact query takes for
  any ``now`` in ``(until, until + 1 h]``): ``n7`` samples, ``sx``/``sxx`` (sums of ``n * x`` and
  ``n * x**2``), per metric ``s7`` (sum of ``value * n``), ``sxy`` (sum of ``value * n * x``), ``mx`` (max of
  the bucket maxima) and ``mxt`` (newest bucket start attaining ``mx``, guests only);
* 24-hour part over the 24 newest buckets: ``n1`` and per metric ``s1``.

``x`` is the bucket centre relative to ``until`` in half hours (``(t + 1800 - until) / 1800``, an odd negative
integer), so guest sums are exact integers and an incremental update (add the new buckets, take away the
ones that left the windows, shift the reference) never drifts. Node rows are floats and are rebuilt whole at
every update (64 x 167 rows). The guest max cannot be taken away: guests whose max left the window get it
recomputed from their remaining buckets (point look-ups).

The collector brings the summary up to date in the rollup transaction (:func:`refresh`); anything else that
writes hourly rows (backfill, ``insert_rollup_rows``) invalidates it (:func:`invalidate`) and the next rollup
rebuilds it. Readers (:func:`read`) get ``None`` when it is missing, stale or ``now`` is outside
``[until, until + 1 h]``, and then use the exact query.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sqlalchemy import Column, Connection, Float, Integer, MetaData, String, Table, text

from proxbalance.store.inventory import get_state, set_state

HOUR = 3600
DAY = 86400
WEEK = 7 * DAY
STATE_KEY = "usage_summary_until"
_CODE = 1 << 20  # max encoding: value * _CODE + bucket index (newest wins ties)

metadata = MetaData()


@dataclass(frozen=True)
class Spec:
    """One entity kind: hourly table, key column, metrics, exact integer sums or floats."""

    name: str
    hourly: str
    key: str
    metrics: tuple[str, ...]
    integer: bool


GUESTS = Spec("guest_usage_summary", "guest_1h", "vmid", ("cpu", "mem", "disk", "net"), True)
NODES = Spec("node_usage_summary", "node_1h", "node", ("cpu", "mem", "iowait", "net"), False)
SPECS = (GUESTS, NODES)
SUMS = ("n7", "sx", "sxx", "n1")
PER_METRIC = ("s7", "sxy", "s1", "mx", "mxt")


def _table(spec: Spec) -> Table:
    num = Integer if spec.integer else Float
    key = Column(spec.key, Integer if spec.integer else String(64), primary_key=True, autoincrement=False)
    cols = [Column(c, num, nullable=False) for c in SUMS]
    for m in spec.metrics:
        cols += [Column(f"{m}_{p}", Integer if p == "mxt" else num, nullable=False) for p in PER_METRIC]
    return Table(spec.name, metadata, key, *cols)


TABLES = tuple(_table(s) for s in SPECS)
_TABLE = {s.name: t for s, t in zip(SPECS, TABLES, strict=True)}
COLUMNS = {s.name: [*SUMS, *(f"{m}_{p}" for m in s.metrics for p in PER_METRIC)] for s in SPECS}


def fetch_tuples(conn: Connection, sql: str, params: dict | None = None) -> list[tuple]:
    """Rows of ``sql`` (named ``:params``) as plain tuples; on SQLite straight from the driver (no Row objects:
    the decision reads 10,000-row answers)."""
    if conn.dialect.name == "sqlite":
        cur = conn.connection.driver_connection.cursor()
        try:
            return cur.execute(sql, params or {}).fetchall()
        finally:
            cur.close()
    return [tuple(r) for r in conn.execute(text(sql), params or {})]


def value_matrix(rows: list[tuple], width: int, numeric_key: bool) -> np.ndarray:
    """``(K, width)`` floats of rows ``(key, *width values)`` (column 0, the key, left out). With a numeric key
    the rows convert in one pass (no per-row slices: 10,000-row answers); the values are the same."""
    if numeric_key:
        return np.array(rows, dtype=float).reshape(len(rows), width + 1)[:, 1:]
    return np.array([r[1:] for r in rows], dtype=float).reshape(len(rows), width)


def invalidate(conn: Connection) -> None:
    """Hourly rows were written outside the rollup: the next :func:`refresh` rebuilds the summary."""
    set_state(conn, STATE_KEY, -1)


def _agg_sql(spec: Spec, lo: int, hi: int, until: int, day_from: int, buckets: list[int] | None = None,
             keys: list | None = None) -> str:
    """Sums of hourly rows with ``t`` in ``[lo, hi)`` (or at ``buckets``, of ``keys`` only), x relative to
    ``until``; the 24-hour sums count rows with ``t >= day_from``. Every bound is an int (inlined)."""
    x = f"((t + 1800 - {int(until)}) / 1800)"
    one = f"(CASE WHEN t >= {int(day_from)} THEN n ELSE 0 END)"
    parts = [f"{spec.key} AS k", "SUM(n) AS n7", f"SUM(n * {x}) AS sx", f"SUM(n * {x} * {x}) AS sxx",
             f"SUM({one}) AS n1"]
    for m in spec.metrics:
        v = m if spec.integer else f"({m} * 1.0)"
        parts += [f"SUM({v} * n) AS {m}_s7", f"SUM({v} * n * {x}) AS {m}_sxy", f"SUM({v} * {one}) AS {m}_s1"]
        parts.append(f"MAX({m}_max * {_CODE} + (t - {int(lo)}) / {HOUR}) AS {m}_mx" if spec.integer
                     else f"MAX({m}_max) AS {m}_mx")
    if buckets is not None:
        where = f"t IN ({','.join(str(int(b)) for b in buckets)})"
    else:
        where = f"t >= {int(lo)} AND t < {int(hi)}"
    if keys is not None:
        where += f" AND {spec.key} IN ({','.join(str(int(k)) for k in keys)})"
    return f"SELECT {', '.join(parts)} FROM {spec.hourly} WHERE {where} GROUP BY {spec.key}"


def _fetch(conn: Connection, sql: str, spec: Spec, lo: int) -> tuple[list, dict[str, np.ndarray]]:
    """(keys, column -> array) of an aggregate; integer maxima decoded into ``mx`` and ``mxt``."""
    rows = conn.execute(text(sql)).fetchall()
    keys = [r[0] for r in rows]
    names = ["n7", "sx", "sxx", "n1"] + [f"{m}_{p}" for m in spec.metrics for p in ("s7", "sxy", "s1", "mx")]
    dtype = object if spec.integer else float  # python ints: exact, no overflow
    data = np.array([r[1:] for r in rows], dtype=dtype).reshape(len(rows), len(names))
    out = {c: data[:, i] for i, c in enumerate(names)}
    for m in spec.metrics:
        if spec.integer:
            code = out[f"{m}_mx"]
            out[f"{m}_mx"] = np.array([c >> 20 if c is not None else 0 for c in code], dtype=object)
            out[f"{m}_mxt"] = np.array([lo + (c & (_CODE - 1)) * HOUR if c is not None else 0 for c in code],
                                       dtype=object)
        else:
            out[f"{m}_mxt"] = np.zeros(len(rows), dtype=object)
    if spec.integer:
        for c in out:
            out[c] = np.array([0 if v is None else int(v) for v in out[c]], dtype=object)
    return keys, out


def _write(conn: Connection, spec: Spec, keys: list, cols: dict[str, np.ndarray]) -> None:
    table = _TABLE[spec.name]
    conn.execute(table.delete())
    keep = [i for i in range(len(keys)) if cols["n7"][i] > 0]
    if not keep:
        return
    names = COLUMNS[spec.name]
    conv = int if spec.integer else float
    rows = [{spec.key: keys[i], **{c: (int(cols[c][i]) if c.endswith("mxt") else conv(cols[c][i])) for c in names}}
            for i in keep]
    conn.execute(table.insert(), rows)


def _rebuild(conn: Connection, spec: Spec, until: int) -> None:
    lo = until - WEEK + HOUR
    keys, cols = _fetch(conn, _agg_sql(spec, lo, until, until, until - DAY), spec, lo)
    _write(conn, spec, keys, cols)


def _load(conn: Connection, spec: Spec) -> tuple[list, dict[str, np.ndarray]]:
    names = COLUMNS[spec.name]
    rows = conn.execute(text(f"SELECT {spec.key}, {', '.join(names)} FROM {spec.name}")).fetchall()
    data = np.array([r[1:] for r in rows], dtype=object).reshape(len(rows), len(names))
    return [r[0] for r in rows], {c: data[:, i] for i, c in enumerate(names)}


def _aligned(keys: list, cols: dict, index: dict) -> dict[str, np.ndarray]:
    """Columns re-indexed onto ``index`` (key -> row), zeros where a key is missing."""
    out = {}
    pos = np.array([index[k] for k in keys], dtype=np.int64)
    for c, v in cols.items():
        x = np.zeros(len(index), dtype=object)
        x[:] = 0
        if len(pos):
            x[pos] = v
        out[c] = x
    return out


def _advance(conn: Connection, spec: Spec, old: int, new: int) -> None:
    """Guests: move the summary from marker ``old`` to ``new`` (both hour-aligned, new - old <= 1 day)."""
    k = (new - old) // 1800  # reference shift in half hours
    lo_old, lo_new = old - WEEK + HOUR, new - WEEK + HOUR
    s_keys, s = _load(conn, spec)
    a_keys, add = _fetch(conn, _agg_sql(spec, old, new, new, new - DAY), spec, old)
    r_keys, rem = _fetch(conn, _agg_sql(spec, lo_old, lo_new, new, new + 1), spec, lo_old)
    d_keys, rem1 = _fetch(conn, _agg_sql(spec, old - DAY, new - DAY, new, old - DAY), spec, old - DAY)
    index: dict = {}
    for key in (*s_keys, *a_keys):
        index.setdefault(key, len(index))
    s, add = _aligned(s_keys, s, index), _aligned(a_keys, add, index)
    rem = _aligned([x for x in r_keys if x in index], {c: v[[i for i, x in enumerate(r_keys) if x in index]]
                                                        for c, v in rem.items()}, index)
    rem1 = _aligned([x for x in d_keys if x in index], {c: v[[i for i, x in enumerate(d_keys) if x in index]]
                                                         for c, v in rem1.items()}, index)
    out = {}
    # shift the old sums to the new reference (x_new = x_old - k), then take away / add buckets
    n7 = s["n7"]
    out["sx"] = s["sx"] - k * n7
    out["sxx"] = s["sxx"] - 2 * k * s["sx"] + k * k * n7
    out["sx"] = out["sx"] - rem["sx"] + add["sx"]
    out["sxx"] = out["sxx"] - rem["sxx"] + add["sxx"]
    out["n7"] = n7 - rem["n7"] + add["n7"]
    out["n1"] = s["n1"] - rem1["n1"] + add["n1"]
    stale = np.zeros(len(index), dtype=bool)
    for m in spec.metrics:
        s7 = s[f"{m}_s7"]
        out[f"{m}_sxy"] = s[f"{m}_sxy"] - k * s7 - rem[f"{m}_sxy"] + add[f"{m}_sxy"]
        out[f"{m}_s7"] = s7 - rem[f"{m}_s7"] + add[f"{m}_s7"]
        out[f"{m}_s1"] = s[f"{m}_s1"] - rem1[f"{m}_s1"] + add[f"{m}_s1"]
        omx, omt, amx, amt = s[f"{m}_mx"], s[f"{m}_mxt"], add[f"{m}_mx"], add[f"{m}_mxt"]
        has_add = add["n7"] > 0
        kept = (omt >= lo_new) & (s["n7"] > 0)
        take_add = has_add & (~kept | (amx >= omx))
        out[f"{m}_mx"] = np.where(take_add, amx, omx)
        out[f"{m}_mxt"] = np.where(take_add, amt, omt)
        # the old max left the window and nothing new beats it: recompute from the remaining buckets
        stale |= (~kept) & (s["n7"] > 0) & ~(has_add & (amx >= omx))
    keys = list(index)
    rows = np.flatnonzero(stale & (out["n7"] > 0))
    if len(rows):
        buckets = list(range(lo_new, new, HOUR))
        for c0 in range(0, len(rows), 500):
            chunk = rows[c0:c0 + 500]
            f_keys, f = _fetch(conn, _agg_sql(spec, lo_new, new, new, new, buckets=buckets,
                                              keys=[keys[i] for i in chunk]), spec, lo_new)
            at = {key: i for i, key in enumerate(f_keys)}
            for i in chunk:
                j = at.get(keys[i])
                for m in spec.metrics:
                    out[f"{m}_mx"][i] = f[f"{m}_mx"][j] if j is not None else 0
                    out[f"{m}_mxt"][i] = f[f"{m}_mxt"][j] if j is not None else 0
    _write(conn, spec, keys, out)


def refresh(conn: Connection, m1: int) -> str:
    """Bring the summary to the hourly marker ``m1`` (inside the rollup transaction). Returns what was done:
    ``"current"``, ``"advanced"`` (guests incrementally) or ``"rebuilt"``."""
    m1 = int(m1)
    until = get_state(conn, STATE_KEY)
    if until == m1:
        return "current"
    if until is not None and until > 0 and m1 > until and m1 - until <= DAY and until % HOUR == 0 \
            and m1 % HOUR == 0:
        _advance(conn, GUESTS, int(until), m1)
        done = "advanced"
    else:
        _rebuild(conn, GUESTS, m1)
        done = "rebuilt"
    _rebuild(conn, NODES, m1)
    set_state(conn, STATE_KEY, m1)
    return done


def read(conn: Connection, spec: Spec, now: float, m1: int) -> tuple[list, dict[str, np.ndarray]] | None:
    """``(keys, sums)`` of the hourly part of the exact query at ``now`` with the sums converted to the exact
    query's convention (x in days relative to ``now``, floats), or None when the summary can't answer.

    The windows at ``now`` differ from the summary's by at most two buckets, read here from the hourly table:
    the bucket ``until - 7 d`` joins the 7-day part when ``now == until``; the bucket ``until - 1 d`` leaves
    the 24-hour part when ``now > until + 30 min`` (the exact query tests the 24-hour window on bucket centres).
    """
    until = get_state(conn, STATE_KEY)
    if until is None or until != m1 or until % HOUR or not (until <= now <= until + HOUR):
        return None
    names = COLUMNS[spec.name]
    rows = fetch_tuples(conn, f"SELECT {spec.key}, {', '.join(names)} FROM {spec.name}")
    keys = [r[0] for r in rows]
    data = value_matrix(rows, len(names), spec.integer)
    cols = {c: data[:, i] for i, c in enumerate(names)}
    d = (until - now) / DAY
    n7, sx2, sxx2 = cols["n7"], cols["sx"], cols["sxx"]
    out = {"n7": n7.copy(), "n1": cols["n1"].copy(), "sx": sx2 / 48.0 + d * n7,
           "sxx": sxx2 / 2304.0 + 2.0 * d * sx2 / 48.0 + d * d * n7}
    for m in spec.metrics:
        s7 = cols[f"{m}_s7"]
        out[f"{m}_s7"] = s7.copy()
        out[f"{m}_sxy"] = cols[f"{m}_sxy"] / 48.0 + d * s7
        out[f"{m}_s1"] = cols[f"{m}_s1"].copy()
        out[f"{m}_mx"] = cols[f"{m}_mx"].copy()
    index = {k: i for i, k in enumerate(keys)}
    extra_keys: list = []

    def row_of(key):
        i = index.get(key)
        if i is None:
            i = index[key] = len(index)
            extra_keys.append(key)
            for c in out:
                out[c] = np.append(out[c], -np.inf if c.endswith("_mx") else 0.0)
        return i

    if now == until:  # the oldest bucket of the week is still inside the exact query's window
        b = until - WEEK
        sql = (f"SELECT {spec.key}, n, {', '.join(f'{m}, {m}_max' for m in spec.metrics)} "
               f"FROM {spec.hourly} WHERE t = {int(b)}")
        x = (b + 1800 - now) / DAY
        for r in conn.execute(text(sql)):
            i = row_of(r[0])
            n = float(r[1])
            out["n7"][i] += n
            out["sx"][i] += n * x
            out["sxx"][i] += n * x * x
            for j, m in enumerate(spec.metrics):
                v = float(r[2 + 2 * j])
                out[f"{m}_s7"][i] += v * n
                out[f"{m}_sxy"][i] += v * n * x
                out[f"{m}_mx"][i] = max(out[f"{m}_mx"][i], float(r[3 + 2 * j]))
    if now > until + 1800:  # the oldest bucket of the day left the 24-hour window
        sql = (f"SELECT {spec.key}, n, {', '.join(spec.metrics)} FROM {spec.hourly} WHERE t = {int(until - DAY)}")
        for r in conn.execute(text(sql)):
            i = index.get(r[0])
            if i is None:
                continue
            n = float(r[1])
            out["n1"][i] -= n
            for j, m in enumerate(spec.metrics):
                out[f"{m}_s1"][i] -= float(r[2 + j]) * n
    return keys + extra_keys, out


def create_tables(conn: Connection) -> None:
    for table in TABLES:
        table.create(conn)
