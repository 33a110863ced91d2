"""Node usage series for charts: the three stored resolutions stitched, then resampled with pandas.

Reads ``node_1h`` before ``rollup_1h_until``, ``node_5m`` up to ``rollup_5m_until`` and ``node_raw`` after it
(the same stitching as :mod:`proxbalance.store.history`), so no sample is counted twice, and averages each
chart bucket weighted by the samples (``n``) behind every stored row.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from sqlalchemy import Engine, text

from proxbalance.store.inventory import get_state

#: chart range name -> seconds
RANGES = {"1h": 3600, "6h": 6 * 3600, "24h": 86400, "7d": 7 * 86400, "30d": 30 * 86400, "1y": 365 * 86400}

_SQL = (
    "SELECT node, t + 1800 AS t, n, cpu, mem, iowait FROM node_1h WHERE t >= :lo AND t < :m1 "
    "UNION ALL SELECT node, t + 150 AS t, n, cpu, mem, iowait FROM node_5m WHERE t >= :lo AND t >= :m1 AND t < :m5 "
    "UNION ALL SELECT node, t, 1 AS n, cpu, mem, iowait FROM node_raw WHERE t >= :lo AND t >= :m5"
)


def node_series(engine: Engine, *, now: float, seconds: int, points: int = 120,
                node: str | None = None) -> tuple[np.ndarray, dict[str, dict[str, np.ndarray]]]:
    """Bucketed node series over ``[now - seconds, now]``.

    Returns ``(t, series)``: ``t`` is (B,) bucket start times in Unix seconds; ``series[node]`` holds (B,)
    float arrays ``cpu`` (cores busy), ``mem`` (bytes used) and ``iowait`` (fraction), NaN where a bucket
    has no sample. ``points`` is the number of buckets B (bucket width = seconds / points, at least 60 s).
    """
    lo = now - seconds
    with engine.connect() as conn:
        m5 = get_state(conn, "rollup_5m_until", 0)
        m1 = get_state(conn, "rollup_1h_until", 0)
        frame = pd.read_sql_query(text(_SQL), conn, params={"lo": lo, "m1": m1, "m5": m5})
    width = max(60, int(seconds // points))
    starts = lo + width * np.arange(points, dtype=float)
    if node is not None:
        frame = frame[frame["node"] == node]
    frame = frame[frame["t"] <= now]
    if frame.empty:
        return starts, {}
    frame = frame.assign(bucket=((frame["t"] - lo) // width).clip(0, points - 1).astype(int))
    metrics = ["cpu", "mem", "iowait"]
    for m in metrics:  # sample-weighted sums, divided by the weights after grouping
        frame[m] = frame[m] * frame["n"]
    sums = frame.groupby(["node", "bucket"])[metrics + ["n"]].sum()
    out: dict[str, dict[str, np.ndarray]] = {}
    for name, part in sums.groupby(level="node"):
        idx = part.index.get_level_values("bucket").to_numpy()
        out[str(name)] = {}
        for m in metrics:
            col = np.full(points, np.nan)
            col[idx] = part[m].to_numpy() / part["n"].to_numpy()
            out[str(name)][m] = col
    return starts, out
