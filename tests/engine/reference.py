"""Plain-Python reference of the engine's formulas: loops over guests and nodes, scalars only.

Deliberately written from docs/engine.md, not from the vectorised code, so that the two can disagree.
"""

from __future__ import annotations

import math

from proxbalance.engine.terms.load import SPIKE_PCTS

GIB = 1024.0**3
CPU, MEM, IOW, NET, CFG, CNT = range(6)


def tier(x, levels):
    out = 0.0
    for th, p in sorted(levels):
        if x > th:
            out = p
    return out


def ref_scores(a, cfg):
    """(total, allowed, per-term) as nested lists [g][n]."""
    c = cfg.values
    G, N = len(a.vmids), len(a.node_names)
    live = [j for j in range(N) if a.online[j]] or list(range(N))
    cap_mean = [sum(a.cap[j][r] for j in live) / len(live) for r in range(6)]
    count_mean = sum(a.n["now"][j][CNT] for j in live) / len(live)
    anti_k, aff_k = a.anti.shape[1], a.aff.shape[1]
    totals, allowed, parts = [], [], []
    for g in range(G):
        trow, arow, prow = [], [], []
        for n in range(N):
            own = a.placement[g] == n

            def ww(kind, r, g=g, n=n, own=own):
                L, d = a.n[kind][n][r], a.g[kind][g][r]
                return (L, L - d) if own else (L + d, L)

            def step(kind, r, levels, prop=0.0, pf=0.0, n=n):
                cp = a.cap[n][r]

                def h(x):
                    pct = x / cp * 100
                    return tier(pct, levels) + prop * max(pct - pf, 0.0)
                w, wo = ww(kind, r)
                return h(w) - h(wo)

            p = {}
            for name, pre, kind, res, keys, prop in (
                ("cpu_load", "cpu", "now", CPU, ("cpu_high_penalty", "cpu_very_high_penalty", "cpu_extreme_penalty"), None),
                ("mem_load", "mem", "now", MEM, ("mem_high_penalty", "mem_very_high_penalty", "mem_extreme_penalty"), None),
                ("predicted_cpu", "cpu", "blend", CPU, ("predicted_cpu_over_penalty", "predicted_cpu_high_penalty",
                                                        "predicted_cpu_extreme_penalty"), "cpu_overload_penalty_per_pct"),
                ("predicted_mem", "mem", "blend", MEM, ("predicted_mem_over_penalty", "predicted_mem_high_penalty",
                                                        "predicted_mem_extreme_penalty"), "mem_overload_penalty_per_pct"),
                ("iowait", "iowait", "blend", IOW, ("iowait_high_penalty", "iowait_very_high_penalty",
                                                    "iowait_extreme_penalty"), None),
            ):
                t = c[f"{pre}_threshold"]
                lv = [(t, c[keys[0]]), (t + c[f"{pre}_threshold_offset_1"], c[keys[1]]),
                      (t + c[f"{pre}_threshold_offset_2"], c[keys[2]])]
                p[name] = step(kind, res, lv, c[prop] if prop else 0.0, t)
            for pre, res in (("cpu", CPU), ("mem", MEM)):
                lv = [(c["sustained_high_pct"], c[f"{pre}_sustained_high"]),
                      (c["sustained_very_high_pct"], c[f"{pre}_sustained_very_high"]),
                      (c["sustained_critical_pct"], c[f"{pre}_sustained_critical"])]
                p[f"sustained_{pre}"] = step("avg7", res, lv)
                lv = list(zip(SPIKE_PCTS[pre], [c[f"{pre}_spike_{s}"] for s in
                                                  ("moderate", "high", "very_high", "extreme")], strict=True))
                p[f"spikes_{pre}"] = step("max7", res, lv)
                w, wo = ww("slope", res)
                cp = a.cap[n][res]

                def rising(x, cp=cp):
                    return x / cp * c["trend_horizon_days"] * 100 > c["trend_rising_pct"]
                p[f"trend_{pre}"] = c[f"{pre}_trend_rising_penalty"] * (float(rising(w)) - float(rising(wo)))
            bal = 0.0
            pw = c["balance_power"]
            for res, key in ((CPU, "cpu_balance_weight"), (MEM, "mem_balance_weight"), (NET, "net_balance_weight")):
                w, wo = ww("blend", res)
                cp = a.cap[n][res]
                size = cp / cap_mean[res]
                bal += c[key] * size * 2 / pw * (max(w / cp, 0) ** pw - max(wo / cp, 0) ** pw)
            p["balance"] = c["balance_weight"] * bal
            limit = c["max_guests_per_node"] or math.ceil(1.25 * count_mean)
            w, wo = ww("now", CNT)
            p["guest_count"] = c["guest_count_penalty"] * (max(w - limit, 0) - max(wo - limit, 0))
            w, wo = ww("now", CFG)
            cp, lim = a.cap[n][CFG], c["mem_overcommit_ratio"] * 100
            p["mem_overcommit"] = c["mem_overcommit_penalty_per_pct"] * (max(w / cp * 100 - lim, 0) - max(wo / cp * 100 - lim, 0))
            p["maintenance"] = c["maintenance_score_boost"] * bool(a.maintenance[n])
            p["storage"] = 0.0 if a.storage_ok[g][n] else c["storage_incompatible_penalty"]
            anti = 0.0
            aff = 0.0
            for o in range(G):
                if o == g:
                    continue
                shared_anti = sum(a.anti[g][k] * a.anti[o][k] for k in range(anti_k))
                shared_aff = sum(a.aff[g][k] * a.aff[o][k] for k in range(aff_k))
                if a.placement[o] == n:
                    anti += shared_anti
                else:
                    aff += shared_aff
            p["anti_affinity"] = c["anti_affinity_penalty"] * anti
            p["affinity"] = c["affinity_penalty"] * aff
            p["ha_node_preference"] = (c["ha_node_preference_penalty"] * bool(a.ha_outside[g][n])
                                       + c["ha_priority_penalty"] * a.ha_steps[g][n])
            b = a.copy_bytes[g]
            p["migration_cost"] = 0.0 if own else (
                c["migration_cost_per_gib"] * b / GIB + c["migration_cost_per_minute"] * b / c["migration_bandwidth"] / 60
                + c["ct_restart_penalty"] * a.ct_running[g])
            pr = 0.0
            for i, (res, key) in enumerate(((CPU, "pressure_cpu_penalty"), (MEM, "pressure_mem_penalty"),
                                            (IOW, "pressure_io_penalty"))):
                pr += c[key] * a.psi[n][i] * a.g["blend"][g][res] / a.cap[n][res]
            p["pressure"] = pr
            prev = -1 if a.prev_choice is None else int(a.prev_choice[g])
            p["stability"] = 0.0 if prev == -1 or prev == n else c["stability_margin"]
            p["forecast_peak"] = _ref_forecast_peak(a, c, n, ww)
            p = {k: v * cfg.terms.get(k, 1.0) for k, v in p.items() if cfg.terms.get(k, 1.0) > 0}
            live = a.online[n] and not a.maintenance[n]
            strict = list(a.anti_strict) if a.anti_strict is not None else [True] * anti_k
            strict_mate = any(a.placement[o] == n and any(a.anti[g][k] * a.anti[o][k] > 0 and strict[k]
                                                           for k in range(anti_k))
                              for o in range(G) if o != g)
            ok = (own and live) or (not own and
                a.skip[g] == "" and live and a.ha_allowed[g][n] and a.storage_ok[g][n] and not strict_mate
                and a.n["now"][n][MEM] + a.mem_hard[g] <= c["mem_limit_pct"] / 100 * a.cap[n][MEM]
                and (c["cpu_limit_pct"] <= 0 or (a.n["blend"][n][CPU] + a.g["blend"][g][CPU]) / a.cap[n][CPU] * 100
                     <= c["cpu_limit_pct"]))
            trow.append(sum(p.values()))
            arow.append(bool(ok))
            prow.append(p)
        totals.append(trow)
        allowed.append(arow)
        parts.append(prow)
    return totals, allowed, parts


def _ref_forecast_peak(a, c, n, ww):
    """docs/forecast.md: H(B) = h(B + excess) - h(B), h = predicted tiers + proportional part (0 without a forecast)."""
    excess = ((getattr(a, "forecast", None) or {}).get("excess") or {}).get(a.node_names[n], (0.0, 0.0))
    out = 0.0
    for i, (pre, res) in enumerate((("cpu", CPU), ("mem", MEM))):
        t = c[f"{pre}_threshold"]
        levels = [(t, c[f"predicted_{pre}_over_penalty"]), (t + c[f"{pre}_threshold_offset_1"], c[f"predicted_{pre}_high_penalty"]),
                  (t + c[f"{pre}_threshold_offset_2"], c[f"predicted_{pre}_extreme_penalty"])]
        ex = max(excess[i], 0.0)

        def h(x, res=res, levels=levels, t=t, pre=pre):
            pct = x / a.cap[n][res] * 100
            return tier(pct, levels) + c[f"{pre}_overload_penalty_per_pct"] * max(pct - t, 0.0)
        w, wo = ww("blend", res)
        out += (h(w + ex) - h(w)) - (h(wo + ex) - h(wo))
    return out
