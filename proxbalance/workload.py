"""Workload patterns of nodes and load profiles of guests, from the store's hourly history (engine/patterns.py)."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import numpy as np

from proxbalance.engine.patterns import Patterns, analyze
from proxbalance.forecasts import complete_hours_key, load_hourly
from proxbalance.model import ClusterSnapshot
from proxbalance.store import Store

WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")


def _r(x: float, nd: int = 2) -> float | None:
    return None if x is None or not np.isfinite(x) else round(float(x), nd)


def _metric(p: Patterns, i: int) -> dict[str, Any]:
    last = int(p.last_burst_hour[i])
    return {
        "profile": p.profile[i], "mean_pct": _r(p.mean[i]),
        "daily_cycle": {"strength": _r(p.daily_strength[i], 3), "detected": bool(p.daily_strength[i] > 0.3),
                        "peak_hours_utc": [int(h) for h in p.peak_hours[i]],
                        "quiet_hours_utc": [int(h) for h in p.quiet_hours[i]],
                        "hourly_profile_pct": [_r(v) for v in p.daily_profile[i]]},
        "weekly_cycle": {"strength": _r(p.weekly_strength[i], 3),
                         "detected": bool(np.isfinite(p.weekly_strength[i]) and p.weekly_strength[i] > 0.3),
                         "by_weekday_pct": {WEEKDAYS[d]: _r(p.weekly_profile[i, d]) for d in range(7)},
                         "note": None if np.isfinite(p.weekly_strength[i]) else "needs 14 days of history"},
        "bursts": {"count": int(p.burst_count[i]), "hours": int(p.burst_hours[i]),
                   "max_excess_pct": _r(p.burst_max[i]),
                   "last_at": None if last < 0 else
                   datetime.fromtimestamp(last * 3600, UTC).isoformat(timespec="seconds").replace("+00:00", "Z")},
        "trend": {"slope_pct_per_day": _r(p.slope_per_day[i], 3), "growth": _r(p.growth[i], 3)},
    }


def workload_patterns(store: Store, snapshot: ClusterSnapshot, now: float, hours: int,
                      node: str | None = None) -> dict[str, Any]:
    """Contract of GET /api/workload-patterns: per node CPU and memory patterns and migration windows."""
    h = load_hourly(store.engine, snapshot, now, hours / 24.0, "node")
    keys = [k for k in h.keys if node is None or k == node]
    idx = [h.keys.index(k) for k in keys]
    cpu, mem = h.values["cpu"][idx], h.values["memory"][idx]
    both = np.concatenate([cpu, mem, (cpu + mem) / 2.0]) if keys else np.zeros((0, h.values["cpu"].shape[1]))
    p = analyze(both, h.end_hour)
    n = len(keys)
    nodes = []
    for i, k in enumerate(keys):
        seen = int((~np.isnan(cpu[i])).sum())
        windows = [{"start_hour_utc": int(s), "end_hour_utc": int((s + 2) % 24),
                    "window": f"{int(s):02d}:00-{int((s + 2) % 24):02d}:00 UTC",
                    "expected_load_pct": _r(v)} for s, v in zip(p.windows[2 * n + i], p.window_means[2 * n + i],
                                                                strict=True)]
        nodes.append({"node": k, "hours_with_data": seen, "cpu": _metric(p, i), "memory": _metric(p, n + i),
                      "recommended_migration_windows": windows if seen >= 24 else [],
                      "note": None if seen >= 24 else "less than 24 hours of history"})
    return {"hours": hours, "node": node, "nodes": nodes, "count": len(nodes),
            "source": "hourly node history (rollups), hours of day in UTC"}


#: (store, hour, markers, hours) -> vmid -> ((maxcpu, maxmem), profile or None); only the newest key is kept
_PROFILES: dict[tuple, dict[int, tuple]] = {}


def _profiles_key(store: Store, now: float, hours: int) -> tuple:
    """What a guest's profile depends on besides its capacity: the complete hours, as for the node forecasts."""
    return (*complete_hours_key(store, now), hours)


def guest_profiles(store: Store, snapshot: ClusterSnapshot, now: float, hours: int = 168,
                   vmids: list[int] | None = None) -> dict[int, dict]:
    """vmid -> {profile, daily_strength, bursts, growth} from the guest's CPU % history (needs 24 h); only the
    guests ``vmids`` when given (read by key: a plan's few moves at 10,000 guests).

    With ``vmids``, profiles are kept per process for the hour (:func:`_profiles_key`): the next decision in
    the same hour reads only the guests it has not profiled yet (a guest whose capacity changed is read
    again)."""
    if vmids is None:
        return _guest_profiles(store, snapshot, now, hours, None)
    key = _profiles_key(store, now, hours)
    memo = _PROFILES.get(key)
    if memo is None:
        _PROFILES.clear()
        memo = _PROFILES[key] = {}
    caps = {g.vmid: (g.maxcpu, g.maxmem) for g in snapshot.guests if g.status == "running"}
    want = [int(v) for v in vmids]
    missing = [v for v in want if v not in memo or memo[v][0] != caps.get(v)]
    if missing:
        found = _guest_profiles(store, snapshot, now, hours, missing)
        for v in missing:
            memo[v] = (caps.get(v), found.get(v))
    return {v: dict(memo[v][1]) for v in want if memo[v][1] is not None}


def _guest_profiles(store: Store, snapshot: ClusterSnapshot, now: float, hours: int,
                    vmids: list[int] | None) -> dict[int, dict]:
    h = load_hourly(store.engine, snapshot, now, hours / 24.0, "guest", vmids=vmids)
    if not h.keys:
        return {}
    p = analyze(h.values["cpu"], h.end_hour)
    seen = (~np.isnan(h.values["cpu"])).sum(axis=1)
    return {int(k): {"profile": p.profile[i], "daily_strength": _r(p.daily_strength[i], 3),
                     "burst_count": int(p.burst_count[i]), "growth": _r(p.growth[i], 3),
                     "hours_of_history": int(seen[i])}
            for i, k in enumerate(h.keys) if seen[i] >= 24}
