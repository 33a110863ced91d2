"""Node-load penalties. Each is a node-state curve ``h(utilisation)`` charged as ``h(after) - h(before)``.

All return ``(n_rows, n_cols)`` points. Utilisation is a fraction of node capacity; thresholds in the
config are percent. Each term is given by its curves (:class:`~proxbalance.engine.curves.Curve`, evaluated
by the compiled kernels); ``balance`` with a power that is not a power of two falls back to numpy.
"""

from __future__ import annotations

import numpy as np

from ..arrays import CFG, CNT, CPU, IOW, MEM, NET
from ..curves import Curve, term_fn
from ..registry import increasing, register, zero


def _tier3(prefix: str, over: str, high: str, extreme: str, res: int, kind: str, doc: str, prop: str | None = None):
    thr, o1, o2 = f"{prefix}_threshold", f"{prefix}_threshold_offset_1", f"{prefix}_threshold_offset_2"
    keys = (thr, o1, o2, over, high, extreme) + ((prop,) if prop else ())

    def curves(a, state):
        t = a[thr]
        levels = ((t, a[over]), (t + a[o1], a[high]), (t + a[o2], a[extreme]))
        return [Curve("tier", kind, res, levels, prop=a[prop] if prop else 0.0, prop_from=t)]

    fn = term_fn(curves)
    fn.__doc__ = doc
    return keys, fn, increasing(o1, o2)


for _name, _args in {
    "cpu_load": ("cpu", "cpu_high_penalty", "cpu_very_high_penalty", "cpu_extreme_penalty", CPU, "now",
                 "Current CPU of the node with the guest above the threshold tiers."),
    "mem_load": ("mem", "mem_high_penalty", "mem_very_high_penalty", "mem_extreme_penalty", MEM, "now",
                 "Current memory of the node with the guest above the threshold tiers."),
    "predicted_cpu": ("cpu", "predicted_cpu_over_penalty", "predicted_cpu_high_penalty",
                      "predicted_cpu_extreme_penalty", CPU, "blend",
                      "Predicted (blended) CPU after the move: tiers plus a proportional part.",
                      "cpu_overload_penalty_per_pct"),
    "predicted_mem": ("mem", "predicted_mem_over_penalty", "predicted_mem_high_penalty",
                      "predicted_mem_extreme_penalty", MEM, "blend",
                      "Predicted (blended) memory after the move: tiers plus a proportional part.",
                      "mem_overload_penalty_per_pct"),
    "iowait": ("iowait", "iowait_high_penalty", "iowait_very_high_penalty", "iowait_extreme_penalty", IOW,
               "blend", "Predicted node iowait (node iowait + the guest's disk traffic) above the tiers."),
}.items():
    _keys, _fn, _check = _tier3(*_args)
    register(_name, "penalty", "load", _keys, help=_args[6], check=_check)(_fn)


def _sustained(prefix: str, res: int):
    keys = ("sustained_high_pct", "sustained_very_high_pct", "sustained_critical_pct",
            f"{prefix}_sustained_high", f"{prefix}_sustained_very_high", f"{prefix}_sustained_critical")

    def curves(a, state):
        return [Curve("tier", "avg7", res, tuple((a[keys[i]], a[keys[i + 3]]) for i in range(3)))]

    return keys, term_fn(curves)


for _p, _r in (("cpu", CPU), ("mem", MEM)):
    _keys, _fn = _sustained(_p, _r)
    register(f"sustained_{_p}", "penalty", "load", _keys,
             help=f"7-day average {_p} of the node with the guest above the sustained tiers.",
             check=increasing(*_keys[:3]))(_fn)

SPIKE_PCTS = {"cpu": (70.0, 80.0, 90.0, 95.0), "mem": (75.0, 85.0, 90.0, 95.0)}


def _spikes(prefix: str, res: int):
    keys = tuple(f"{prefix}_spike_{s}" for s in ("moderate", "high", "very_high", "extreme"))

    def curves(a, state):
        return [Curve("tier", "max7", res, tuple(zip(SPIKE_PCTS[prefix], (a[k] for k in keys), strict=True)))]

    return keys, term_fn(curves)


for _p, _r in (("cpu", CPU), ("mem", MEM)):
    _keys, _fn = _spikes(_p, _r)
    register(f"spikes_{_p}", "penalty", "load", _keys,
             help=f"7-day max {_p} (node max + guest max, pessimistic) above {SPIKE_PCTS[_p]} %.")(_fn)


def _trend(prefix: str, res: int):
    keys = (f"{prefix}_trend_rising_penalty", "trend_horizon_days", "trend_rising_pct")

    def curves(a, state):  # slope as a fraction of capacity per day, projected over the horizon, in %
        hz = a["trend_horizon_days"]
        return [Curve("step", "slope", res, coef=a[keys[0]], scale=(hz, 100.0), offset=a["trend_rising_pct"],
                      zero_below=a["trend_rising_pct"] / 100.0 / hz if hz > 0 else None)]

    return keys, term_fn(curves)


for _p, _r in (("cpu", CPU), ("mem", MEM)):
    _keys, _fn = _trend(_p, _r)
    register(f"trend_{_p}", "penalty", "load", _keys,
             help=f"Node {_p} trend (node slope + guest slope) projected over the horizon rises too much.")(_fn)


def _pow(u: np.ndarray, p: float) -> np.ndarray:
    """u ** p with fast paths for small integer powers."""
    if p == int(p) and 1 <= p <= 8:
        out, k = u, int(p)
        if k >= 2:
            sq = u * u
            out = sq
            for _ in range(k // 2 - 1):
                out = out * sq
            if k % 2:
                out = out * u
        return out
    return u**p


def _balance_coef(a: dict, state, r: int, w: float) -> np.ndarray:
    """(N,) weight * share * 2/p * node size relative to the mean."""
    return (a["balance_weight"] * w * 2.0 / a["balance_power"]) * (state.a.cap[:, r] / state.cap_mean[r])


_BALANCE_RES = ((CPU, "cpu_balance_weight"), (MEM, "mem_balance_weight"), (NET, "net_balance_weight"))


_SQUARED_POWERS = (1.0, 2.0, 4.0, 8.0, 16.0)  # powers the compiled curve reaches by repeated squaring


def _balance_curves(a, state):
    """The balance curves, or None when the power is not a power of two (numpy then)."""
    p = a["balance_power"]
    if p not in _SQUARED_POWERS:
        return None
    return [Curve("power", "blend", r, node=_balance_coef(a, state, r, a[wkey]), squarings=int(np.log2(p)))
            for r, wkey in _BALANCE_RES if a[wkey] != 0]


_compiled_balance = term_fn(_balance_curves)


def balance(v, a):
    if a["balance_power"] in _SQUARED_POWERS:
        return _compiled_balance(v, a)
    p, out = a["balance_power"], None
    for r, wkey in _BALANCE_RES:
        if a[wkey] == 0:
            continue
        coef = _balance_coef(a, v.state, r, a[wkey])
        m = v.marginal(lambda u, cols, coef=coef: _pow(np.maximum(u, 0.0), p) * coef[cols], "blend", r)
        out = m if out is None else out + m
    return out if out is not None else zero(v.shape)


balance.curves = _balance_curves
register("balance", "penalty", "balance",
         ("balance_weight", "balance_power", "cpu_balance_weight", "mem_balance_weight", "net_balance_weight"),
         help="Evenness: sum over nodes of weight * (C_n / mean C) * (2/p) * u^p for cpu, memory, network.")(balance)


def _guest_count(a, state):
    limit = float(a["max_guests_per_node"] or np.ceil(1.25 * state.count_mean))
    return [Curve("hinge", "now", CNT, coef=a["guest_count_penalty"], offset=limit, zero_below=limit)]


register("guest_count", "penalty", "load", ("guest_count_penalty", "max_guests_per_node"),
         help="Per guest above max_guests_per_node (0: 1.25 x the cluster mean).")(term_fn(_guest_count))


def _mem_overcommit(a, state):
    lim = a["mem_overcommit_ratio"] * 100.0
    return [Curve("hinge", "now", CFG, coef=a["mem_overcommit_penalty_per_pct"], scale=(100.0, 1.0), offset=lim,
                  zero_below=lim / 100.0)]


register("mem_overcommit", "penalty", "load", ("mem_overcommit_ratio", "mem_overcommit_penalty_per_pct"),
         help="Configured memory of the node's running guests above ratio x node memory, per %.")(
    term_fn(_mem_overcommit))
