"""Plan quality vs the optimum: ProxBalance's plan against a MILP (scipy HiGHS) with the same move budget.

Usage: .venv/bin/python bench/quality.py [TRACE] [--moves 20] [--time-limit 60] [--seeds 0 1 2]
Clusters come from the Bitbrains GWA-T-12 trace (Grid Workloads Archive, TU Delft) via
bench/trace_clusters.py: heterogeneous nodes, skewed start, current load (weight_current = 1).
The MILP minimises the peak node utilisation z >= CPU% and memory% of every node, with at most `moves`
guests off their node and every node's memory <= mem_limit_pct (plus a tiny charge per GiB moved).
Clusters too large for the MILP are compared with the fluid bound (total load / total capacity).
Prints JSON.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

import numpy as np
from scipy.optimize import Bounds, LinearConstraint, milp
from scipy.sparse import coo_matrix

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from bench.trace_clusters import DEFAULT_TRACE, trace_cluster  # noqa: E402
from proxbalance.engine import build_arrays, load_preset, plan  # noqa: E402
from proxbalance.engine.arrays import CPU, MEM  # noqa: E402

GIB = 1024.0**3


def stats(a, place, mem_limit):
    """Per-node CPU / memory utilisation (now) for a placement; cluster summary."""
    N = a.n_nodes
    base = a.n["now"][:, [CPU, MEM]] - np.stack([np.bincount(a.placement, a.g["now"][:, r], N) for r in (CPU, MEM)], 1)
    load = base + np.stack([np.bincount(place, a.g["now"][:, r], N) for r in (CPU, MEM)], 1)
    u = load / a.cap[:, [CPU, MEM]] * 100
    moved = place != a.placement
    return {
        "peak_pct": round(float(u.max()), 2),
        "cpu_max_pct": round(float(u[:, 0].max()), 2), "cpu_std_pct": round(float(u[:, 0].std()), 2),
        "mem_max_pct": round(float(u[:, 1].max()), 2), "mem_std_pct": round(float(u[:, 1].std()), 2),
        "moves": int(moved.sum()), "gib_moved": round(float(a.copy_bytes[moved].sum() / GIB), 2),
        "nodes_over_mem_limit": int((u[:, 1] > mem_limit + 1e-9).sum()),
    }


def solve_milp(a, moves, mem_limit, time_limit):
    G, N = a.n_guests, a.n_nodes
    base = a.n["now"][:, [CPU, MEM]] - np.stack([np.bincount(a.placement, a.g["now"][:, r], N) for r in (CPU, MEM)], 1)
    nx = G * N  # x[g, n] at g * N + n, then z
    c = np.zeros(nx + 1)
    c[-1] = 1.0
    c[:nx] = np.repeat(a.copy_bytes / GIB * 1e-5, N)  # tie-break: fewer GiB moved
    c[a.placement + np.arange(G) * N] = 0.0
    rows = []
    # each guest on one node
    A1 = coo_matrix((np.ones(nx), (np.repeat(np.arange(G), N), np.arange(nx))), shape=(G, nx + 1))
    rows.append(LinearConstraint(A1, 1, 1))
    # load / capacity <= z for cpu and memory; memory <= limit
    gi = np.repeat(np.arange(G), N)
    ni = np.tile(np.arange(N), G)
    for r, col in ((CPU, 0), (MEM, 1)):
        cap = a.cap[:, r]
        vals = a.g["now"][gi, r] / cap[ni] * 100
        A = coo_matrix((np.r_[vals, -np.ones(N)], (np.r_[ni, np.arange(N)], np.r_[np.arange(nx), np.full(N, nx)])),
                       shape=(N, nx + 1))
        rows.append(LinearConstraint(A, -np.inf, -base[:, col] / cap * 100))
        if r == MEM:
            Am = coo_matrix((vals, (ni, np.arange(nx))), shape=(N, nx + 1))
            rows.append(LinearConstraint(Am, -np.inf, mem_limit - base[:, col] / cap * 100))
    # move budget: sum_g x[g, orig] >= G - moves
    Ab = coo_matrix((np.ones(G), (np.zeros(G, dtype=int), a.placement + np.arange(G) * N)), shape=(1, nx + 1))
    rows.append(LinearConstraint(Ab, G - moves, np.inf))
    integrality = np.r_[np.ones(nx), 0]
    bounds = Bounds(np.zeros(nx + 1), np.r_[np.ones(nx), np.inf])
    t0 = time.perf_counter()
    res = milp(c, constraints=rows, integrality=integrality, bounds=bounds,
               options={"time_limit": time_limit, "disp": False, "mip_rel_gap": 1e-3})
    dt = time.perf_counter() - t0
    if res.x is None:
        return None, {"status": res.message, "seconds": round(dt, 1)}
    x = res.x[:nx].reshape(G, N)
    return np.argmax(x, axis=1), {"status": res.message, "seconds": round(dt, 1),
                                  "mip_gap": getattr(res, "mip_gap", None), "z": round(float(res.x[-1]), 2)}


def ours(a, cfg, moves):
    t0 = time.perf_counter()
    p = plan(a, cfg, max_moves=moves)
    dt = (time.perf_counter() - t0) * 1e3
    place = a.placement.copy()
    idx = {n: j for j, n in enumerate(a.node_names)}
    for r in p.recommendations:
        place[a.index_of(r.vmid)] = idx[r.target_node]
    return place, round(dt, 1), p


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("trace", nargs="?", default=DEFAULT_TRACE)
    ap.add_argument("--moves", type=int, default=20)
    ap.add_argument("--time-limit", type=float, default=60.0)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--preset", default="balanced")
    ap.add_argument("--large", action="store_true", help="also 32x2000 and 64x10000 vs the fluid bound")
    args = ap.parse_args()
    cfg = load_preset(args.preset).replace(weight_current=1.0, weight_24h=0.0, weight_7d=0.0,
                                           min_score_improvement=1.0)
    lim = cfg.mem_limit_pct
    results = []
    for seed in args.seeds:
        snap, _ = trace_cluster(args.trace, 16, 500, seed=seed, history=False)
        a = build_arrays(snap, None, cfg)
        before = stats(a, a.placement, lim)
        op, info = solve_milp(a, args.moves, lim, args.time_limit)
        mine, ms, p = ours(a, cfg, args.moves)
        o = stats(a, mine, lim)
        entry = {"cluster": "16x500", "seed": seed, "before": before, "ours": {**o, "plan_ms": ms}, "milp": info}
        if op is not None:
            m = stats(a, op, lim)
            entry["optimum"] = m
            red_opt = before["peak_pct"] - m["peak_pct"]
            entry["share_of_optimal_reduction"] = round((before["peak_pct"] - o["peak_pct"]) / red_opt, 3) \
                if red_opt > 0 else None
        results.append(entry)
    if args.large:
        for n, g in ((32, 2000), (64, 10000)):
            snap, _ = trace_cluster(args.trace, n, g, seed=1, history=False)
            a = build_arrays(snap, None, cfg)
            before = stats(a, a.placement, lim)
            load = a.n["now"][:, [CPU, MEM]].sum(0) / a.cap[:, [CPU, MEM]].sum(0) * 100
            mine, ms, _ = ours(a, cfg, args.moves * n // 16)
            results.append({"cluster": f"{n}x{g}", "before": before, "ours": {**stats(a, mine, lim), "plan_ms": ms},
                            "fluid_bound_pct": round(float(load.max()), 2)})
    shares = [r["share_of_optimal_reduction"] for r in results if r.get("share_of_optimal_reduction") is not None]
    summary = {"min_share_of_optimal_reduction": min(shares) if shares else None,
               "nodes_over_mem_limit": sum(r["ours"]["nodes_over_mem_limit"] for r in results),
               "gib_ours_vs_optimum": [(r["ours"]["gib_moved"], r["optimum"]["gib_moved"]) for r in results
                                       if "optimum" in r],
               "target": ">= 0.9 of the optimum's peak reduction, 0 nodes over the memory limit"}
    print(json.dumps({"moves_budget": args.moves, "preset": args.preset, "mem_limit_pct": lim,
                      "results": results, "summary": summary}, indent=2))


if __name__ == "__main__":
    main()
