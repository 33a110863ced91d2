"""PenaltyConfig: every knob of the scoring engine, validated.

Each key is declared once in :data:`KEYS` (name, type, default, bounds, unit, help); docs/engine.md
documents every key and a test checks that it does. Names are compatible with the original ProxBalance
penalty config (``cpu_high_penalty``, ``min_score_improvement``, ``weight_current`` ...).

Scores are in *points*: a penalty of 20 points is what a node just over its CPU threshold costs. The
planner's ``score_improvement`` of a move is the drop in the cluster's total points.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

from ..errors import ValidationError
from .registry import REGISTRY, default_term_weights


@dataclass(frozen=True, slots=True)
class Key:
    name: str
    type: type
    default: Any
    lo: float | None = None
    hi: float | None = None
    unit: str = "points"
    help: str = ""


def _k(name, typ, default, lo=None, hi=None, unit="points", help=""):
    return Key(name, typ, default, lo, hi, unit, help)


_P = "points"
KEYS: tuple[Key, ...] = (
    # thresholds (percent of node capacity, blended load)
    _k("cpu_threshold", float, 60.0, 1, 100, "%", "CPU utilisation above which a node counts as loaded"),
    _k("mem_threshold", float, 70.0, 1, 100, "%", "memory utilisation above which a node counts as loaded"),
    _k("iowait_threshold", float, 10.0, 0, 100, "%", "node iowait above which the iowait penalties start"),
    _k("cpu_threshold_offset_1", float, 10.0, 0, 100, "% points", "second CPU tier = threshold + this"),
    _k("cpu_threshold_offset_2", float, 20.0, 0, 100, "% points", "third CPU tier = threshold + this"),
    _k("mem_threshold_offset_1", float, 10.0, 0, 100, "% points", "second memory tier = threshold + this"),
    _k("mem_threshold_offset_2", float, 20.0, 0, 100, "% points", "third memory tier = threshold + this"),
    _k("iowait_threshold_offset_1", float, 10.0, 0, 100, "% points", "second iowait tier"),
    _k("iowait_threshold_offset_2", float, 20.0, 0, 100, "% points", "third iowait tier"),
    # current (instant) load tiers
    _k("cpu_high_penalty", float, 20.0, 0, 1e4, _P, "node CPU (current) above cpu_threshold"),
    _k("cpu_very_high_penalty", float, 50.0, 0, 1e4, _P, "node CPU above threshold + offset_1"),
    _k("cpu_extreme_penalty", float, 100.0, 0, 1e4, _P, "node CPU above threshold + offset_2"),
    _k("mem_high_penalty", float, 20.0, 0, 1e4, _P, "node memory (current) above mem_threshold"),
    _k("mem_very_high_penalty", float, 50.0, 0, 1e4, _P, "node memory above threshold + offset_1"),
    _k("mem_extreme_penalty", float, 100.0, 0, 1e4, _P, "node memory above threshold + offset_2"),
    _k("cpu_overload_penalty_per_pct", float, 2.0, 0, 1e3, "points per %", "proportional: per % of CPU above threshold"),
    _k("mem_overload_penalty_per_pct", float, 2.0, 0, 1e3, "points per %", "proportional: per % of memory above threshold"),
    # predicted (blended) load after the move
    _k("predicted_cpu_over_penalty", float, 25.0, 0, 1e4, _P, "predicted (blended) CPU above threshold"),
    _k("predicted_cpu_high_penalty", float, 50.0, 0, 1e4, _P, "predicted CPU above threshold + offset_1"),
    _k("predicted_cpu_extreme_penalty", float, 100.0, 0, 1e4, _P, "predicted CPU above threshold + offset_2"),
    _k("predicted_mem_over_penalty", float, 25.0, 0, 1e4, _P, "predicted memory above threshold"),
    _k("predicted_mem_high_penalty", float, 50.0, 0, 1e4, _P, "predicted memory above threshold + offset_1"),
    _k("predicted_mem_extreme_penalty", float, 100.0, 0, 1e4, _P, "predicted memory above threshold + offset_2"),
    # sustained (7-day average) load
    _k("sustained_high_pct", float, 70.0, 0, 100, "%", "7-day average utilisation of the first sustained tier"),
    _k("sustained_very_high_pct", float, 80.0, 0, 100, "%", "second sustained tier"),
    _k("sustained_critical_pct", float, 90.0, 0, 100, "%", "third sustained tier"),
    _k("cpu_sustained_high", float, 40.0, 0, 1e4, _P, "7-day avg CPU above sustained_high_pct"),
    _k("cpu_sustained_very_high", float, 80.0, 0, 1e4, _P, "7-day avg CPU above sustained_very_high_pct"),
    _k("cpu_sustained_critical", float, 150.0, 0, 1e4, _P, "7-day avg CPU above sustained_critical_pct"),
    _k("mem_sustained_high", float, 40.0, 0, 1e4, _P, "7-day avg memory above sustained_high_pct"),
    _k("mem_sustained_very_high", float, 80.0, 0, 1e4, _P, "7-day avg memory above sustained_very_high_pct"),
    _k("mem_sustained_critical", float, 150.0, 0, 1e4, _P, "7-day avg memory above sustained_critical_pct"),
    # iowait
    _k("iowait_high_penalty", float, 20.0, 0, 1e4, _P, "predicted node iowait above iowait_threshold"),
    _k("iowait_very_high_penalty", float, 40.0, 0, 1e4, _P, "iowait above threshold + offset_1"),
    _k("iowait_extreme_penalty", float, 80.0, 0, 1e4, _P, "iowait above threshold + offset_2"),
    _k("iowait_pct_per_100mbs", float, 5.0, 0, 100, "% per 100 MiB/s", "iowait a guest's disk traffic adds to a node"),
    _k("iowait_guest_cap_pct", float, 20.0, 0, 100, "%", "cap on the iowait one guest is assumed to add"),
    # spikes (7-day maxima)
    _k("cpu_spike_moderate", float, 5.0, 0, 1e4, _P, "7-day max CPU above 70 %"),
    _k("cpu_spike_high", float, 10.0, 0, 1e4, _P, "7-day max CPU above 80 %"),
    _k("cpu_spike_very_high", float, 20.0, 0, 1e4, _P, "7-day max CPU above 90 %"),
    _k("cpu_spike_extreme", float, 30.0, 0, 1e4, _P, "7-day max CPU above 95 %"),
    _k("mem_spike_moderate", float, 5.0, 0, 1e4, _P, "7-day max memory above 75 %"),
    _k("mem_spike_high", float, 10.0, 0, 1e4, _P, "7-day max memory above 85 %"),
    _k("mem_spike_very_high", float, 20.0, 0, 1e4, _P, "7-day max memory above 90 %"),
    _k("mem_spike_extreme", float, 30.0, 0, 1e4, _P, "7-day max memory above 95 %"),
    # trends
    _k("cpu_trend_rising_penalty", float, 15.0, 0, 1e4, _P, "projected CPU rise over the horizon above trend_rising_pct"),
    _k("mem_trend_rising_penalty", float, 15.0, 0, 1e4, _P, "projected memory rise over the horizon above trend_rising_pct"),
    _k("trend_horizon_days", float, 7.0, 0, 365, "days", "how far trends are projected"),
    _k("trend_rising_pct", float, 5.0, 0, 100, "% points", "projected rise that counts as 'rising'"),
    # evenness (the planner's main objective)
    _k("balance_weight", float, 16000.0, 0, 1e7, _P, "scale of the balance curve: a mean-sized node at 100 % costs weight * 2/p points"),
    _k("balance_power", float, 8.0, 1, 16, "", "exponent p of the balance curve (2/p)*u^p; higher = focus on the peak"),
    _k("cpu_balance_weight", float, 1.0, 0, 100, "", "share of CPU in the balance term"),
    _k("mem_balance_weight", float, 1.0, 0, 100, "", "share of memory in the balance term"),
    _k("net_balance_weight", float, 0.0, 0, 100, "", "share of network in the balance term"),
    _k("node_net_capacity", float, 1.25e9, 1, 1e13, "bytes/s", "network capacity assumed per node"),
    # guest count, overcommit, pressure
    _k("guest_count_penalty", float, 1.0, 0, 1e4, "points per guest", "per guest above max_guests_per_node"),
    _k("max_guests_per_node", int, 0, 0, 1e6, "guests", "0 = 1.25 x the cluster mean"),
    _k("mem_overcommit_ratio", float, 1.0, 0.1, 100, "ratio", "configured memory / node memory allowed before the penalty"),
    _k("mem_overcommit_penalty_per_pct", float, 0.5, 0, 1e3, "points per %", "per % of configured memory above the ratio"),
    _k("pressure_cpu_penalty", float, 1.0, 0, 1e3, "points per PSI% x share", "CPU PSI (some) of the node x guest's share"),
    _k("pressure_mem_penalty", float, 1.0, 0, 1e3, "points per PSI% x share", "memory PSI (some)"),
    _k("pressure_io_penalty", float, 1.0, 0, 1e3, "points per PSI% x share", "IO PSI (some)"),
    # placement
    _k("maintenance_score_boost", float, 100.0, 0, 1e6, _P, "cost of a guest staying on a maintenance node"),
    _k("storage_incompatible_penalty", float, 500.0, 0, 1e6, _P, "target lacks a storage of the guest's local disks"),
    _k("anti_affinity_penalty", float, 200.0, 0, 1e6, "points per pair", "guests of one exclude_* tag / negative HA rule on one node"),
    _k("affinity_penalty", float, 50.0, 0, 1e6, "points per pair", "affinity_* / positive HA rule members on different nodes"),
    _k("ha_node_preference_penalty", float, 30.0, 0, 1e6, _P, "non-strict HA node rule: target not among its nodes"),
    _k("ha_priority_penalty", float, 5.0, 0, 1e6, "points per step", "per priority step below the rule's best node"),
    # migration cost
    _k("migration_cost_per_gib", float, 1.0, 0, 1e4, "points per GiB", "bytes a migration copies (memory + local disks)"),
    _k("migration_cost_per_minute", float, 2.0, 0, 1e4, "points per minute", "predicted migration duration"),
    _k("migration_bandwidth", float, 1.25e8, 1, 1e12, "bytes/s", "assumed migration throughput"),
    _k("ct_restart_penalty", float, 10.0, 0, 1e4, _P, "running container: migration restarts it"),
    # hard limits (filters)
    _k("mem_limit_pct", float, 90.0, 10, 100, "%", "no move may bring a node's memory above this"),
    _k("mem_safety_margin", float, 0.1, 0, 1, "fraction", "share of a guest's unused configured memory counted by the limit"),
    _k("cpu_limit_pct", float, 0.0, 0, 1000, "%", "0 = off; else no move may bring blended CPU above this"),
    # time blend
    _k("weight_current", float, 0.2, 0, 1, "fraction", "weight of the current sample in the blend"),
    _k("weight_24h", float, 0.3, 0, 1, "fraction", "weight of the 24 h average"),
    _k("weight_7d", float, 0.5, 0, 1, "fraction", "weight of the 7-day average"),
    # planner policy
    _k("min_score_improvement", float, 10.0, 0, 1e6, _P, "a move must gain at least this"),
    _k("max_moves", int, 50, 0, 1e6, "moves", "move budget of one plan (0 = unlimited)"),
    _k("local_search", bool, True, unit="", help="improve the greedy plan by swapping planned moves"),
    _k("local_search_rounds", int, 2, 0, 100, "rounds", "passes of the swap search"),
    _k("peak_search", bool, True, unit="", help="after the greedy, lower the hottest node by relocations, swaps and "
       "exchanges within the budget; later moves may not exceed the peak reached"),
    _k("peak_min_step_pct", float, 0.5, 0, 100, "% points", "a peak step must lower the hottest node by at least this"),
    _k("peak_weight", float, 10.0, 0, 1e4, "points per % point",
       "value of lowering the hotter node of a move (above min(cpu_threshold, mem_threshold)) by one % point; a "
       "peak step is taken only when this plus its score gain (migration cost included) reaches min_score_improvement"),
    _k("include_stopped", bool, False, unit="", help="also move stopped guests"),
    _k("exclude_ha_managed", bool, False, unit="", help="never move HA-managed guests"),
    # hard limits and stability (engine v2)
    _k("exclude_tags_soft", bool, False, unit="", help="exclude_* tags are a preference (anti_affinity_penalty) "
       "instead of a hard filter; negative HA resource-affinity rules are always strict"),
    _k("storage_mapping", bool, True, unit="", help="a move may map a local disk's storage that the target lacks to "
       "a local storage of the same type there (carried as target_storage, passed to PVE as targetstorage)"),
    _k("stability_margin", float, 50.0, 0, 1e6, _P, "hysteresis: a guest's choice in the previous plan (its target, "
       "or staying) is kept unless another choice is better by this"),
)
KEY_BY_NAME = {k.name: k for k in KEYS}


@dataclass(frozen=True)
class PenaltyConfig:
    """Validated, immutable penalty configuration. ``values`` maps key -> value; ``terms`` term -> weight."""

    values: dict
    terms: dict

    def __getattr__(self, name: str) -> Any:
        try:
            return object.__getattribute__(self, "values")[name]
        except KeyError:
            raise AttributeError(name) from None

    def __getitem__(self, name: str) -> Any:
        return self.values[name]

    @classmethod
    def defaults(cls) -> PenaltyConfig:
        return cls({k.name: k.default for k in KEYS}, default_term_weights())

    @classmethod
    def from_dict(cls, data: dict | None, base: PenaltyConfig | None = None) -> PenaltyConfig:
        """Validate ``data`` (partial: missing keys keep ``base``'s, default the defaults).

        Raises :class:`ValidationError` naming the offending key.
        """
        base = base or cls.defaults()
        if data is None:
            return base
        if not isinstance(data, dict):
            raise ValidationError("penalty config must be an object", details={"key": None})
        values, terms = dict(base.values), dict(base.terms)
        for name, raw in data.items():
            if name == "terms":
                if not isinstance(raw, dict):
                    raise ValidationError("terms must map term name to weight", details={"key": "terms"})
                for t, w in raw.items():
                    if t not in REGISTRY:
                        raise ValidationError(f"unknown term {t!r}", details={"key": f"terms.{t}"})
                    terms[t] = _number(f"terms.{t}", w, 0.0, 1e6)
                continue
            key = KEY_BY_NAME.get(name)
            if key is None:
                raise ValidationError(f"unknown penalty config key {name!r}", details={"key": name})
            values[name] = _coerce(key, raw)
        s = values["weight_current"] + values["weight_24h"] + values["weight_7d"]
        if abs(s - 1.0) > 1e-6:
            raise ValidationError(
                f"weight_current + weight_24h + weight_7d must sum to 1 (got {s:.4f})",
                details={"key": "weight_current"},
            )
        return cls(values, terms)

    def replace(self, **changes: Any) -> PenaltyConfig:
        return PenaltyConfig.from_dict(changes, base=self)

    def to_dict(self) -> dict:
        out = dict(self.values)
        out["terms"] = dict(self.terms)
        return out


def _number(name: str, raw: Any, lo: float | None, hi: float | None) -> float:
    if isinstance(raw, bool) or not isinstance(raw, int | float):
        raise ValidationError(f"{name} must be a number", details={"key": name})
    v = float(raw)
    if not math.isfinite(v):
        raise ValidationError(f"{name} must be finite", details={"key": name})
    if (lo is not None and v < lo) or (hi is not None and v > hi):
        raise ValidationError(f"{name} must be between {lo:g} and {hi:g}", details={"key": name})
    return v


def _coerce(key: Key, raw: Any) -> Any:
    if key.type is bool:
        if not isinstance(raw, bool):
            raise ValidationError(f"{key.name} must be true or false", details={"key": key.name})
        return raw
    v = _number(key.name, raw, key.lo, key.hi)
    if key.type is int:
        if v != int(v):
            raise ValidationError(f"{key.name} must be an integer", details={"key": key.name})
        return int(v)
    return v
