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
move is the drop of the cluster total. That marginal is computed as the marginal of ``h`` on the load shifted
by the excess minus the marginal of ``h`` on the load (a ``tier_shifted`` curve, :mod:`..curves`: only cells
crossing a tier).
"""

from __future__ import annotations

import numpy as np

from ..arrays import CPU, MEM
from ..curves import Curve, term_fn
from ..registry import increasing, register

_KEYS = ("cpu_threshold", "cpu_threshold_offset_1", "cpu_threshold_offset_2", "predicted_cpu_over_penalty",
         "predicted_cpu_high_penalty", "predicted_cpu_extreme_penalty", "cpu_overload_penalty_per_pct",
         "mem_threshold", "mem_threshold_offset_1", "mem_threshold_offset_2", "predicted_mem_over_penalty",
         "predicted_mem_high_penalty", "predicted_mem_extreme_penalty", "mem_overload_penalty_per_pct")


def _levels(a: dict, prefix: str) -> tuple[list[tuple[float, float]], float, float]:
    """(tiers ``[(threshold %, points)]``, proportional points per %, threshold %) of ``predicted_<prefix>``."""
    t = a[f"{prefix}_threshold"]
    levels = [(t, a[f"predicted_{prefix}_over_penalty"]),
              (t + a[f"{prefix}_threshold_offset_1"], a[f"predicted_{prefix}_high_penalty"]),
              (t + a[f"{prefix}_threshold_offset_2"], a[f"predicted_{prefix}_extreme_penalty"])]
    return levels, a[f"{prefix}_overload_penalty_per_pct"], t


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


def _curves(a, state):
    fc = state.a.forecast
    if not fc or not fc.get("excess"):
        return []
    excess = _excess(fc, state.a.node_names)  # (N, 2) cores, bytes
    out = []
    for i, (r, prefix) in enumerate(((CPU, "cpu"), (MEM, "mem"))):
        if not excess[:, i].any():
            continue
        levels, prop, t = _levels(a, prefix)
        # marginal of H(B) = h(B + excess) - h(B): the marginal of h on the load shifted by the excess, minus
        # its marginal on the load itself (each evaluated sparsely: only cells that cross a tier)
        out.append(Curve("tier_shifted", "blend", r, tuple(levels), prop=prop, prop_from=t, node=excess[:, i]))
    return out


register("forecast_peak", "penalty", "forecast", _KEYS, check=_check,
         help="Predicted peak (forecast over the horizon) of the node with the guest above the predicted "
              "tiers, plus the proportional part; 0 without a forecast.")(term_fn(_curves))
