"""statsforecast's AutoETS, AutoTheta and SeasonalWindowAverage as reference points, TUNING span only (prints).

50 random VMs (seed 0), every 48th tune-span origin (7 origins), 28 days of history per fit (season 24 h),
24 h-ahead MAE of hourly CPU % beside ProxBalance, last value and seasonal naive 168 h on the same origins.
Takes ~3 minutes on one core.

    .venv/bin/python bench/forecast_sf_reference.py
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
import forecast as B  # noqa: E402  (bench/forecast.py)

from proxbalance.engine.forecast import ForecastParams  # noqa: E402


def main() -> dict:
    from statsforecast import StatsForecast
    from statsforecast.models import AutoETS, AutoTheta, SeasonalWindowAverage

    data = B.load(B.DEFAULT_TRACE)
    y = data["vm"]
    yf = B.ffill(y)
    rows = np.sort(np.random.default_rng(0).choice(y.shape[0], 50, replace=False))
    os_ = B.origins(y.shape[1], "tune")[::48]
    ours, _ = B.run_ours(y, data["start_hour"], os_, ForecastParams())
    res: dict[str, list] = {k: [] for k in ("AutoETS", "AutoTheta", "SeasWA")}
    hist = 28 * 24
    for o in os_:
        ds = pd.to_datetime((data["start_hour"] + np.arange(o - hist, o)) * 3600, unit="s")
        df = pd.DataFrame({"unique_id": np.repeat(np.arange(len(rows)), hist), "ds": np.tile(ds, len(rows)),
                           "y": yf[rows, o - hist:o].ravel()})
        sf = StatsForecast(models=[AutoETS(season_length=24), AutoTheta(season_length=24),
                                   SeasonalWindowAverage(season_length=24, window_size=7, alias="SeasWA")],
                           freq="h", n_jobs=1)
        sel = sf.forecast(df=df, h=24).sort_values(["unique_id", "ds"]).groupby("unique_id").nth(23)
        for k in res:
            res[k].append(sel[k].to_numpy())
    truth = y[rows][:, os_ + 23]
    ok = ~np.isnan(truth)

    def mae(m: np.ndarray) -> float:
        return round(float(np.abs(m - truth)[ok].mean()), 4)

    out = {"proxbalance": mae(ours[24]["mean"][rows]), "last_value": mae(yf[rows][:, os_ - 1]),
           "seasonal_naive_168h": mae(yf[rows][:, os_ + 23 - 168]),
           **{k: mae(np.stack(v, axis=1)) for k, v in res.items()}}
    print(out)
    return out


if __name__ == "__main__":
    main()
