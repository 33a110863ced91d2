"""Forecast service: the store's history -> hourly arrays -> engine forecasts, alerts, backtests, penalty input.

Reads the 5-minute and hourly rollups (and raw samples not rolled up yet) of nodes and guests into
``(S, T)`` hourly arrays of **percent of capacity** (pandas: bucket by hour, sample-weighted means, one
column per hour), capacity taken from the newest snapshot. The engine stays pure; this module does the I/O.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np
import pandas as pd
from sqlalchemy import Engine, text

from proxbalance.config import Settings
from proxbalance.engine.forecast import NODE_PARAMS, ForecastParams, forecast
from proxbalance.model import ClusterSnapshot
from proxbalance.store import Store
from proxbalance.store.forecast_tables import latest_backtest, save_backtest
from proxbalance.store.inventory import get_state

log = logging.getLogger(__name__)

HOUR = 3600
METRICS = ("cpu", "memory")
Z80 = 1.2815515655446004  # standard normal 90 % quantile: an 80 % band is mean +- Z80 sigma
CAP_PCT = 100.0  # a node's measured CPU and memory use (percent of its capacity) never go above this
#: node forecasts and bands stop at CAP_PCT; guests stay unbounded (a VM's CPU can exceed its vCPUs a little:
#: the QEMU threads beside them)
NODE_PCT_PARAMS = dataclasses.replace(NODE_PARAMS, clip_max=CAP_PCT)


@dataclass
class Hourly:
    """``values[metric]`` is ``(S, T)`` percent of capacity; column j is hour ``end_hour - T + j``."""

    keys: list
    values: dict[str, np.ndarray]
    end_hour: int


def _rows(engine: Engine, prefix: str, key: str, since: int, vmids: list[int] | None = None,
          until: int | None = None) -> pd.DataFrame:
    """Rows ``(k, t, n, cpu, mem)`` of every resolution with ``since <= t`` (and ``t < until`` when given: the
    filter is applied in the query, so the 5-minute and raw rows of the running hour are not read at all when
    only complete hours are wanted)."""
    with engine.connect() as conn:
        m5 = int(get_state(conn, "rollup_5m_until", 0) or 0)
        m1 = int(get_state(conn, "rollup_1h_until", 0) or 0)
        hourly, only = "t >= :s AND t < :m1", ""
        if vmids is not None:  # a few guests: point look-ups on the (t, vmid) key instead of a window scan
            only = f" AND {key} IN ({','.join(str(int(v)) for v in vmids) or 'NULL'})"
            hours = range(-(-int(since) // HOUR) * HOUR, m1 if until is None else min(m1, int(until)), HOUR)
            hourly = f"t IN ({','.join(str(h) for h in hours) or 'NULL'})"
        if until is not None:
            only += f" AND t < {int(until)}"
        sql = (f"SELECT {key} AS k, t, n, cpu, mem FROM {prefix}_1h WHERE {hourly}{only} "
               f"UNION ALL SELECT {key} AS k, t, n, cpu, mem FROM {prefix}_5m WHERE t >= :s AND t >= :m1 AND t < :m5"
               f"{only} UNION ALL SELECT {key} AS k, t, 1 AS n, cpu, mem FROM {prefix}_raw WHERE t >= :s AND t >= :m5"
               f"{only}")
        return pd.read_sql_query(text(sql), conn, params={"s": since, "m1": m1, "m5": m5})


def load_hourly(engine: Engine, snapshot: ClusterSnapshot, now: float, days: float, kind: str = "node",
                vmids: list[int] | None = None) -> Hourly:
    """Hourly % of capacity of every node (``kind="node"``) or running guest of ``snapshot`` over ``days``
    (only the guests ``vmids`` when given).

    Only complete hours: the last column is the hour before ``now``'s hour. Hours without samples are NaN.
    """
    end_hour = int(now) // HOUR
    start_hour = end_hour - max(int(days * 24), 1)
    if kind == "node":
        caps = {n.name: (max(n.maxcpu, 1), max(n.maxmem, 1)) for n in snapshot.nodes}
        df = _rows(engine, "node", "node", start_hour * HOUR, until=end_hour * HOUR)
        cpu_f, mem_f = 1.0, 1.0  # cores, bytes
    else:
        only = None if vmids is None else set(vmids)
        caps = {g.vmid: (max(g.maxcpu, 1), max(g.maxmem, 1)) for g in snapshot.guests
                if g.status == "running" and (only is None or g.vmid in only)}
        df = _rows(engine, "guest", "vmid", start_hour * HOUR, None if vmids is None else list(caps),
                   until=end_hour * HOUR)
        cpu_f, mem_f = 1 / 1000.0, 1024.0  # millicores, KiB
    keys = list(caps)
    T = end_hour - start_hour
    out = {m: np.full((len(keys), T), np.nan) for m in METRICS}
    df = df[df["t"] < end_hour * HOUR]
    if len(df) and keys:
        df = df.assign(h=df["t"] // HOUR, cw=df["cpu"] * df["n"], mw=df["mem"] * df["n"])
        g = df.groupby(["k", "h"])[["cw", "mw", "n"]].sum()
        hours = pd.RangeIndex(start_hour, end_hour)
        for m, col, f, ci in (("cpu", "cw", cpu_f, 0), ("memory", "mw", mem_f, 1)):
            wide = (g[col] / g["n"]).unstack("h").reindex(index=keys, columns=hours)
            # interior gaps of up to 3 hours (e.g. backfilled rrddata at a coarser step) are interpolated
            wide = wide.T.interpolate(limit=3, limit_area="inside").T
            cap = np.array([caps[k][ci] for k in keys], dtype=float)
            out[m] = wide.to_numpy(dtype=float) * f / cap[:, None] * 100.0
    return Hourly(keys, out, end_hour)


@dataclass
class _Part:
    """One metric's rows of a forecast made on CPU and memory rows together."""

    mean: np.ndarray
    lo: np.ndarray
    hi: np.ndarray
    start_hour: int


def _params(kind: str) -> ForecastParams:
    """The forecaster's parameters for ``kind`` ("node" or "guest"): they differ in the band's calibration, and
    node forecasts stop at 100 %."""
    return NODE_PCT_PARAMS if kind == "node" else ForecastParams()


def forecast_both(h: Hourly, horizon: int, kind: str = "node") -> dict[str, _Part]:
    """Forecast CPU and memory of every row in one vectorised call (the pooled prior spans both)."""
    S = len(h.keys)
    f = forecast(np.vstack([h.values["cpu"], h.values["memory"]]), h.end_hour, horizon, _params(kind))
    return {m: _Part(f.mean[i * S:(i + 1) * S], f.lo[i * S:(i + 1) * S], f.hi[i * S:(i + 1) * S], f.start_hour)
            for i, m in enumerate(METRICS)}


_MEMO: dict[tuple, dict[str, Any]] = {}


def complete_hours_key(store: Store, now: float) -> tuple:
    """What anything read from the complete hours before ``now``'s hour depends on: the store, that hour and
    the rollup and backfill markers (the hours are fixed once rolled up; a backfill moves ``backfilled_until``)."""
    end = int(now) // HOUR * HOUR
    with store.engine.connect() as conn:
        marks = tuple(get_state(conn, k, 0) for k in ("rollup_1h_until", "rollup_5m_until", "backfilled_until"))
    return (str(store.engine.url), id(store.engine), end, marks[0], min(int(marks[1] or 0), end), marks[2])


def _memo_key(settings: Settings, store: Store, snapshot: ClusterSnapshot, now: float) -> tuple:
    """What a node forecast depends on: the complete hours (:func:`complete_hours_key`), the nodes' capacities
    and the forecast settings."""
    return (*complete_hours_key(store, now), tuple((n.name, n.maxcpu, n.maxmem) for n in snapshot.nodes),
            settings["forecast.history_days"], settings["forecast.horizon_hours"])


def node_forecasts(settings: Settings, store: Store, snapshot: ClusterSnapshot, now: float) -> dict[str, Any]:
    """``{"hourly": Hourly, "cpu": ..., "memory": ...}`` (mean / lo / hi ``(N, H)`` %) for every node.

    Forecasts read complete hours only, so within an hour every decision gets the same one: it is kept in
    the process (one entry) and refitted when an input changes (a new hour, a backfill, a node's size)."""
    key = _memo_key(settings, store, snapshot, now)
    out = _MEMO.get(key)
    if out is None:
        h = load_hourly(store.engine, snapshot, now, settings["forecast.history_days"], "node")
        out = {"hourly": h, **forecast_both(h, settings["forecast.horizon_hours"])}
        _MEMO.clear()
        _MEMO[key] = out
    return dict(out)


def _iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")


def _prob_above(mean: float, lo: float, hi: float, thr: float) -> float:
    """P(load > thr), the 80 % band read as a normal distribution; a band cut at 100 % is read from its lower
    half (the cut would otherwise narrow it and overstate how sure a forecast near the cap is)."""
    half = mean - lo if hi >= CAP_PCT else (hi - lo) / 2
    sigma = max(half / Z80, 1e-6)
    return 0.5 * (1.0 + math.erf((mean - thr) / (sigma * math.sqrt(2.0))))


def alerts(settings: Settings, fc: dict[str, Any], snapshot: ClusterSnapshot, thresholds: dict[str, float],
           now: float) -> list[dict[str, Any]]:
    """Nodes predicted to cross their threshold: when, by how much, how sure (severity critical/warning/info).

    critical: the mean forecast reaches the threshold within ``forecast.critical_hours``; warning: later within
    the horizon; info: only the upper 80 % band reaches it. ``probability`` = P(load > threshold) at the
    predicted peak, from the band read as a normal distribution.
    """
    h: Hourly = fc["hourly"]
    current = {n.name: {"cpu": n.cpu * 100.0, "memory": n.mem / max(n.maxmem, 1) * 100.0} for n in snapshot.nodes}
    online = {n.name for n in snapshot.nodes if n.online}
    crit_h = settings["forecast.critical_hours"]
    out = []
    for m in METRICS:
        f = fc[m]
        thr = thresholds[m]
        for i, node in enumerate(h.keys):
            if node not in online or np.isnan(h.values[m][i]).all():
                continue
            mean, lo, hi = f.mean[i], f.lo[i], f.hi[i]
            # "reaches": with forecasts cut at 100 %, a 100 % threshold still alerts on a node forecast to saturate
            over_mean = np.flatnonzero(mean >= thr)
            over_hi = np.flatnonzero(hi >= thr)
            if not len(over_hi):
                continue
            if len(over_mean):
                first = int(over_mean[0])
                severity = "critical" if first + 1 <= crit_h else "warning"
            else:
                first = int(over_hi[0])
                severity = "info"
            pk = int(np.argmax(mean)) if len(over_mean) else int(np.argmax(hi))
            start = (f.start_hour + first) * HOUR
            prob = _prob_above(float(mean[pk]), float(lo[pk]), float(hi[pk]), thr)
            label = "CPU" if m == "cpu" else "memory"
            out.append({
                "node": node, "metric": m, "severity": severity, "threshold_pct": thr,
                "current_pct": round(current.get(node, {}).get(m, float("nan")), 2),
                "predicted_peak_pct": round(float(mean[pk]), 2),
                "predicted_peak_upper_pct": round(float(hi[pk]), 2),
                "band_80_pct": [round(float(lo[pk]), 2), round(float(hi[pk]), 2)],
                "peak_at": _iso((f.start_hour + pk) * HOUR), "crosses_at": _iso(start),
                "hours_until": round(max(start - now, 0.0) / HOUR, 2),
                "exceeds_by_pct": round(float((mean if len(over_mean) else hi)[pk]) - thr, 2),
                "probability": round(prob, 3),
                "message": (f"{node} {label} is forecast to reach {mean[pk]:.1f} % (80 % band {lo[pk]:.1f}-"
                            f"{hi[pk]:.1f} %) around {_iso((f.start_hour + pk) * HOUR)}, above its {thr:g} % "
                            f"threshold" + ("" if len(over_mean) else " only in the upper band")),
            })
    rank = {"critical": 0, "warning": 1, "info": 2}
    out.sort(key=lambda a: (rank[a["severity"]], a["hours_until"], a["node"], a["metric"]))
    return out


def notify_critical(settings: Settings, store: Store, found: list[dict[str, Any]], now: float) -> list[dict]:
    """Send ``forecast_critical`` for every critical alert in ``found`` (from :func:`alerts`); never raises.

    Deduplicated by the event key ``forecast_critical:<node>:<metric>:<window>``, ``window`` being ``now`` in
    blocks of ``forecast.critical_hours``: while a node stays critical it is notified at most once per block,
    however often alerts are computed (each recommendation run, each GET of the forecasts) and by however many
    workers. Returns what :func:`proxbalance.notify.notify` returned for each alert that was sent.
    """
    from proxbalance import notify
    from proxbalance.notify_messages import forecast_critical

    block = int(now // (max(int(settings["forecast.critical_hours"]), 1) * HOUR))
    out = []
    for a in found:
        if a["severity"] != "critical":
            continue
        try:
            peak_at = datetime.fromisoformat(a["peak_at"].replace("Z", "+00:00")).timestamp()
            title, body = forecast_critical(a["node"], "CPU" if a["metric"] == "cpu" else "memory",
                                            a["predicted_peak_pct"], peak_at)
            body += (f" Threshold {a['threshold_pct']:g}%, crossing in about {a['hours_until']:.1f} h"
                     f" (80% band {a['band_80_pct'][0]:.1f}-{a['band_80_pct'][1]:.1f}%,"
                     f" probability {a['probability'] * 100:.0f}%).")
        except Exception:  # noqa: BLE001 - a malformed alert must not break the caller
            log.exception("forecast_critical message for %s failed", a.get("node"))
            continue
        sent = notify.notify(settings, store, "forecast_critical",
                             f"forecast_critical:{a['node']}:{a['metric']}:{block}", title, body,
                             level="warning", now=now)
        if sent is not None:
            out.append(sent)
    return out


def attach(settings: Settings, store: Store, arrays, snapshot: ClusterSnapshot, now: float,
           fc: dict[str, Any] | None = None) -> dict | None:
    """Give ``arrays`` the forecast_peak term's input (node excess over the blend, cores and bytes).

    ``fc``: the :func:`node_forecasts` of ``snapshot`` when the caller has them already.
    """
    if not settings["forecast.enabled"]:
        return None
    fc = fc or node_forecasts(settings, store, snapshot, now)
    H = min(settings["forecast.penalty_horizon_hours"], fc["cpu"].mean.shape[1])
    band = "hi" if settings["forecast.penalty_band"] == "upper" else "mean"
    idx = {n: j for j, n in enumerate(arrays.node_names)}
    excess = {}
    for i, node in enumerate(fc["hourly"].keys):
        j = idx.get(node)
        if j is None or np.isnan(fc["hourly"].values["cpu"][i]).all():
            continue
        peak = [float(getattr(fc[m], band)[i, :H].max()) / 100.0 * arrays.cap[j, r]
                for m, r in (("cpu", 0), ("memory", 1))]
        excess[node] = (max(peak[0] - arrays.n["blend"][j, 0], 0.0), max(peak[1] - arrays.n["blend"][j, 1], 0.0))
    arrays.forecast = {"excess": excess, "horizon_hours": H}
    return arrays.forecast


def _score(fcs: list[np.ndarray], y: np.ndarray, origins: np.ndarray, which: str, hs=(1, 24)) -> dict[str, Any]:
    res = {}
    filled = pd.DataFrame(y.T).ffill().to_numpy().T
    for h in hs:
        err, cov, naive = [], [], []
        for o, fc in zip(origins, fcs, strict=True):
            tr = y[:, o + h - 1]
            last = filled[:, o - 1]
            ok = ~np.isnan(tr)
            mean, lo, hi = fc[which]
            err.append(np.abs(mean[:, h - 1] - tr)[ok])
            cov.append(((tr >= lo[:, h - 1]) & (tr <= hi[:, h - 1]))[ok])
            naive.append(np.abs(last - tr)[ok & ~np.isnan(last)])
        e, c, n = (np.concatenate(x) if x else np.array([]) for x in (err, cov, naive))
        res[f"h{h}"] = {"mae_pct": round(float(e.mean()), 3) if e.size else None,
                        "last_value_mae_pct": round(float(n.mean()), 3) if n.size else None,
                        "coverage_80_pct": round(float(c.mean()) * 100, 1) if c.size else None, "points": int(e.size)}
    return res


def backtest(h: Hourly, n_origins: int, step: int = 1, kind: str = "node") -> dict[str, Any] | None:
    """Rolling-origin backtest of CPU and memory rows: ``n_origins`` origins ``step`` hours apart, the last 24 h
    before the end (so every 24 h-ahead target is known); each forecast is fitted on the hours before it."""
    y = np.vstack([h.values["cpu"], h.values["memory"]])
    S, T = len(h.keys), y.shape[1]
    origins = np.arange(T - 24 - n_origins * step, T - 24, step)
    origins = origins[origins >= 48]
    if not len(origins):
        return None
    fcs = []
    for o in origins:
        f = forecast(y[:, :o], h.end_hour - T + int(o), 24, _params(kind))
        fcs.append({m: (f.mean[i * S:(i + 1) * S], f.lo[i * S:(i + 1) * S], f.hi[i * S:(i + 1) * S])
                    for i, m in enumerate(METRICS)})
    out: dict[str, Any] = {"origins": len(origins), "every_hours": step,
                           "first_origin": _iso((h.end_hour - T + int(origins[0])) * HOUR)}
    for m in METRICS:
        out[m] = _score(fcs, h.values[m], origins, m)
    return out


def maybe_backtest(settings: Settings, store: Store, snapshot: ClusterSnapshot, now: float,
                   nodes: Hourly | None = None, force: bool = False) -> dict | None:
    """Backtest on the store's own history when the last one is older than ``forecast.backtest_interval_minutes``."""
    last = latest_backtest(store.engine)
    if not force and last is not None and now - last[0] < settings["forecast.backtest_interval_minutes"] * 60:
        return None
    started = time.perf_counter()
    nodes = nodes or load_hourly(store.engine, snapshot, now, settings["forecast.history_days"], "node")
    if not nodes.keys or (~np.isnan(nodes.values["cpu"])).sum(axis=1).max() < 72:
        return None  # under 3 days of history: nothing to backtest yet
    guests = load_hourly(store.engine, snapshot, now, settings["forecast.history_days"], "guest")
    result: dict[str, Any] = {"time": _iso(now)}
    for kind, h, n, step in (("nodes", nodes, 8, 3), ("guests", guests, 3, 8)):
        result[kind] = backtest(h, n, step, "node" if kind == "nodes" else "guest") if h.keys else None
    result["seconds"] = round(time.perf_counter() - started, 3)
    save_backtest(store.engine, now, result)
    return result


def last_backtest(store: Store) -> dict | None:
    hit = latest_backtest(store.engine)
    return hit[1] if hit else None
