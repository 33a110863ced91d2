"""Plan quality judged on the next day: the trace replayed for 24 h after the plan, against MILP optima.

Usage: .venv/bin/python bench/quality.py [TRACE] [--moves 20] [--seeds 100 101 ...] [--tuning]
       [--blend 0.5,0.3,0.2] [--engine-root /work/main] [--time-limit 60] [--large]

Clusters come from the Bitbrains GWA-T-12 trace (Grid Workloads Archive, TU Delft) via bench/trace_clusters.py:
heterogeneous nodes, skewed start, guests at a slot of the trace with 7 days of history before it. Report seeds
(default 100-109; even seeds in July, odd seeds in August, any hour: ``report_slot``) are never used for tuning;
``--tuning`` runs the tuning seeds 0-4 at the slot the engine was developed on (day 9, 14:00); ``--tuning --seeds
10 ... 19`` runs tuning seeds at other days and hours (``tuning_slot``: days no report seed replays).

Per seed (16 nodes x 500 guests, ``--moves`` moves):
* ``next_day``: the guests' real load over the next 24 h is replayed with the moves applied at ``now``; per hour
  the mean load of every node; reported: the hottest node's max(CPU %, memory %) per hour, mean and p95 over the
  day, and overload node-hours (hours in which a node's hourly mean CPU or memory is above 100 %).
* ``milp_now``: the optimum for the current values (min peak now, budget, memory limit), as the old bench did.
* Both MILPs are solved by HiGHS (highspy) with the engine's plan as the first incumbent, so a time-limited run
  still returns a solution at least as good as ours, with its dual bound and gap (``clairvoyant_mip_gaps``).
* ``milp_clairvoyant``: the optimum that knows the next 24 hourly means: min mean over the hours of the hottest
  node's utilisation, same budget and memory limit (a bound no balancer can beat on this metric).
  Solver status, objective, dual bound and gap are reported for both. ``lp_clairvoyant_bound``: the LP
  relaxation of the clairvoyant problem (always solved; a lower bound, so the share against it is conservative).
* ``milp_yesterday`` / ``milp_week_hour_mean``: the clairvoyant MILP solved against a *causal* prediction of the
  next 24 hourly means (the last 24 h repeated; the mean of the same hour over the last 7 days), then judged on the
  real next day: what an optimal planner that knows only the past could reach with that predictor
  (``share_of_clairvoyant_milp_*``), a reference for how much of the clairvoyant reduction is reachable at all.
* ``share_of_clairvoyant``: (before - ours) / (before - clairvoyant) of the next-day mean peak (target >= 0.90 on
  every report seed); ``share_of_current_optimum``: the old metric (peak now), reported, no target.
* ``nodes_over_mem_limit_any_step``: nodes above mem_limit_pct after any step of the plan, in execution order.
* ``engine``: the engine's stats (iterations, peak-phase runs: the search passes; clusters above
  ``peak.BIG`` units x nodes run one variant, shown as ``peak_runs``).
``--engine-root`` runs another checkout's engine (e.g. ``/work/main``, today's engine) on the same clusters.
Prints JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

ap = argparse.ArgumentParser()
ap.add_argument("trace", nargs="?", default=None)
ap.add_argument("--moves", type=int, default=20)
ap.add_argument("--time-limit", type=float, default=60.0)
ap.add_argument("--seeds", type=int, nargs="+", default=None)
ap.add_argument("--tuning", action="store_true", help="the tuning seeds 0-4 (not for reporting)")
ap.add_argument("--preset", default="balanced")
ap.add_argument("--blend", default=None, help="weight_current,weight_24h,weight_7d (default: the preset's)")
ap.add_argument("--engine-root", default=None, help="import proxbalance from this checkout instead")
ap.add_argument("--size", default="16x500")
ap.add_argument("--no-milp", action="store_true")
args = ap.parse_args()

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
if args.engine_root:
    sys.path.remove(ROOT)
    sys.path.insert(0, os.path.abspath(args.engine_root))

import importlib.util  # noqa: E402

import highspy  # noqa: E402
import numpy as np  # noqa: E402
from scipy.sparse import coo_matrix, vstack  # noqa: E402

# this checkout's trace clusters whatever --engine-root says (the engine under test comes from there)
_spec = importlib.util.spec_from_file_location("pb_trace_clusters", os.path.join(ROOT, "bench", "trace_clusters.py"))
tc = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(tc)
from proxbalance.engine import build_arrays, load_preset, plan  # noqa: E402
from proxbalance.engine.arrays import CPU, MEM  # noqa: E402

GIB = 1024.0**3
HOURS = 24


def hourly(x: np.ndarray) -> np.ndarray:
    """(G, 288) 5-minute series -> (G, 24) hourly means."""
    return x.reshape(x.shape[0], HOURS, -1).mean(axis=2)


def replay(a, place, fut) -> dict:
    """Next-day figures of a placement: per hour the nodes' mean CPU / memory utilisation."""
    N = a.n_nodes
    cap = a.cap[:, [CPU, MEM]]
    out = []
    for r, key in ((0, "cpu"), (1, "mem")):
        load = np.zeros((N, HOURS)) + fut["overhead"][:, r, None]
        np.add.at(load, place, fut[key])
        out.append(load / cap[:, r, None] * 100.0)
    u = np.maximum(out[0], out[1])  # (N, 24)
    peak = u.max(axis=0)
    return {"mean_peak_pct": round(float(peak.mean()), 2), "p95_peak_pct": round(float(np.percentile(peak, 95)), 2),
            "overload_node_hours": int((u > 100.0).sum())}


def base_now(a):
    N = a.n_nodes
    return a.n["now"][:, [CPU, MEM]] - np.stack([np.bincount(a.placement, a.g["now"][:, r], N) for r in (CPU, MEM)], 1)


def now_stats(a, place, mem_limit):
    N = a.n_nodes
    load = base_now(a) + np.stack([np.bincount(place, a.g["now"][:, r], N) for r in (CPU, MEM)], 1)
    u = load / a.cap[:, [CPU, MEM]] * 100
    moved = place != a.placement
    return {"peak_pct": round(float(u.max()), 2), "moves": int(moved.sum()),
            "gib_moved": round(float(a.copy_bytes[moved].sum() / GIB), 2),
            "nodes_over_mem_limit": int((u[:, 1] > mem_limit + 1e-9).sum())}


def milp_model(a, moves, mem_limit, profiles=None):
    """The min-peak MILP as (c, A, row_lower, row_upper, nx, H). ``profiles`` None -> current values (one z);
    else {"cpu","mem": (G, H)} hourly demand and ``overhead`` (N, 2) -> min mean over hours of z_h. Variables:
    x (G*N binaries, guest g on node n at g*N+n), then z (H continuous, % of capacity). Budget and memory limit
    (current values) are constraints; a node above the memory limit now may not get fuller."""
    G, N = a.n_guests, a.n_nodes
    H = 1 if profiles is None else HOURS
    nx = G * N
    nv = nx + H
    c = np.zeros(nv)
    c[nx:] = 1.0 / H
    c[:nx] = np.repeat(a.copy_bytes / GIB * 1e-6, N)
    c[a.placement + np.arange(G) * N] = 0.0
    gi, ni = np.repeat(np.arange(G), N), np.tile(np.arange(N), G)
    blocks = [(coo_matrix((np.ones(nx), (gi, np.arange(nx))), shape=(G, nv)), np.ones(G), np.ones(G))]
    capc = a.cap[:, [CPU, MEM]]
    for r, key in ((0, "cpu"), (1, "mem")):
        for h in range(H):
            if profiles is None:
                d, base = a.g["now"][:, [CPU, MEM][r]], base_now(a)[:, r]
            else:
                d, base = profiles[key][:, h], profiles["overhead"][:, r]
            vals = d[gi] / capc[ni, r] * 100
            A = coo_matrix((np.r_[vals, -np.ones(N)], (np.r_[ni, np.arange(N)], np.r_[np.arange(nx), np.full(N, nx + h)])),
                           shape=(N, nv))
            blocks.append((A, np.full(N, -np.inf), -base / capc[:, r] * 100))
    memv = a.g["now"][gi, MEM] / capc[ni, 1] * 100
    # a node already above the limit may stay there (no worse than now): the engine does the same (it never
    # pushes a node over the limit, and cannot always relieve one inside the budget), so its plan is feasible here
    mem_now = a.n["now"][:, MEM] / capc[:, 1] * 100
    blocks.append((coo_matrix((memv, (ni, np.arange(nx))), shape=(N, nv)), np.full(N, -np.inf),
                   np.maximum(mem_limit, mem_now) - base_now(a)[:, 1] / capc[:, 1] * 100))
    blocks.append((coo_matrix((np.ones(G), (np.zeros(G, dtype=int), a.placement + np.arange(G) * N)), shape=(1, nv)),
                   np.array([G - moves]), np.array([np.inf])))
    A = vstack([b[0] for b in blocks]).tocsc()
    return c, A, np.concatenate([b[1] for b in blocks]), np.concatenate([b[2] for b in blocks]), nx, H


def _highs():
    """A HiGHS instance; its copyright banner (C-level, on fd 1) goes to stderr so stdout stays JSON."""
    sys.stdout.flush()
    saved = os.dup(1)
    os.dup2(2, 1)
    try:
        return highspy.Highs()
    finally:
        os.dup2(saved, 1)
        os.close(saved)


def milp_solve(a, moves, mem_limit, time_limit, profiles=None, relax=False, start=None):
    """Solve :func:`milp_model` with HiGHS (highspy). ``start``: a placement (G,) given to the solver as its
    first incumbent (the engine's plan), so a time-limited run returns a solution at least that good and a gap
    against its dual bound. Returns (placement or None, solver info)."""
    c, A, rl, ru, nx, H = milp_model(a, moves, mem_limit, profiles)
    G, N = a.n_guests, a.n_nodes
    h = _highs()
    h.setOptionValue("output_flag", False)
    h.setOptionValue("time_limit", float(time_limit))
    h.setOptionValue("mip_rel_gap", 1e-3)
    h.setOptionValue("threads", 1)
    lp = highspy.HighsLp()
    lp.num_col_, lp.num_row_ = A.shape[1], A.shape[0]
    lp.col_cost_ = c
    lp.col_lower_ = np.zeros(A.shape[1])
    lp.col_upper_ = np.r_[np.ones(nx), np.full(H, highspy.kHighsInf)]
    lp.row_lower_ = np.where(np.isinf(rl), -highspy.kHighsInf, rl)
    lp.row_upper_ = np.where(np.isinf(ru), highspy.kHighsInf, ru)
    lp.a_matrix_.format_ = highspy.MatrixFormat.kColwise
    lp.a_matrix_.start_ = A.indptr
    lp.a_matrix_.index_ = A.indices
    lp.a_matrix_.value_ = A.data
    if not relax:
        lp.integrality_ = [highspy.HighsVarType.kInteger] * nx + [highspy.HighsVarType.kContinuous] * H
    h.passModel(lp)
    if start is not None and not relax:
        x0 = np.zeros(A.shape[1])
        x0[start + np.arange(G) * N] = 1.0
        # z at the incumbent: the hottest node per hour, read off the rows (A x without z, minus the base)
        ax = A[:, :nx] @ x0[:nx]
        z = np.zeros(H)
        for k in range(H):
            rows = np.flatnonzero(A[:, nx + k].toarray().ravel() < 0)
            z[k] = np.max(ax[rows] - ru[rows])
        x0[nx:] = z
        sol = highspy.HighsSolution()
        sol.col_value = list(x0)
        h.setSolution(sol)
    t0 = time.perf_counter()
    h.run()
    info = h.getInfo()
    status = h.modelStatusToString(h.getModelStatus())
    has_x = info.primal_solution_status == 2  # kSolutionStatusFeasible
    out = {"status": status, "message": status, "seconds": round(time.perf_counter() - t0, 1),
           "objective": round(float(info.objective_function_value), 3) if has_x else None,
           "dual_bound": None if relax else round(float(info.mip_dual_bound), 3),
           "mip_gap": None if relax or not has_x else round(float(info.mip_gap), 5),
           "warm_start": start is not None and not relax}
    if not has_x:
        return None, out
    x = np.asarray(h.getSolution().col_value)
    return np.argmax(x[:nx].reshape(G, N), axis=1), out


def ours(a, cfg, moves):
    t0 = time.perf_counter()
    p = plan(a, cfg, max_moves=moves)
    dt = (time.perf_counter() - t0) * 1e3
    place = a.placement.copy()
    idx = {n: j for j, n in enumerate(a.node_names)}
    worst = 0
    mem = a.n["now"][:, MEM].copy()
    lim = cfg.mem_limit_pct / 100 * a.cap[:, MEM]
    for r in sorted(p.recommendations, key=lambda r: r.order):
        g, t = a.index_of(r.vmid), idx[r.target_node]
        mem[place[g]] -= a.g["now"][g, MEM]
        mem[t] += a.g["now"][g, MEM]
        place[g] = t
        worst += int(mem[t] > lim[t] + 1)  # the receiving node above the limit after this step
    return place, round(dt, 1), p, worst


def share(before, after, best):
    red = before - best
    return round((before - after) / red, 3) if red > 1e-9 else None


def case(seed: int, n: int, g: int, cfg, trace: str) -> dict:
    slot = tc.report_slot(seed) if seed >= 100 else tc.tuning_slot(seed) if seed >= 10 else None
    snap, hist = tc.trace_cluster(trace, n, g, seed=seed, history=True, slot=slot, keep_past=True)
    fut = {"cpu": hourly(tc.LAST["cpu"]), "mem": hourly(tc.LAST["mem"]), "overhead": tc.LAST["overhead"]}
    # causal predictions of the next 24 hourly means, from the 7 days before now: yesterday repeated, and the
    # mean of each hour of the day over the week (the same hour h after now on each of the 7 days before)
    pc, pm = tc.LAST["past_cpu"], tc.LAST["past_mem"]
    week = {k: x.reshape(len(x), 7, HOURS, -1).mean(axis=(1, 3)) for k, x in (("cpu", pc), ("mem", pm))}
    causal = {"yesterday": {"cpu": hourly(pc[:, -288:]), "mem": hourly(pm[:, -288:]), "overhead": fut["overhead"]},
              "week_hour_mean": {**week, "overhead": fut["overhead"]}}
    a = build_arrays(snap, hist, cfg)
    lim = cfg.mem_limit_pct
    mine, ms, p, worst = ours(a, cfg, args.moves)
    e = {"seed": seed, "slot": int(slot if slot is not None else 9 * 288 + 168),
         "month": "July" if (slot or 0) < 31 * 288 else "August",
         "before": {**now_stats(a, a.placement, lim), "next_day": replay(a, a.placement, fut)},
         "ours": {**now_stats(a, mine, lim), "next_day": replay(a, mine, fut), "plan_ms": ms,
                  "nodes_over_mem_limit_any_step": worst,
                  "engine": {k: p.stats.get(k) for k in ("iterations", "peak_steps", "swaps", "units", "peak_runs")}}}
    if not args.no_milp:
        op, info = milp_solve(a, args.moves, lim, args.time_limit, start=mine)
        e["milp_now"] = info
        if op is not None:
            e["milp_now"].update(now_stats(a, op, lim), next_day=replay(a, op, fut))
            e["share_of_current_optimum"] = share(e["before"]["peak_pct"], e["ours"]["peak_pct"],
                                                  e["milp_now"]["peak_pct"])
        cp, cinfo = milp_solve(a, args.moves, lim, args.time_limit, profiles=fut, start=mine)
        e["milp_clairvoyant"] = cinfo
        if cp is not None:
            e["milp_clairvoyant"].update(now_stats(a, cp, lim), next_day=replay(a, cp, fut))
            e["share_of_clairvoyant"] = share(e["before"]["next_day"]["mean_peak_pct"],
                                              e["ours"]["next_day"]["mean_peak_pct"],
                                              e["milp_clairvoyant"]["next_day"]["mean_peak_pct"])
        # the same MILP against causal predictions (what an optimal planner that knew only the past could
        # do with that predictor), judged on the real next day
        for name, prof in causal.items():
            xp, xinfo = milp_solve(a, args.moves, lim, args.time_limit, profiles=prof, start=mine)
            e[f"milp_{name}"] = xinfo
            if xp is not None and cp is not None:
                e[f"milp_{name}"].update(now_stats(a, xp, lim), next_day=replay(a, xp, fut))
                e[f"share_of_clairvoyant_milp_{name}"] = share(e["before"]["next_day"]["mean_peak_pct"],
                                                               e[f"milp_{name}"]["next_day"]["mean_peak_pct"],
                                                               e["milp_clairvoyant"]["next_day"]["mean_peak_pct"])
        # the LP relaxation's optimum: a lower bound on the clairvoyant mean peak (fractional guests), always
        # solvable; the share against it understates the share against the (unknown) integer optimum
        _, linfo = milp_solve(a, args.moves, lim, args.time_limit, profiles=fut, relax=True)
        e["lp_clairvoyant_bound"] = linfo
        if linfo["objective"] is not None:
            e["share_of_clairvoyant_lp_bound"] = share(e["before"]["next_day"]["mean_peak_pct"],
                                                       e["ours"]["next_day"]["mean_peak_pct"], linfo["objective"])
    return e


def main() -> None:
    trace = args.trace or tc.DEFAULT_TRACE
    seeds = args.seeds or (list(range(5)) if args.tuning else list(range(100, 110)))
    if not args.tuning and min(seeds) < 100:
        sys.exit("report seeds are >= 100 (0-99 are tuning seeds): use --tuning")
    cfg = load_preset(args.preset).replace(min_score_improvement=1.0)
    if args.blend:
        w = [float(x) for x in args.blend.split(",")]
        cfg = cfg.replace(weight_current=w[0], weight_24h=w[1], weight_7d=w[2])
    n, g = (int(x) for x in args.size.split("x"))
    results = [case(s, n, g, cfg, trace) for s in seeds]
    sh = [r.get("share_of_clairvoyant") for r in results]
    summary = {
        "seeds": seeds, "kind": "tuning" if args.tuning else "report",
        "min_share_of_clairvoyant": min((x for x in sh if x is not None), default=None),
        "shares_of_clairvoyant": sh,
        "shares_of_current_optimum": [r.get("share_of_current_optimum") for r in results],
        "shares_of_clairvoyant_lp_bound": [r.get("share_of_clairvoyant_lp_bound") for r in results],
        "min_share_of_clairvoyant_lp_bound": min((r["share_of_clairvoyant_lp_bound"] for r in results
                                                  if r.get("share_of_clairvoyant_lp_bound") is not None), default=None),
        **{f"shares_of_clairvoyant_milp_{k}": [r.get(f"share_of_clairvoyant_milp_{k}") for r in results]
           for k in ("yesterday", "week_hour_mean")},
        "overload_node_hours": {"before": sum(r["before"]["next_day"]["overload_node_hours"] for r in results),
                                "ours": sum(r["ours"]["next_day"]["overload_node_hours"] for r in results),
                                "clairvoyant": sum(r.get("milp_clairvoyant", {}).get("next_day", {}).get(
                                    "overload_node_hours", 0) for r in results),
                                **{f"milp_{k}": sum(r.get(f"milp_{k}", {}).get("next_day", {}).get(
                                    "overload_node_hours", 0) for r in results) for k in ("yesterday", "week_hour_mean")}},
        "mean_next_day_peak_pct": {"before": round(float(np.mean([r["before"]["next_day"]["mean_peak_pct"]
                                                                  for r in results])), 2),
                                   "ours": round(float(np.mean([r["ours"]["next_day"]["mean_peak_pct"]
                                                                for r in results])), 2)},
        "nodes_over_mem_limit_any_step": sum(r["ours"]["nodes_over_mem_limit_any_step"] for r in results),
        "milp_statuses": sorted({r.get("milp_clairvoyant", {}).get("message", "") for r in results}),
        "clairvoyant_mip_gaps": [r.get("milp_clairvoyant", {}).get("mip_gap") for r in results],
        "target": ">= 0.90 of the clairvoyant reduction on every report seed; overload node-hours halved vs "
                  "today's engine; 0 nodes over the memory limit at any step",
    }
    print(json.dumps({"size": args.size, "moves_budget": args.moves, "preset": args.preset,
                      "blend": [cfg.weight_current, cfg.weight_24h, cfg.weight_7d],
                      "engine_root": args.engine_root or ROOT, "results": results, "summary": summary}, indent=2))


if __name__ == "__main__":
    main()
