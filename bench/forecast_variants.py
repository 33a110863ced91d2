"""Variants of the forecaster tried on the TUNING span only (prints JSON); the report week is never read here.

Uses bench/forecast.py's data, origins and baselines. Two experiments, both on ``--period tune`` origins:

* ``params``: ProxBalance with changed :class:`ForecastParams` (ridge, training window, weights summing to 1)
  and a fixed shrink of the 1 h / 24 h mean towards the last value (``a * ours + (1 - a) * last``), every
  ``--step``-th origin;
* ``adaptive``: per series and origin, the forecast is shrunk towards the last value by how the forecaster
  did against it on the series' own trailing ``W`` days of origins whose targets are known (what the service's
  continuous backtest sees): inverse-error weight ``a = e_last / (e_ours + e_last)`` or selection
  ``a = [e_ours <= e_last]``. Seven days of warm-up origins before the tune span are forecast for it.

MAE of hourly means (% for VMs, busy cores for nodes); ``vs_best_naive_pct`` against the best of last value and
seasonal naive 24 h / 168 h on the same origins.

    .venv/bin/python bench/forecast_variants.py [--experiment params|adaptive] [--step 4]
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import forecast as B  # noqa: E402  (bench/forecast.py)

from proxbalance.engine.forecast import NODE_PARAMS, ForecastParams  # noqa: E402

VARIANTS = {"base": {}, "ridge1": {"ridge": 1.0}, "ridge10": {"ridge": 10.0}, "train7": {"train_days": 7},
            "train28": {"train_days": 28}, "sum_to_one": {"free_sum": False},
            "shrink3": {"shrink_days": 3}, "shrink5": {"shrink_days": 5}, "shrink7": {"shrink_days": 7},
            "shrink3_p2": {"shrink_days": 3, "shrink_power": 2.0},
            "shrink5_p2": {"shrink_days": 5, "shrink_power": 2.0},
            "shrink3_select": {"shrink_days": 3, "shrink_rule": "select"},
            "shrink5_select": {"shrink_days": 5, "shrink_rule": "select"},
            "shrink5_select_h3": {"shrink_days": 5, "shrink_rule": "select", "shrink_max_h": 3},
            "shrink5_select_h6": {"shrink_days": 5, "shrink_rule": "select", "shrink_max_h": 6},
            "shrink5_select_h12": {"shrink_days": 5, "shrink_rule": "select", "shrink_max_h": 12},
            "shrink7_select": {"shrink_days": 7, "shrink_rule": "select"},
            "shrink7_select_h6": {"shrink_days": 7, "shrink_rule": "select", "shrink_max_h": 6},
            # the band of in-sample errors at every horizon, as before 2026-12-08 (with its factors)
            "in_sample_band": {"band_holdout": False, "band_scales": ((1, 1.1), (12, 1.15), (24, 1.2), (48, 1.35))}}
#: node variants replace the guest ones of the same name (bands are calibrated per series kind)
NODE_VARIANTS = {"in_sample_band": {"band_holdout": False,
                                    "band_scales": ((1, 1.1), (6, 1.35), (24, 1.4), (48, 1.4))}}
NAIVE = ("last_value", "seasonal_naive_24h", "seasonal_naive_168h")


def _mae(pred: np.ndarray, truth: np.ndarray) -> float:
    ok = ~np.isnan(truth)
    return round(float(np.abs(pred - truth)[ok].mean()), 4)


def _rel(v: float, best: float) -> list:
    return [v, round(100.0 * (v / best - 1.0), 1)]


def params_experiment(data: dict, step: int, names: list[str] | None = None) -> dict:
    """MAE ``[value, % vs best naive]`` per variant, series kind and horizon; ``(S, n)`` arrays inside."""
    out: dict = {}
    for name in names or list(VARIANTS):
        for kind in ("vm", "node"):
            kw = NODE_VARIANTS.get(name, VARIANTS[name]) if kind == "node" else VARIANTS[name]
            y = data[kind]
            p = dataclasses.replace(ForecastParams() if kind == "vm" else NODE_PARAMS, **kw)
            os_ = B.origins(y.shape[1], "tune")[::step]
            ours, _ = B.run_ours(y, data["start_hour"], os_, p)
            yf = B.ffill(y)
            for h in B.HORIZONS:
                naive = {k: v[:, os_] for k, v in B.naive_all(yf, h).items()}
                truth = y[:, os_ + h - 1]
                best = min(_mae(naive[k], truth) for k in NAIVE)
                ok = ~np.isnan(truth)
                cover = (truth >= ours[h]["lo"]) & (truth <= ours[h]["hi"])
                half = len(os_) // 2  # the span's two weeks: is the band's calibration stable over time?
                r = {"best_naive": best, "ours": _rel(_mae(ours[h]["mean"], truth), best),
                     "coverage_80": round(float(cover[ok].mean()) * 100, 1),
                     "coverage_80_by_week": [round(float(cover[:, c][ok[:, c]].mean()) * 100, 1)
                                             for c in (slice(0, half), slice(half, None))]}
                for a in (0.5, 0.75):
                    r[f"shrink_{a}"] = _rel(_mae(a * ours[h]["mean"] + (1 - a) * naive["last_value"], truth), best)
                out[f"{name}/{kind}/h{h}"] = r
    return out


def adaptive_experiment(data: dict, step: int) -> dict:
    """Shrink towards the last value by the series' own trailing backtest (see the module docstring)."""
    out: dict = {}
    for kind in ("vm", "node"):
        y = data[kind]
        tune = B.origins(y.shape[1], "tune")
        os_ = np.arange(tune[0] - 7 * 24, tune[-1] + 1, step)
        ours, _ = B.run_ours(y, data["start_hour"], os_, ForecastParams() if kind == "vm" else NODE_PARAMS)
        yf = B.ffill(y)
        sel = os_ >= tune[0]
        for h in B.HORIZONS:
            naive = {k: v[:, os_] for k, v in B.naive_all(yf, h).items()}
            lv, m = naive["last_value"], ours[h]["mean"]
            known_truth = yf[:, os_ + h - 1]
            eo, el = np.abs(m - known_truth), np.abs(lv - known_truth)
            truth = y[:, os_ + h - 1][:, sel]
            best = min(_mae(naive[k][:, sel], truth) for k in NAIVE)
            r = {"best_naive": best, "ours": _rel(_mae(m[:, sel], truth), best)}
            for days in (3, 7):
                a_inv, a_sel = np.ones_like(m), np.ones_like(m)
                for j, o in enumerate(os_):
                    known = np.where((os_ <= o - h) & (os_ > o - h - days * 24))[0]
                    if len(known) < days * 12 // step:
                        continue
                    e_o, e_l = eo[:, known].mean(axis=1), el[:, known].mean(axis=1)
                    a_inv[:, j] = e_l / np.maximum(e_o + e_l, 1e-9)
                    a_sel[:, j] = (e_o <= e_l).astype(float)
                for tag, a in (("inverse_error", a_inv), ("select", a_sel)):
                    r[f"{tag}_{days}d"] = _rel(_mae((a * m + (1 - a) * lv)[:, sel], truth), best)
            out[f"{kind}/h{h}"] = r
    return out


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser()
    ap.add_argument("--trace", default=B.DEFAULT_TRACE)
    ap.add_argument("--experiment", choices=("params", "adaptive"), default="params")
    ap.add_argument("--step", type=int, default=None, help="every k-th origin (params: 4, adaptive: 2)")
    ap.add_argument("--variants", nargs="*", choices=sorted(VARIANTS), help="params: only these (default all)")
    args = ap.parse_args(argv)
    data = B.load(args.trace)
    if args.experiment == "params":
        res = params_experiment(data, args.step or 4, args.variants)
    else:
        res = adaptive_experiment(data, args.step or 2)
    out = {"period": "tune", "experiment": args.experiment, "results": res}
    print(json.dumps(out, indent=1))
    return out


if __name__ == "__main__":
    main()
