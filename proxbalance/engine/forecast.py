"""Forecasts of many hourly series at once: level, trend, daily and weekly seasonality, with an 80 % band.

Pure numpy: arrays in, arrays out (no I/O, no clock). Every series shares one hourly time axis.

Input ``y`` is ``(S, T)`` hourly means (any unit: %, cores, bytes; NaN = no data, carried forward) and
``end_hour``, the absolute hour index (Unix seconds // 3600) just after the last column. Horizon ``h``
(1-based) is the mean over the hour starting ``h - 1`` hours after the origin (hour ``end_hour + h - 1``).

Model: for each horizon the forecast is a per-series linear combination of eight predictors, all read from
the past only (no predictor looks at the hour it predicts, so fitting the combination in-sample is honest):

=========  ===============================================================  ==================
predictor  value for target hour ``t = origin + h - 1``                      component
=========  ===============================================================  ==================
last       the last hour                                                    level (now)
ew         exponentially weighted mean, half-life ``ew_halflife`` hours      level (smoothed)
mean24     mean of the last 24 h                                            level (day)
mean168    mean of the last 168 h (with mean24: the trend)                  level (week), trend
lag_day    the same hour of the latest day before the origin               daily seasonality
day_avg    the mean of that hour over the 7 latest such days               daily seasonality
lag_week   the same hour one week earlier                                   weekly seasonality
week_avg   the mean of that hour over the 4 latest weeks                    weekly seasonality
=========  ===============================================================  ==================

A predictor without enough history falls back to the next coarser one (week_avg -> day_avg -> mean24 ...).
The weights are fitted per horizon on the series' own last ``train_days`` days of origins: a least-squares
fit pooled over all series (each scaled to unit mean absolute value) gives shared weights, and each series'
ridge fit is shrunk towards them (``ridge``). Weights are fitted at a few horizons (:data:`FIT_HORIZONS`) and
interpolated between them. The 80 % band is the 10 % / 90 % quantile of each series' errors at that horizon:
up to ``shrink_max_h`` those of the held-out check's last 7 days (out of sample and recent), beyond it the
in-sample errors; times a factor per horizon (``band_scales``, interpolated in ``h``): in-sample errors
understate out-of-sample ones, more so the further ahead. The factors were chosen so that out-of-sample coverage
is 80 % on the tuning span of bench/forecast.py, separately for single guests (:class:`ForecastParams`' default)
and for nodes (:data:`NODE_PARAMS`: sums of many guests, whose in-sample errors understate more).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

DAY_H, WEEK_H = 24, 168
FIT_HORIZONS = (1, 2, 3, 6, 12, 24, 36, 48)
PREDICTORS = ("last", "ew", "mean24", "mean168", "lag_day", "day_avg", "lag_week", "week_avg")
#: fallback of each predictor (index into PREDICTORS) when its history is missing
_FALLBACK = (None, 0, 1, 2, 2, 4, 5, 6)


@dataclass(frozen=True)
class ForecastParams:
    """Tuned on the last week of the trace's first month only (see bench/forecast.py)."""

    train_days: int = 14  # days of in-sample origins the weights are fitted on
    ew_halflife: float = 3.0  # hours
    ridge: float = 0.1  # shrinkage of a series' weights towards the pooled ones (x mean diagonal)
    free_sum: bool = True  # weights need not sum to 1 (a median below the mean helps the MAE on bursty load)
    l1_iters: int = 3  # IRLS passes: the fit minimises absolute error (the MAE), not squared error
    l1_delta: float = 0.05  # floor of |error| in the IRLS weights, x the series' mean absolute value
    #: (horizon h, factor) knots: the error quantiles (held-out errors up to ``shrink_max_h`` with
    #: ``band_holdout``, in-sample beyond) are multiplied by the factor interpolated linearly in h (constant
    #: beyond the last knot). Chosen at 1 h and 24 h; 6 h repeats 1 h, 12 h is what the in-sample band had there
    band_scales: tuple[tuple[float, float], ...] = ((1, 1.15), (6, 1.15), (12, 1.15), (24, 1.2), (48, 1.35))
    band_lo: float = 0.1
    band_hi: float = 0.9
    clip_min: float | None = 0.0  # forecasts and band are clipped at this (None = unbounded)
    clip_max: float | None = None
    #: days of the latest origins held out to check the fit against the last value (0 = no check): the
    #: weights are refitted without them, and each series' forecast is shrunk towards the last value by how
    #: the held-out fit did against it on those days (see :func:`_shrink`)
    shrink_days: int = 7
    shrink_rule: str = "select"  # "inverse": a = e_last / (e_fit + e_last); "select": a = [e_fit <= e_last]
    shrink_power: float = 1.0  # inverse rule: a = e_last^p / (e_fit^p + e_last^p) (larger p = sharper)
    shrink_iters: int = 1  # IRLS passes of the held-out fit
    shrink_max_h: int = 6  # the check applies to fitted horizons up to this many hours
    #: at the checked horizons the band is made of the chosen forecaster's held-out errors (the latest
    #: ``shrink_days``: out of sample and recent, so a calmer or busier week shows at once) instead of the
    #: in-sample errors; ``band_scales`` then hold the factors of both
    band_holdout: bool = True


#: node series (a node's summed guests): bands calibrated on the bench's 20 summed nodes
NODE_PARAMS = ForecastParams(band_scales=((1, 1.0), (6, 1.0), (12, 1.3667), (24, 1.4), (48, 1.4)))


@dataclass
class Forecast:
    """``mean``/``lo``/``hi`` are ``(S, H)`` in the input's unit; the rest ``(S,)`` unless noted."""

    mean: np.ndarray
    lo: np.ndarray
    hi: np.ndarray
    start_hour: int  # absolute hour index of horizon 1
    level: np.ndarray  # exponentially weighted level at the origin
    trend_per_day: np.ndarray  # (mean of the last day - mean of the last week) / 3.5 days
    daily_amplitude: np.ndarray  # max - min over the hours of day of the last 7 days' hourly means
    weekly_amplitude: np.ndarray  # max - min of the last 4 weeks' day-of-week means (0 with < 2 weeks)
    weights: np.ndarray = field(repr=False, default=None)  # (S, len(FIT_HORIZONS), len(PREDICTORS))
    params: ForecastParams = field(default_factory=ForecastParams)


def ffill(y: np.ndarray) -> np.ndarray:
    """Carry the last value forward along axis 1; leading NaNs become the first value (0 for an empty row)."""
    ok = ~np.isnan(y)
    idx = np.where(ok, np.arange(y.shape[1])[None, :], 0)
    np.maximum.accumulate(idx, axis=1, out=idx)
    out = y[np.arange(y.shape[0])[:, None], idx]
    first = np.where(ok.any(axis=1), y[np.arange(y.shape[0]), ok.argmax(axis=1)], 0.0)
    return np.where(np.isnan(out), first[:, None], out)


def _ew(yf: np.ndarray, halflife: float) -> np.ndarray:
    """Exponentially weighted mean along axis 1 (adjusted for the start), ``(S, T)``: one pass over T."""
    a = 0.5 ** (1.0 / halflife)
    out = np.empty_like(yf)
    acc = np.zeros(yf.shape[0])
    for t in range(yf.shape[1]):
        acc = a * acc + (1.0 - a) * yf[:, t]
        out[:, t] = acc
    return out / (1.0 - a ** np.arange(1, yf.shape[1] + 1))[None, :]


class _Hist:
    """Filled history with prefix sums and EW level, for predictor lookups at many origins."""

    def __init__(self, y: np.ndarray, p: ForecastParams):
        self.yf = ffill(y)
        self.ok = ~np.isnan(y)
        S, T = self.yf.shape
        self.T = T
        self.cs = np.concatenate([np.zeros((S, 1)), np.cumsum(self.yf, axis=1)], axis=1)
        self.ew = _ew(self.yf, p.ew_halflife)

    def _mean(self, o: np.ndarray, w: int) -> np.ndarray:
        lo = np.maximum(o - w, 0)
        return (self.cs[:, o] - self.cs[:, lo]) / np.maximum(o - lo, 1)[None, :]

    def _strided(self, step: int) -> np.ndarray:
        """``c[:, t] = yf[:, t] + yf[:, t - step] + ...`` (cached), ``(S, T)``."""
        key = f"_cs{step}"
        if not hasattr(self, key):
            S, T = self.yf.shape
            n = -(-T // step) * step
            pad = np.zeros((S, n))
            pad[:, :T] = self.yf
            c = np.cumsum(pad.reshape(S, n // step, step), axis=1).reshape(S, n)[:, :T]
            setattr(self, key, c)
        return getattr(self, key)

    def _avg_lags(self, t: np.ndarray, step: int, k0: int, n: int) -> tuple[np.ndarray, np.ndarray]:
        """Mean of yf[t - step*k] for k = k0 .. k0+n-1 that are >= 0: ``(S, len(t))`` and any-available ``(len(t),)``."""
        c = self._strided(step)
        a = t - step * k0  # newest lag
        b = t - step * (k0 + n)  # first lag not included
        ok = a >= 0
        top = c[:, np.maximum(a, 0)]
        bot = np.where((b >= 0)[None, :], c[:, np.maximum(b, 0)], 0.0)
        cnt = np.where(ok, np.minimum(n, a // step + 1), 0)
        return (top - bot) / np.maximum(cnt, 1)[None, :], ok

    def features(self, o: np.ndarray, h: int) -> np.ndarray:
        """Predictors ``(S, len(o), 8)`` for origins ``o`` (history before o) and horizon ``h``."""
        o = np.asarray(o, dtype=np.int64)
        t = o + h - 1
        kd = -(-h // DAY_H)
        S = self.yf.shape[0]
        X = np.empty((S, len(o), len(PREDICTORS)))
        avail = np.ones((len(o), len(PREDICTORS)), dtype=bool)
        X[:, :, 0] = self.yf[:, o - 1]
        X[:, :, 1] = self.ew[:, o - 1]
        X[:, :, 2] = self._mean(o, DAY_H)
        avail[:, 2] = o >= DAY_H
        X[:, :, 3] = self._mean(o, WEEK_H)
        avail[:, 3] = o >= WEEK_H
        X[:, :, 4], avail[:, 4] = self._avg_lags(t, DAY_H, kd, 1)
        X[:, :, 5], a5 = self._avg_lags(t, DAY_H, kd, 7)
        avail[:, 5] = a5 & (t - DAY_H * (kd + 2) >= 0)  # at least 3 days
        X[:, :, 6], avail[:, 6] = self._avg_lags(t, WEEK_H, 1, 1)
        X[:, :, 7], a7 = self._avg_lags(t, WEEK_H, 1, 4)
        avail[:, 7] = a7 & (t - 2 * WEEK_H >= 0)  # at least 2 weeks
        for j, fb in enumerate(_FALLBACK):
            if fb is not None:
                miss = ~avail[:, j]
                if miss.any():
                    X[:, miss, j] = X[:, miss, fb]
        return X


class _Design:
    """The regression ``y (S, n) ~ X (S, n, k)`` of one horizon, built once for every IRLS pass.

    Fitted as ``y - last ~ (X - last)`` (so shrinking means "towards persistence"); each series is scaled by its
    mean absolute value so that the pooled fit weighs every series alike.
    """

    def __init__(self, X: np.ndarray, y: np.ndarray, free_sum: bool):
        self.k = X.shape[2]
        self.free_sum = free_sum
        D = np.concatenate([X[:, :, 1:] - X[:, :, :1], X[:, :, :1]], axis=2) if free_sum else X[:, :, 1:] - X[:, :, :1]
        scale = np.maximum(np.abs(y).mean(axis=1), 1e-9)  # (S,)
        self.Ds = D / scale[:, None, None]
        self.zs = (y - X[:, :, 0]) / scale[:, None]

    def weights(self, w: np.ndarray, ridge: float) -> np.ndarray:
        """Per-series weights ``(S, k)`` for row weights ``w (S, n)``: each series' ridge fit shrunk towards the
        fit pooled over all series (the prior)."""
        k, Ds = self.k, self.Ds
        Dw = Ds * w[:, :, None]
        A = np.einsum("snk,snl->skl", Dw, Ds, optimize=True)  # (S, m, m); einsum: 2x faster than batched matmul
        b = np.einsum("snk,sn->sk", Dw, self.zs, optimize=True)
        # pooled prior: every series counts equally (its weights normalised to mean 1)
        norm = 1.0 / np.maximum(w.mean(axis=1), 1e-12)
        Ap, bp = np.einsum("skl,s->kl", A, norm), b.T @ norm
        m = Ds.shape[2]
        eye = np.eye(m)
        pooled = np.linalg.solve(Ap + 1e-3 * max(np.trace(Ap) / m, 1e-12) * eye, bp)
        lam = ridge * np.maximum(np.trace(A, axis1=1, axis2=2) / m, 1e-12)  # (S,)
        rest = np.linalg.solve(A + lam[:, None, None] * eye[None],
                               (b + lam[:, None] * pooled[None, :])[:, :, None])[:, :, 0]
        extra = rest[:, k - 1] if self.free_sum else 0.0  # weight on "last" beyond sum-to-one
        rest = rest[:, : k - 1]
        return np.concatenate([(1.0 - rest.sum(axis=1) + extra)[:, None], rest], axis=1)


def _fit(X: np.ndarray, tgt: np.ndarray, rw: np.ndarray, p: ForecastParams, iters: int):
    """Per-series weights ``(S, k)`` and in-sample errors ``(S, n)`` of predictors ``X (S, n, k)`` for targets
    ``tgt`` (row weights ``rw``, both ``(S, n)``): least squares, then ``iters`` passes of iteratively
    reweighted least squares towards least absolute error."""
    design = _Design(X, tgt, p.free_sum)
    w = design.weights(rw, p.ridge)
    err = tgt - np.einsum("snk,sk->sn", X, w)
    scale = np.maximum(np.abs(tgt).mean(axis=1, keepdims=True), 1e-9)
    for _ in range(iters):
        w = design.weights(rw / np.maximum(np.abs(err), p.l1_delta * scale), p.ridge)
        err = tgt - np.einsum("snk,sk->sn", X, w)
    return w, err


def _shrink(X: np.ndarray, tgt: np.ndarray, rw: np.ndarray, p: ForecastParams) -> tuple[np.ndarray, np.ndarray | None]:
    """Weight ``a (S,)`` of the fitted forecast against the last value, from a held-out check, and the
    held-out errors ``(S, 24 shrink_days)`` of the forecast that weight makes (NaN where no target; None
    without a check).

    The regression is refitted on all but the latest ``p.shrink_days`` days of origins (``X (S, n, k)``,
    ``tgt``/``rw (S, n)``) and its mean absolute error on those days compared with the last value's: a series
    whose fit did not beat persistence lately gets little weight on the fit. Too few held-out or training rows:
    ``a = 1``.
    """
    S, n, _ = X.shape
    nh = p.shrink_days * DAY_H
    if n - nh < 2 * DAY_H or nh < 1:
        return np.ones(S), None
    tr, ho = slice(0, n - nh), slice(n - nh, n)
    w, _ = _fit(X[:, tr], tgt[:, tr], rw[:, tr], p, p.shrink_iters)
    r = rw[:, ho]
    seen = r.sum(axis=1)
    cnt = np.maximum(seen, 1.0)
    d_fit = tgt[:, ho] - np.einsum("snk,sk->sn", X[:, ho], w)
    d_last = tgt[:, ho] - X[:, ho, 0]
    e_fit = (np.abs(d_fit) * r).sum(axis=1) / cnt
    e_last = (np.abs(d_last) * r).sum(axis=1) / cnt
    if p.shrink_rule == "select":
        a = (e_fit <= e_last).astype(float)
    else:
        ef, el = e_fit ** p.shrink_power, e_last ** p.shrink_power
        a = np.where(ef + el > 0, el / np.maximum(ef + el, 1e-300), 1.0)
    a = np.where(seen > 0, a, 1.0)
    return a, np.where(r > 0, a[:, None] * d_fit + (1.0 - a)[:, None] * d_last, np.nan)


def row_quantiles(x: np.ndarray, qs: tuple[float, ...]) -> tuple[np.ndarray, ...]:
    """Linear-interpolated quantiles of each row of ``x`` (S, n) ignoring NaN (0 for an all-NaN row)."""
    xs = np.sort(x, axis=1)  # NaN last
    n = (~np.isnan(x)).sum(axis=1)
    out = []
    for q in qs:
        pos = q * np.maximum(n - 1, 0)
        lo = np.floor(pos).astype(np.int64)
        hi = np.minimum(lo + 1, np.maximum(n - 1, 0))
        f = pos - lo
        r = np.arange(x.shape[0])
        v = xs[r, lo] * (1 - f) + xs[r, hi] * f
        out.append(np.where(n > 0, v, 0.0))
    return tuple(out)


def forecast(y: np.ndarray, end_hour: int, horizon: int = 48, params: ForecastParams | None = None) -> Forecast:
    """Forecast every row of ``y`` (S, T hourly, NaN = missing) ``horizon`` hours ahead (mean and 80 % band).

    Rows without any data forecast 0 with a zero-width band; with under two days of history the weights are
    the persistence (last value) and the band the spread of the history's hour-to-hour changes.
    """
    p = params or ForecastParams()
    y = np.asarray(y, dtype=float)
    if y.ndim != 2:
        raise ValueError("y must be (S, T)")
    S, T = y.shape
    H = int(horizon)
    if H < 1:
        raise ValueError("horizon must be >= 1")
    z = np.zeros(S)
    if T == 0 or S == 0:
        zz = np.zeros((S, H))
        return Forecast(zz, zz.copy(), zz.copy(), end_hour, z, z.copy(), z.copy(), z.copy(), None, p)
    hist = _Hist(y, p)
    fit_h = [h for h in FIT_HORIZONS if h < H] + [H] if H not in FIT_HORIZONS else \
        [h for h in FIT_HORIZONS if h <= H]
    k = len(PREDICTORS)
    W = np.zeros((S, len(fit_h), k))
    Qlo = np.zeros((S, len(fit_h)))
    Qhi = np.zeros((S, len(fit_h)))
    for i, h in enumerate(fit_h):
        o_hi = T - h + 1  # origins whose target hour is in the history
        o_lo = max(DAY_H, o_hi - p.train_days * DAY_H)
        if o_hi - o_lo < 24:
            W[:, i, 0] = 1.0  # persistence
            d = hist.yf[:, min(h, T - 1):] - hist.yf[:, : T - min(h, T - 1)] if T > 1 else np.zeros((S, 1))
            Qlo[:, i], Qhi[:, i] = np.quantile(d, [p.band_lo, p.band_hi], axis=1) if d.size else (0.0, 0.0)
            continue
        o = np.arange(o_lo, o_hi)
        X = hist.features(o, h)
        tgt = hist.yf[:, o + h - 1]
        rw = hist.ok[:, o + h - 1].astype(float)
        W[:, i], err = _fit(X, tgt, rw, p, p.l1_iters)
        held = None  # (S, nh) held-out errors the band is made of, if any
        if p.shrink_days > 0 and h <= p.shrink_max_h:
            a, held = _shrink(X, tgt, rw, p)  # (S,), (S, nh) or None
            W[:, i] *= a[:, None]
            W[:, i, 0] += 1.0 - a
            err = a[:, None] * err + (1.0 - a)[:, None] * (tgt - X[:, :, 0])
            held = held if p.band_holdout else None
        err = np.where(rw > 0, err, np.nan)
        Qlo[:, i], Qhi[:, i] = row_quantiles(err if held is None else held, (p.band_lo, p.band_hi))
        if held is not None:  # too few held-out errors for the 10 / 90 % tails: the in-sample band
            few = (~np.isnan(held)).sum(axis=1) < DAY_H
            if few.any():
                Qlo[few, i], Qhi[few, i] = row_quantiles(err[few], (p.band_lo, p.band_hi))
    # interpolate weights and band offsets to every horizon, in h
    hs = np.arange(1, H + 1)
    fh = np.asarray(fit_h, dtype=float)
    j = np.clip(np.searchsorted(fh, hs, side="right") - 1, 0, max(len(fh) - 2, 0))
    if len(fh) == 1:
        f, j1 = np.zeros(H), j
    else:
        f, j1 = np.clip((hs - fh[j]) / (fh[j + 1] - fh[j]), 0.0, 1.0), j + 1
    mean = np.empty((S, H))
    for hi_, h in enumerate(hs):
        Xf = hist.features(np.array([T]), int(h))[:, 0, :]  # (S, k)
        wv = W[:, j[hi_]] * (1 - f[hi_]) + W[:, j1[hi_]] * f[hi_]
        mean[:, hi_] = (Xf * wv).sum(axis=1)
    qlo = Qlo[:, j] * (1 - f) + Qlo[:, j1] * f
    qhi = Qhi[:, j] * (1 - f) + Qhi[:, j1] * f
    kh, kf = zip(*p.band_scales, strict=True)
    bs = np.interp(hs, kh, kf)  # (H,)
    lo = mean + bs * np.minimum(qlo, 0.0)
    hi = mean + bs * np.maximum(qhi, 0.0)
    if p.clip_min is not None:
        mean, lo, hi = (np.maximum(x, p.clip_min) for x in (mean, lo, hi))
    if p.clip_max is not None:
        mean, lo, hi = (np.minimum(x, p.clip_max) for x in (mean, lo, hi))
    empty = ~hist.ok.any(axis=1)
    for x in (mean, lo, hi):
        x[empty] = 0.0
    return Forecast(mean, lo, hi, end_hour, hist.ew[:, -1], *_components(hist, end_hour), W, p)


def _components(hist: _Hist, end_hour: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(trend per day, daily amplitude, weekly amplitude), each ``(S,)``."""
    yf, T = hist.yf, hist.T
    o = np.array([T])
    m24, m168 = hist._mean(o, DAY_H)[:, 0], hist._mean(o, WEEK_H)[:, 0]
    span = min(T, WEEK_H) / DAY_H
    trend = (m24 - m168) / max((span - 1.0) / 2.0, 0.5) if T > DAY_H else np.zeros(yf.shape[0])
    n = min(T, 7 * DAY_H) // DAY_H * DAY_H
    if n >= DAY_H:
        hours = np.arange(end_hour - n, end_hour) % DAY_H
        prof = np.stack([yf[:, T - n:][:, hours == hh].mean(axis=1) for hh in range(DAY_H)], axis=1)
        damp = prof.max(axis=1) - prof.min(axis=1)
    else:
        damp = np.zeros(yf.shape[0])
    nw = min(T, 4 * WEEK_H) // DAY_H * DAY_H
    if nw >= 2 * WEEK_H:
        days = (np.arange(end_hour - nw, end_hour) // DAY_H + 3) % 7
        dm = np.stack([yf[:, T - nw:][:, days == d].mean(axis=1) for d in range(7)], axis=1)
        wamp = dm.max(axis=1) - dm.min(axis=1)
    else:
        wamp = np.zeros(yf.shape[0])
    return trend, damp, wamp
