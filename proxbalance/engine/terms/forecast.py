"""Predicted-load penalty: do not fill a node that its forecast says is about to peak.

``arrays.forecast`` (set by :func:`proxbalance.forecasts.attach`; None = no forecast, the term costs nothing):

* ``excess``: node name -> ``(cpu cores, memory bytes)`` by which the node's predicted peak over the forecast
  horizon (with the guests it has now) exceeds its blended load now (``forecast.penalty_band`` chooses the
  mean forecast or the upper 80 % band); never negative.

A node's predicted peak in any planning state is its blended load in that state plus its excess: guests moved
in add their blended demand to the coming peak, guests moved out take theirs away. Keyed by node name, so
the planner's virtual step clusters (steps.py) read the right node.
With ``h`` the tiers of ``predicted_cpu`` / ``predicted_mem`` (same thresholds and penalties) plus the
proportional part per % above the threshold, the node-state curve is the *extra* cost of the coming peak over
what ``predicted_*`` already charge on the blended load: ``H(B) = h(B + excess) - h(B)`` (>= 0, 0 without an
excess), charged marginally like every load term (``H(with the guest) - H(without it)``), so the gain of a
move is the drop of the cluster total.
"""

from __future__ import annotations

import numpy as np

from ..arrays import CPU, MEM
from ..registry import increasing, register, zero

_KEYS = ("cpu_threshold", "cpu_threshold_offset_1", "cpu_threshold_offset_2", "predicted_cpu_over_penalty",
         "predicted_cpu_high_penalty", "predicted_cpu_extreme_penalty", "cpu_overload_penalty_per_pct",
         "mem_threshold", "mem_threshold_offset_1", "mem_threshold_offset_2", "predicted_mem_over_penalty",
         "predicted_mem_high_penalty", "predicted_mem_extreme_penalty", "mem_overload_penalty_per_pct")


def _curve(a: dict, prefix: str):
    t = a[f"{prefix}_threshold"]
    thr = np.array([t, t + a[f"{prefix}_threshold_offset_1"], t + a[f"{prefix}_threshold_offset_2"]]) / 100.0
    pen = np.array([0.0, a[f"predicted_{prefix}_over_penalty"], a[f"predicted_{prefix}_high_penalty"],
                    a[f"predicted_{prefix}_extreme_penalty"]])
    prop = a[f"{prefix}_overload_penalty_per_pct"]

    def h(u: np.ndarray) -> np.ndarray:
        return pen[np.searchsorted(thr, u, side="left")] + prop * np.maximum(u * 100.0 - t, 0.0)

    return h, thr[0]


def _excess(fc: dict, names: list[str]) -> np.ndarray:
    cache = fc.setdefault("_by_names", {})
    key = tuple(names)
    hit = cache.get(key)
    if hit is None:
        ex = fc["excess"]
        hit = cache[key] = np.array([ex.get(n, (0.0, 0.0)) for n in names], dtype=float).reshape(len(names), 2)
        hit = np.maximum(hit, 0.0)
        cache[key] = hit
    return hit


def _check(a: dict) -> None:
    increasing("cpu_threshold_offset_1", "cpu_threshold_offset_2")(a)
    increasing("mem_threshold_offset_1", "mem_threshold_offset_2")(a)


@register("forecast_peak", "penalty", "forecast", _KEYS, check=_check,
          help="Predicted peak (forecast over the horizon) of the node with the guest above the predicted "
               "tiers, plus the proportional part; 0 without a forecast.")
def forecast_peak(v, a):
    fc = v.a.forecast
    if not fc or not fc.get("excess"):
        return zero(v.shape)
    excess = _excess(fc, v.a.node_names)  # (N, 2) cores, bytes
    out = None
    for i, (r, prefix) in enumerate(((CPU, "cpu"), (MEM, "mem"))):
        h, lo = _curve(a, prefix)
        ex = excess[v.cols, i]  # (c,)
        if not ex.any():
            continue
        B = v.load("blend", r)  # (c,) blended load of each column's node in this state
        C = v.cap(r)
        d = v.demand("blend", r)  # (m,)
        if not len(d) or float(((B + ex + np.abs(d).max()) / C).max()) <= lo:
            continue

        def H(x, ex=ex, C=C, h=h, cols=slice(None)):  # node-state curve: extra cost of the coming peak
            return h((x + ex[cols]) / C[cols]) - h(x / C[cols])

        HB = H(B)
        m = H(B[None, :] + d[:, None]) - HB[None, :]
        if len(v.on_i):
            i_, j_ = v.on_i, v.on_j
            m[i_, j_] = HB[j_] - H(B[j_] - d[i_], cols=j_)
        out = m if out is None else out + m
    return out if out is not None else zero(v.shape)
