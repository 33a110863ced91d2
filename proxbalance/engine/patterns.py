"""Workload patterns of many hourly series at once: daily / weekly cycles, bursts, trend, quiet windows, profile.

Pure numpy. Input ``y`` is ``(S, T)`` hourly means (NaN = no data) in one unit per row (e.g. CPU %),
``end_hour`` the absolute hour index (Unix seconds // 3600) just after the last column. Hours of day are UTC.

* **daily strength** (0-1): share of the within-day variation (the series minus each calendar day's mean)
  explained by the hour-of-day profile, corrected for the profile's own noise (``(s - 1/n) / (1 - 1/n)`` with
  n days), so pure noise scores about 0 and a pure daily cycle 1.
* **weekly strength** (0-1): the same for day-of-week means of the daily means (needs 14 days, else NaN).
* **bursts**: hours whose residual (series minus day mean minus daily profile) is above
  ``burst_sigma`` robust standard deviations (1.4826 x MAD) and above ``burst_min`` units; consecutive hours
  are one burst.
* **trend**: least-squares slope per day, and ``growth`` = slope x days / mean (relative rise over the window).
* **peak / quiet hours**: the hours of day with the highest / lowest profile (day mean + profile).
* **windows**: the ``n_windows`` non-overlapping ``window_hours``-long windows of the day (wrapping midnight)
  with the lowest mean profile: when moving costs least.
* **profile**: ``growing`` (growth above ``growth_min`` and a steady slope), else ``daily_cycle`` (daily or weekly
  strength above ``cycle_min``), else ``bursty`` (at least ``bursty_min`` bursts per 7 days of data), else ``steady``.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np

DAY_H, WEEK_H = 24, 168
PROFILES = ("steady", "daily_cycle", "bursty", "growing")


@dataclass(frozen=True)
class PatternParams:
    burst_sigma: float = 4.0
    burst_min: float = 5.0  # units (e.g. % points) a burst must exceed the expected value by
    cycle_min: float = 0.3
    bursty_min: float = 1.5  # bursts per 7 days
    growth_min: float = 0.25  # relative rise over the window
    growth_r2: float = 0.5  # share of the day-mean variance the linear trend must explain
    window_hours: int = 2
    n_windows: int = 3
    n_peak: int = 3


@dataclass
class Patterns:
    """Per series (S,) unless noted."""

    mean: np.ndarray
    daily_strength: np.ndarray
    weekly_strength: np.ndarray  # NaN with less than 14 days
    daily_profile: np.ndarray  # (S, 24) expected value by hour of day (day mean + profile)
    weekly_profile: np.ndarray  # (S, 7) mean by day of week (0 = Monday), NaN when a day is unseen
    peak_hours: np.ndarray  # (S, n_peak) hours of day, highest first
    quiet_hours: np.ndarray  # (S, n_peak) lowest first
    windows: np.ndarray  # (S, n_windows) start hour of each quiet window, best first
    window_means: np.ndarray  # (S, n_windows)
    burst_hours: np.ndarray  # (S,) hours flagged as bursts
    burst_count: np.ndarray  # (S,) bursts (runs of burst hours)
    burst_max: np.ndarray  # (S,) largest excess over the expected value (units)
    last_burst_hour: np.ndarray  # (S,) absolute hour index of the newest burst hour, -1 if none
    slope_per_day: np.ndarray
    growth: np.ndarray
    profile: list[str]
    days: float


def analyze(y: np.ndarray, end_hour: int, params: PatternParams | None = None) -> Patterns:
    """Patterns of every row of ``y`` (S, T hourly); rows without data come out steady and zero."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN rows: handled below, no need to shout
        return _analyze(y, end_hour, params)


def _analyze(y: np.ndarray, end_hour: int, params: PatternParams | None) -> Patterns:
    p = params or PatternParams()
    y = np.asarray(y, dtype=float)
    S, T = y.shape
    hours = np.arange(end_hour - T, end_hour)
    ok = ~np.isnan(y)
    day_id = hours // DAY_H
    days_u, day_ix = np.unique(day_id, return_inverse=True)
    D = len(days_u)
    hod = hours % DAY_H

    def group_mean(x, idx, n, mask):
        oh = np.zeros((T, n))
        oh[np.arange(T), idx] = 1.0
        num = np.where(mask, x, 0.0) @ oh
        den = mask.astype(float) @ oh
        with np.errstate(invalid="ignore", divide="ignore"):
            return num / den, den

    dmean, _ = group_mean(y, day_ix, D, ok)  # (S, D)
    dmean = np.where(np.isnan(dmean), np.nanmean(np.where(ok, y, np.nan), axis=1, keepdims=True)
                     if T else 0.0, dmean)
    dmean = np.nan_to_num(dmean)
    x = y - dmean[:, day_ix]  # within-day variation
    prof, _ = group_mean(x, hod, DAY_H, ok)
    prof = np.nan_to_num(prof)
    with np.errstate(invalid="ignore", divide="ignore"):
        vx = np.nanvar(np.where(ok, x, np.nan), axis=1)
        fitted = prof[:, hod]
        vp = np.nanvar(np.where(ok, fitted, np.nan), axis=1)
        s_raw = np.where(vx > 1e-12, vp / vx, 0.0)
    n_days = max(ok.sum(axis=1).max() / DAY_H, 1.0) if T else 1.0
    daily = np.clip((s_raw - 1.0 / n_days) / (1.0 - 1.0 / n_days), 0.0, 1.0) if n_days > 1 else np.zeros(S)

    # weekly: day-of-week means of the daily means (Unix day 0 was a Thursday: weekday = (day + 3) % 7)
    dow = (days_u + 3) % 7
    wprof = np.full((S, 7), np.nan)
    weekly = np.full(S, np.nan)
    if D >= 14:
        dok = np.ones((S, D), dtype=bool)
        wm, wden = group_mean_d(dmean, dow, dok)
        wprof = wm
        dev = dmean - np.nanmean(dmean, axis=1, keepdims=True)
        with np.errstate(invalid="ignore", divide="ignore"):
            vd = dev.var(axis=1)
            vw = np.nan_to_num(wm - np.nanmean(dmean, axis=1, keepdims=True))[:, dow].var(axis=1)
            sw = np.where(vd > 1e-12, vw / vd, 0.0)
        nw = D / 7.0
        weekly = np.clip((sw - 1.0 / nw) / (1.0 - 1.0 / nw), 0.0, 1.0)
    elif D:
        wm, _ = group_mean_d(dmean, dow, np.ones((S, D), dtype=bool))
        wprof = wm

    # bursts on the residual of day mean + daily profile
    resid = y - dmean[:, day_ix] - prof[:, hod]
    med = np.nanmedian(np.where(ok, resid, np.nan), axis=1, keepdims=True) if T else np.zeros((S, 1))
    mad = np.nanmedian(np.abs(np.where(ok, resid, np.nan) - med), axis=1, keepdims=True) if T else np.zeros((S, 1))
    sigma = np.nan_to_num(1.4826 * mad)
    excess = np.nan_to_num(resid - med, nan=-np.inf)
    burst = ok & (excess > p.burst_sigma * sigma) & (excess > p.burst_min)
    starts = burst & ~np.concatenate([np.zeros((S, 1), dtype=bool), burst[:, :-1]], axis=1)
    last = np.where(burst.any(axis=1), hours[T - 1 - np.argmax(burst[:, ::-1], axis=1)] if T else -1, -1)

    # trend on the daily means
    t_d = np.arange(D) - (D - 1) / 2.0
    mean = np.nan_to_num(np.nanmean(np.where(ok, y, np.nan), axis=1)) if T else np.zeros(S)
    with np.errstate(invalid="ignore", divide="ignore"):
        slope = (dmean @ t_d) / (t_d @ t_d) if D > 1 else np.zeros(S)
        fit_var = slope**2 * (t_d @ t_d) / max(D, 1)
        r2 = np.where(dmean.var(axis=1) > 1e-12, fit_var / dmean.var(axis=1), 0.0) if D > 1 else np.zeros(S)
        growth = np.where(np.abs(mean) > 1e-9, slope * max(D - 1, 1) / np.abs(mean), 0.0)

    expected = np.nan_to_num(dmean[:, -min(D, 7):].mean(axis=1, keepdims=True) + prof) if D else np.zeros((S, 24))
    order = np.argsort(-expected, axis=1, kind="stable")
    peak = order[:, :p.n_peak]
    quiet = np.argsort(expected, axis=1, kind="stable")[:, :p.n_peak]
    win, wmeans = _windows(expected, p.window_hours, p.n_windows)
    bh = burst.sum(axis=1)
    n_bursts = starts.sum(axis=1)
    prof_names = []
    for i in range(S):
        if growth[i] > p.growth_min and r2[i] > p.growth_r2:
            prof_names.append("growing")
        elif daily[i] > p.cycle_min or (np.isfinite(weekly[i]) and weekly[i] > p.cycle_min):
            prof_names.append("daily_cycle")
        elif T and 7.0 * DAY_H * n_bursts[i] / max(ok[i].sum(), 1) >= p.bursty_min:
            prof_names.append("bursty")
        else:
            prof_names.append("steady")
    return Patterns(mean=mean, daily_strength=daily, weekly_strength=weekly, daily_profile=expected,
                    weekly_profile=wprof, peak_hours=peak, quiet_hours=quiet, windows=win, window_means=wmeans,
                    burst_hours=bh, burst_count=starts.sum(axis=1),
                    burst_max=np.where(burst, excess, 0.0).max(axis=1) if T else np.zeros(S),
                    last_burst_hour=np.asarray(last), slope_per_day=np.nan_to_num(slope * 1.0),
                    growth=np.nan_to_num(growth), profile=prof_names, days=T / DAY_H)


def group_mean_d(x: np.ndarray, idx: np.ndarray, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean of ``x`` (S, D) per ``idx`` value 0..6: ``(S, 7)`` (NaN where a group is empty)."""
    oh = np.zeros((x.shape[1], 7))
    oh[np.arange(x.shape[1]), idx] = 1.0
    num = np.where(mask, x, 0.0) @ oh
    den = mask.astype(float) @ oh
    with np.errstate(invalid="ignore", divide="ignore"):
        return num / den, den


def _windows(expected: np.ndarray, width: int, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Best ``n`` non-overlapping windows of ``width`` hours (wrapping) by mean of ``expected`` (S, 24)."""
    S = expected.shape[0]
    ext = np.concatenate([expected, expected[:, :width - 1]], axis=1)
    means = np.lib.stride_tricks.sliding_window_view(ext, width, axis=1).mean(axis=2)  # (S, 24)
    starts = np.full((S, n), -1)
    vals = np.full((S, n), np.nan)
    m = means.copy()
    for k in range(n):
        j = np.argmin(m, axis=1)
        starts[:, k] = j
        vals[:, k] = means[np.arange(S), j]
        for off in range(-(width - 1), width):  # block overlapping windows
            m[np.arange(S), (j + off) % DAY_H] = np.inf
    return starts, vals
