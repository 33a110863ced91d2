"""Backtest of ProxBalance's forecaster against naive baselines and statsforecast's MSTL (prints JSON).

Data: the Bitbrains GWA-T-12 "Rnd" trace (Grid Workloads Archive, TU Delft), 500 VMs, July-August 2013,
read by path (default ../shared/traces/bitbrains-rnd-2013-07-08.npz). 5-minute samples are averaged to hourly
means (pandas resample); forecasts are of hourly means: horizon h = the mean over the hour starting h - 1
hours after the origin.

Series: every VM's CPU % (500) and "node" series, the summed busy cores (cpu % x cores / 100) of 20 nodes of
25 VMs each (a fixed random grouping, seed 0).

Rolling origins every hour, each forecaster fitted on everything before the origin:
* ``report`` (default): the last 7 days whose 24 h-ahead targets are in the trace (168 origins ending 24 h
  before the trace ends), never used for tuning;
* ``tune``: the 14 days of origins before those (targets before the report period's first target), the only
  data the parameters were chosen on. The JSON's ``periods`` gives both spans.

Nodes are forecast directly (``proxbalance``) and, for comparison, as the sum of the VMs' forecasts
(``proxbalance_sum_of_vms``, mean only: a sum of 80 % bands is not an 80 % band).

``--timing-only`` (run it under ``flock /tmp/bench.lock``): wall and CPU time of one 48 h forecast of all 500
VMs, and MSTL's time on ``--mstl-series`` series at one origin, scaled to 500.

Methods: ProxBalance (engine/forecast.py), last value, seasonal naive 24 h (yesterday) and 168 h (last week),
a linear trend over the last 24 h, and statsforecast's MSTL (seasons 24 and 168; its default AutoETS trend).
Baselines' 80 % bands are the empirical 10-90 % quantiles of their own errors at that horizon over the
previous 14 days; MSTL's are its own (level=80). ``--mstl-every`` refits MSTL at every k-th origin only
(it is slow); its MAE is then measured on those origins, and ProxBalance's MAE on the same origins is reported
beside it (``proxbalance_on_mstl_origins``).

    .venv/bin/python bench/forecast.py [--trace PATH] [--period report|tune] [--mstl-every K] [--mstl-series N]
        [--no-mstl] [--timing-only]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from proxbalance.engine.forecast import NODE_PARAMS, ForecastParams, forecast  # noqa: E402

DEFAULT_TRACE = "/work/shared/traces/bitbrains-rnd-2013-07-08.npz"
HORIZONS = (1, 24)
N_NODES = 20


def load(path: str) -> dict:
    d = np.load(path)
    t0, step = int(d["t0"]), int(d["step"])
    cpu = d["cpu_pct"].astype(np.float64)
    cores = np.maximum(d["cores"].astype(float), 1.0)
    idx = pd.to_datetime(t0 + step * np.arange(cpu.shape[1]), unit="s")
    hourly = pd.DataFrame(cpu.T, index=idx).resample("1h").mean()  # (T hours, 500): NaN where no sample
    vm = hourly.to_numpy().T
    groups = np.random.default_rng(0).permutation(vm.shape[0]).reshape(N_NODES, -1)
    filled = pd.DataFrame(vm.T).ffill().fillna(0.0).to_numpy().T
    node = np.stack([(filled[g] * cores[g, None] / 100.0).sum(axis=0) for g in groups])
    start_hour = int(hourly.index[0].value // 10**9 // 3600)
    return {"vm": vm, "node": node, "start_hour": start_hour, "groups": groups, "cores": cores}


def origins(T: int, period: str) -> np.ndarray:
    """``report``: the last 7 days (168 hourly origins whose 24 h targets are in the trace); ``tune``: the 14 days
    of origins before them whose 24 h targets all fall before the report period's first target hour."""
    report = np.arange(T - 168 - 24, T - 24)
    if period == "tune":
        return np.arange(report[0] - 24 - 14 * 24, report[0] - 24)
    return report


def period_info(T: int, start_hour: int) -> dict:
    def span(os_: np.ndarray) -> dict:
        iso = lambda hr: pd.Timestamp((start_hour + int(hr)) * 3600, unit="s").isoformat() + "Z"  # noqa: E731
        return {"origins": len(os_), "first_origin": iso(os_[0]), "last_origin": iso(os_[-1]),
                "last_target_hour": iso(os_[-1] + 23)}
    return {"report": {**span(origins(T, "report")), "use": "reported here; never used to choose parameters"},
            "tune": {**span(origins(T, "tune")), "use": "the only data ForecastParams' defaults were chosen on"}}


def ffill(y: np.ndarray) -> np.ndarray:
    return pd.DataFrame(y.T).ffill().fillna(0.0).to_numpy().T


def naive_all(yf: np.ndarray, h: int) -> dict[str, np.ndarray]:
    """Point forecasts ``(S, T)`` of hour ``o + h - 1`` for every origin ``o`` (NaN where history is short)."""
    S, T = yf.shape
    out = {k: np.full((S, T), np.nan) for k in ("last_value", "seasonal_naive_24h", "seasonal_naive_168h",
                                                  "linear_trend_24h")}
    o = np.arange(T)
    tgt = o + h - 1
    ok = (o >= 1)
    out["last_value"][:, ok] = yf[:, o[ok] - 1]
    ok = tgt - 24 >= 0
    out["seasonal_naive_24h"][:, ok] = yf[:, (tgt - 24)[ok]]
    ok = tgt - 168 >= 0
    out["seasonal_naive_168h"][:, ok] = yf[:, (tgt - 168)[ok]]
    x = np.arange(24.0) - 11.5
    win = np.lib.stride_tricks.sliding_window_view(yf, 24, axis=1)  # (S, T - 23, 24): window ending at o - 1
    slope = win @ x / (x @ x)
    level = win.mean(axis=2)
    # window w covers hours w .. w + 23, origin o = w + 24, target o + h - 1 = centre (w + 11.5) + 12.5 + h - 1
    tr = np.maximum(level + slope * (12.5 + h - 1), 0.0)
    out["linear_trend_24h"][:, 24:] = tr[:, : T - 24]
    return out


def run_naive(y: np.ndarray, os_: np.ndarray, h: int) -> dict[str, dict]:
    yf = ffill(y)
    S, T = yf.shape
    out = {}
    for k, pred in naive_all(yf, h).items():
        err = np.full((S, T), np.nan)
        valid = np.arange(T) + h - 1 < T
        err[:, valid] = yf[:, np.arange(T)[valid] + h - 1] - pred[:, valid]
        lo, hi = [], []
        for o in os_:  # errors of origins whose target is before o, over the previous 14 days
            e = err[:, int(o) - 14 * 24: int(o) - h + 1]
            q = np.nanquantile(e, [0.1, 0.9], axis=1)
            lo.append(q[0])
            hi.append(q[1])
        p = pred[:, os_]
        out[k] = {"mean": p, "lo": p + np.stack(lo, axis=1), "hi": p + np.stack(hi, axis=1)}
    return out


def run_ours(y: np.ndarray, start_hour: int, os_: np.ndarray, params: ForecastParams) -> dict:
    res = {h: {"mean": [], "lo": [], "hi": []} for h in HORIZONS}
    times = []
    for o in os_:
        t = time.perf_counter()
        fc = forecast(y[:, :o], start_hour + int(o), horizon=max(HORIZONS), params=params)
        times.append(time.perf_counter() - t)
        for h in HORIZONS:
            for k in ("mean", "lo", "hi"):
                res[h][k].append(getattr(fc, k)[:, h - 1])
    return {h: {k: np.stack(v, axis=1) for k, v in d.items()} for h, d in res.items()}, times


def run_mstl(y: np.ndarray, start_hour: int, os_: np.ndarray) -> tuple[dict, list[float]]:
    from statsforecast import StatsForecast
    from statsforecast.models import MSTL

    yf = ffill(y)
    S = y.shape[0]
    res = {h: {"mean": [], "lo": [], "hi": []} for h in HORIZONS}
    times = []
    for o in os_:
        ds = pd.to_datetime((start_hour + np.arange(o)) * 3600, unit="s")
        df = pd.DataFrame({"unique_id": np.repeat(np.arange(S), o), "ds": np.tile(ds, S), "y": yf[:, :o].ravel()})
        sf = StatsForecast(models=[MSTL(season_length=[24, 168])], freq="h", n_jobs=1)
        t = time.perf_counter()
        fc = sf.forecast(df=df, h=max(HORIZONS), level=[80])
        times.append(time.perf_counter() - t)
        fc = fc.sort_values(["unique_id", "ds"])
        for h in HORIZONS:
            sel = fc.groupby("unique_id").nth(h - 1)
            res[h]["mean"].append(sel["MSTL"].to_numpy())
            res[h]["lo"].append(sel["MSTL-lo-80"].to_numpy())
            res[h]["hi"].append(sel["MSTL-hi-80"].to_numpy())
    return {h: {k: np.stack(v, axis=1) for k, v in d.items()} for h, d in res.items()}, times


def score(pred: dict, y: np.ndarray, os_: np.ndarray, h: int, cols: np.ndarray | None = None,
          rows: np.ndarray | None = None) -> dict:
    truth = y[:, os_ + h - 1]
    m, lo, hi = pred["mean"], pred["lo"], pred["hi"]
    if cols is not None:
        truth, m, lo, hi = truth[:, cols], m[:, cols], lo[:, cols], hi[:, cols]
    if rows is not None:
        truth, m, lo, hi = truth[rows], m[rows], lo[rows], hi[rows]
    ok = ~np.isnan(truth)
    err = np.abs(m - truth)[ok]
    cover = ((truth >= lo) & (truth <= hi))[ok]
    return {"mae": round(float(err.mean()), 4), "coverage_80": round(float(cover.mean()) * 100, 1)}


def timing(data: dict, params: ForecastParams, n_mstl: int) -> dict:
    """Seconds for one 48 h forecast of all 500 VMs (median of 5) and MSTL on ``n_mstl`` series, one origin."""
    y = data["vm"]
    o = y.shape[1] - 24
    forecast(y[:, :o], data["start_hour"] + o, horizon=48, params=params)  # warm-up
    wall, cpu = [], []
    for _ in range(5):
        t, c = time.perf_counter(), time.process_time()
        forecast(y[:, :o], data["start_hour"] + o, horizon=48, params=params)
        wall.append(time.perf_counter() - t)
        cpu.append(time.process_time() - c)
    rows = np.sort(np.random.default_rng(0).choice(y.shape[0], n_mstl, replace=False))
    run_mstl(y[rows], data["start_hour"], np.array([o]))  # numba compilation
    t = time.perf_counter()
    run_mstl(y[rows], data["start_hour"], np.array([o]))
    ms = time.perf_counter() - t
    return {"series": y.shape[0], "history_hours": o, "horizon_h": 48,
            "proxbalance_wall_seconds": {"median": round(float(np.median(wall)), 3), "max": round(max(wall), 3)},
            "proxbalance_cpu_seconds_median": round(float(np.median(cpu)), 3),
            "mstl_series_fitted": n_mstl, "mstl_wall_seconds": round(ms, 2),
            "mstl_wall_seconds_scaled_to_all": round(ms * y.shape[0] / n_mstl, 1),
            "load_average_1m": round(__import__("os").getloadavg()[0], 2)}


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser()
    ap.add_argument("--trace", default=DEFAULT_TRACE)
    ap.add_argument("--period", choices=("report", "tune"), default="report")
    ap.add_argument("--mstl-every", type=int, default=1)
    ap.add_argument("--mstl-series", type=int, default=0, help="MSTL on this many series (random, seed 0); 0 = all")
    ap.add_argument("--no-mstl", action="store_true")
    ap.add_argument("--timing-only", action="store_true")
    args = ap.parse_args(argv)
    data = load(args.trace)
    params = ForecastParams()
    T = data["vm"].shape[1]
    if args.timing_only:
        out = timing(data, params, args.mstl_series or 50)
        print(json.dumps(out, indent=2))
        return out
    out: dict = {"trace": Path(args.trace).name, "period": args.period, "hourly_means": True,
                 "periods": period_info(T, data["start_hour"]),
                 "horizons_h": list(HORIZONS),
                 "params": {"vm_cpu_pct": params.__dict__, "node_cpu_cores": NODE_PARAMS.__dict__}}
    vm_ours = None
    for name, unit in (("vm_cpu_pct", "% of the VM's vCPUs"), ("node_cpu_cores", "cores busy (25 VMs summed)")):
        y = data["vm"] if name == "vm_cpu_pct" else data["node"]
        params = ForecastParams() if name == "vm_cpu_pct" else NODE_PARAMS  # as the service forecasts each
        os_ = origins(y.shape[1], args.period)
        block: dict = {"series": y.shape[0], "origins": len(os_), "unit": unit,
                       "first_origin_hour": int(os_[0]), "mean_level": round(float(np.nanmean(y[:, os_])), 3)}
        ours, times = run_ours(y, data["start_hour"], os_, params)
        if name == "vm_cpu_pct":
            vm_ours = ours
        block["proxbalance_seconds_per_origin"] = {"median": round(float(np.median(times)), 4),
                                                   "max": round(float(np.max(times)), 4)}
        c0 = time.process_time()
        forecast(y[:, : int(os_[-1])], data["start_hour"] + int(os_[-1]), horizon=48, params=params)
        block["proxbalance_cpu_seconds_one_call_48h"] = round(time.process_time() - c0, 4)
        mstl = None
        mcols = np.arange(0, len(os_), args.mstl_every)
        mrows = None
        if args.mstl_series and args.mstl_series < y.shape[0]:
            mrows = np.sort(np.random.default_rng(0).choice(y.shape[0], args.mstl_series, replace=False))
        if not args.no_mstl:
            mstl, mtimes = run_mstl(y if mrows is None else y[mrows], data["start_hour"], os_[mcols])
            ns = y.shape[0] if mrows is None else len(mrows)
            block["mstl_seconds_per_origin"] = {"median": round(float(np.median(mtimes)), 3),
                                                "origins_fitted": len(mcols), "series_fitted": ns,
                                                "note": "the first origin includes numba compilation"}
            block["mstl_seconds_per_series"] = round(float(np.median(mtimes)) / ns, 4)
        for h in HORIZONS:
            naive = run_naive(y, os_, h)
            hb = {"proxbalance": score(ours[h], y, os_, h)}
            if name == "node_cpu_cores" and vm_ours is not None:
                w = data["cores"][:, None] / 100.0
                summed = np.stack([(vm_ours[h]["mean"][g] * w[g]).sum(axis=0) for g in data["groups"]])
                sc = score({"mean": summed, "lo": summed, "hi": summed}, y, os_, h)
                hb["proxbalance_sum_of_vms"] = {"mae": sc["mae"]}
            for k, v in naive.items():
                hb[k] = score(v, y, os_, h)
            if mstl is not None:
                hb["mstl"] = score(mstl[h], y if mrows is None else y[mrows], os_[mcols], h)
                hb["proxbalance_on_mstl_origins"] = score(ours[h], y, os_, h, cols=mcols, rows=mrows)
                for k in naive:
                    hb[f"{k}_on_mstl_origins"] = score(naive[k], y, os_, h, cols=mcols, rows=mrows)
            best = min(("last_value", "seasonal_naive_24h", "seasonal_naive_168h", "linear_trend_24h"),
                       key=lambda k: hb[k]["mae"])
            hb["best_naive"] = best
            hb["mae_vs_best_naive_pct"] = round(100.0 * (hb["proxbalance"]["mae"] / hb[best]["mae"] - 1.0), 1)
            if mstl is not None:
                hb["mae_vs_mstl_pct"] = round(100.0 * (hb["proxbalance_on_mstl_origins"]["mae"]
                                                       / hb["mstl"]["mae"] - 1.0), 1)
            block[f"h{h}"] = hb
        out[name] = block
    out["cpu_seconds_total"] = round(time.process_time(), 1)
    print(json.dumps(out, indent=2))
    return out


if __name__ == "__main__":
    main()
