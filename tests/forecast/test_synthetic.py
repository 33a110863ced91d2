"""Forecasts and patterns find what was put into synthetic series of known shape."""

import dataclasses

import numpy as np
import pytest

from proxbalance.engine.forecast import NODE_PARAMS, ForecastParams, forecast
from proxbalance.engine.patterns import analyze

END = 500_000 // 24 * 24  # an hour index at midnight UTC
DAYS = 28
T = DAYS * 24
HOD = (np.arange(END - T, END) % 24).astype(float)
RNG = np.random.default_rng(0)


def daily(amp=20.0, noise=1.0):
    return 50.0 + amp * np.sin(2 * np.pi * (HOD - 0) / 24.0) + RNG.normal(0, noise, T)


def future_daily(amp=20.0, H=48):
    hod = np.arange(END, END + H) % 24
    return 50.0 + amp * np.sin(2 * np.pi * hod / 24.0)


def test_daily_cycle_is_forecast_and_found():
    y = daily()[None, :]
    f = forecast(y, END, 48)
    truth = future_daily()
    assert np.abs(f.mean[0] - truth).mean() < 2.0
    assert np.abs(y[0, -1] - truth).mean() > 8.0  # persistence would be far off
    assert np.all(f.lo[0] <= f.mean[0]) and np.all(f.mean[0] <= f.hi[0])
    p = analyze(y, END)
    assert p.daily_strength[0] > 0.9 and p.profile == ["daily_cycle"]
    assert 5 <= p.peak_hours[0, 0] <= 7 and 17 <= p.quiet_hours[0, 0] <= 19  # sin peaks at 06:00, low at 18:00
    assert all(16 <= s <= 19 for s in p.windows[0, :1])  # the quietest 2 h window starts around 17:00
    assert p.burst_count[0] == 0


def test_trend_is_extrapolated_and_flagged_growing():
    slope = 2.0  # % per day
    y = (10.0 + slope * np.arange(T) / 24.0 + RNG.normal(0, 0.3, T))[None, :]
    f = forecast(y, END, 48)
    end_level = 10.0 + slope * (T - 1) / 24.0
    assert abs(f.mean[0, 23] - (end_level + slope)) < 1.0
    p = analyze(y, END)
    assert p.profile == ["growing"] and abs(p.slope_per_day[0] - slope) < 0.2


def test_step_is_followed():
    y = np.where(np.arange(T) < T - 72, 20.0, 60.0)[None, :] + RNG.normal(0, 0.5, (1, T))
    f = forecast(y, END, 24)
    assert np.abs(f.mean[0] - 60.0).max() < 6.0


def test_bursts_are_found_and_do_not_drag_the_forecast():
    y = 10.0 + RNG.normal(0, 0.5, T)
    starts = (50, 130, 200, 290, 350, 420, 500, T - 100)  # 2 a week
    for s in starts:
        y[s:s + 2] += 50.0
    p = analyze(y[None, :], END)
    assert p.burst_count[0] == 8 and p.burst_hours[0] == 16 and p.burst_max[0] > 40
    assert p.last_burst_hour[0] == END - T + starts[-1] + 1
    assert p.profile == ["bursty"]
    f = forecast(y[None, :], END, 24)
    assert np.abs(f.mean[0] - 10.0).max() < 2.0


def test_flat_series():
    y = np.full((1, T), 30.0)
    f = forecast(y, END, 48)
    assert np.allclose(f.mean, 30.0) and np.allclose(f.lo, 30.0) and np.allclose(f.hi, 30.0)
    p = analyze(y, END)
    assert p.profile == ["steady"] and p.daily_strength[0] == 0.0 and p.burst_count[0] == 0
    assert np.isfinite(p.weekly_strength[0]) and p.weekly_strength[0] == 0.0


def test_band_covers_about_80_percent_of_noise():
    S = 200
    y = 40.0 + RNG.normal(0, 5.0, (S, T + 24))
    f = forecast(y[:, :T], END, 24)
    inside = (y[:, T:] >= f.lo) & (y[:, T:] <= f.hi)
    assert 0.72 <= inside.mean() <= 0.9


@pytest.mark.parametrize("params", [ForecastParams(), NODE_PARAMS], ids=["guest", "node"])
def test_band_widens_by_the_calibrated_factor_of_each_horizon(params):
    """The band is the in-sample error quantiles times the factor interpolated between the knots."""
    y = 40.0 + RNG.normal(0, 5.0, (20, T))
    raw = forecast(y, END, 48, dataclasses.replace(params, band_scales=((1, 1.0),)))
    f = forecast(y, END, 48, params)
    kh, kf = zip(*params.band_scales, strict=True)
    want = np.interp(np.arange(1, 49), kh, kf)
    np.testing.assert_allclose((f.hi - f.mean) / (raw.hi - raw.mean), np.broadcast_to(want, f.hi.shape), rtol=1e-9)
    assert want[23] > want[0]  # out-of-sample errors grow with the horizon


def test_weekly_cycle_is_found():
    dow = ((np.arange(END - T, END) // 24 + 3) % 7)
    y = np.where(dow >= 5, 10.0, 40.0) + RNG.normal(0, 1.0, T)  # quiet weekends
    p = analyze(y[None, :], END)
    assert p.weekly_strength[0] > 0.8
    assert p.weekly_profile[0, 5] < 15 and p.weekly_profile[0, 2] > 35
    f = forecast(y[None, :], END, 48)
    fut_dow = ((np.arange(END, END + 48) // 24 + 3) % 7)
    truth = np.where(fut_dow >= 5, 10.0, 40.0)
    assert np.abs(f.mean[0] - truth).mean() < 3.0


@pytest.mark.parametrize("T_short", [0, 1, 10, 30])
def test_short_and_missing_history(T_short):
    y = np.full((3, T_short), 5.0)
    if T_short:
        y[1] = np.nan
    f = forecast(y, END, 12)
    assert f.mean.shape == (3, 12) and np.isfinite(f.mean).all()
    if T_short:
        assert np.allclose(f.mean[0], 5.0) and np.allclose(f.mean[1], 0.0)
    p = analyze(y, END)
    assert len(p.profile) == 3


def test_rows_are_independent_of_order():
    y = np.stack([daily(), daily(5.0), np.full(T, 7.0)])
    a = forecast(y, END, 24).mean
    b = forecast(y[::-1], END, 24).mean[::-1]
    assert np.allclose(a, b)


def test_short_horizons_fall_back_to_the_last_value_where_the_fit_stopped_working():
    """The held-out check (``shrink_days``): a cycle that stopped 4 days ago gives way to persistence at 1 h;
    a cycle that holds keeps the fit."""
    rng = np.random.default_rng(1)  # its own stream: the outcome does not depend on which tests ran before
    cycle = 50.0 + 20.0 * np.sin(2 * np.pi * HOD / 24.0) + rng.normal(0, 0.5, (2, T))
    steps = np.where(np.arange(T) < T - 4 * 24, 0.0, rng.normal(0, 1.0, T))
    broken = np.where(np.arange(T) < T - 4 * 24, cycle[1], 50.0 + np.cumsum(steps))  # then a random walk
    y = np.stack([cycle[0], broken])
    assert broken.min() > 0.0  # no clipping at 0 in play
    f = forecast(y, END, 24)
    truth = future_daily(H=1)[0]
    assert abs(f.mean[0, 0] - truth) < 1.5 and abs(y[0, -1] - truth) > 4.0  # the cycle is kept
    assert f.mean[1, 0] == pytest.approx(y[1, -1], abs=1e-9)  # persistence, exactly
    unchecked = forecast(y, END, 24, dataclasses.replace(ForecastParams(), shrink_days=0))
    assert abs(unchecked.mean[1, 0] - y[1, -1]) > 0.2  # without the check the stale cycle weights remain
    assert f.mean[1, 23] == pytest.approx(unchecked.mean[1, 23])  # beyond shrink_max_h nothing changes


def test_short_horizon_band_follows_the_latest_week():
    """``band_holdout``: up to ``shrink_max_h`` the band is made of the held-out week's errors, so a series that
    calmed down a week ago gets a band as narrow as its calm noise (80 % of its calm future inside), where the
    in-sample band still carries the busy weeks before; beyond ``shrink_max_h`` nothing changes."""
    rng = np.random.default_rng(2)
    S, calm = 200, 7 * 24
    sd = np.where(np.arange(T + 1) < T - calm, 6.0, 1.0)
    y = 40.0 + rng.normal(0.0, 1.0, (S, T + 1)) * sd  # white noise: busy, then calm for the last 7 days
    f = forecast(y[:, :T], END, 24)
    old = forecast(y[:, :T], END, 24, dataclasses.replace(ForecastParams(), band_holdout=False))
    width, old_width = (f.hi - f.lo)[:, 0], (old.hi - old.lo)[:, 0]
    assert np.median(width) < 0.5 * np.median(old_width)
    inside = (y[:, T] >= f.lo[:, 0]) & (y[:, T] <= f.hi[:, 0])
    assert 0.7 <= inside.mean() <= 0.92
    assert np.allclose((f.hi - f.lo)[:, 23], (old.hi - old.lo)[:, 23])


def test_a_series_without_a_held_out_week_keeps_its_in_sample_band():
    """Too few held-out errors (a guest stopped for most of the last week) for 10 / 90 % tails: its band at the
    checked horizons is made of the in-sample errors, as without ``band_holdout``; a full series' is not."""
    rng = np.random.default_rng(5)
    y = 40.0 + rng.normal(0.0, 5.0, (2, T))
    y[1, -7 * 24 + 5:] = np.nan  # 5 held-out hours left
    f = forecast(y, END, 24)
    old = forecast(y, END, 24, dataclasses.replace(ForecastParams(), band_holdout=False))
    width, old_width = (f.hi - f.lo)[:, 0], (old.hi - old.lo)[:, 0]
    assert width[1] == pytest.approx(old_width[1], rel=1e-12) and width[1] > 10.0
    assert width[0] != pytest.approx(old_width[0], rel=1e-6)
