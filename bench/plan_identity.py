"""Plan identity check: dump what the engine and the recommendations service decide, compare two dumps.

Usage: .venv/bin/python bench/plan_identity.py dump OUT.json [--quick]
       .venv/bin/python bench/plan_identity.py compare BASE.json NEW.json
``dump`` plans trace clusters (16x500, 32x2000, 64x10000, a few seeds and presets, one with a node in
maintenance, each also re-planned with the previous plan's moves: the warm start / hysteresis path) with
``engine.plan`` and records every key of ``Plan.to_dict()`` except timings; then on a bench store (see
``bench/engine.py``) it runs ``recommendations.generate`` twice (the second with ``stable=True``) and
records the returned run and the stored run read back (``recommendations.latest``) without run ids, clocks
and timings. ``compare`` walks both dumps: floats must agree within 1e-9 (absolute or relative; it also counts
those not bit-identical), everything else exactly. For speed work: a change that passes has not changed a decision. Not a test (minutes, needs the
trace at ``bench/trace_clusters.DEFAULT_TRACE``).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import os
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from bench.trace_clusters import DEFAULT_TRACE, trace_cluster  # noqa: E402

CLOCK_KEYS = {"timing_ms", "generation_time_ms", "run_id", "generated_at", "previous_run_id"}
PLAN_CASES = [  # (nodes, guests, seed, preset, maintenance node index or None)
    (16, 500, 0, "balanced", None), (16, 500, 1, "aggressive", None), (16, 500, 2, "conservative", None),
    (16, 500, 3, "cpu_focus", None), (16, 500, 4, "memory_focus", None), (16, 500, 5, "balanced", 0),
    (32, 2000, 3, "balanced", None), (64, 10000, 1, "balanced", None), (64, 10000, 2, "aggressive", None),
]
SERVICE_CASES = [(16, 500, 1), (64, 10000, 1)]


def _strip(x):
    if isinstance(x, dict):
        return {k: _strip(v) for k, v in x.items() if k not in CLOCK_KEYS}
    if isinstance(x, list | tuple):
        return [_strip(v) for v in x]
    return x


def _search_raw(arrays, cfg) -> dict:
    """The search's unrounded outcome: move order, gains, final placement, best values and gains per unit."""
    import numpy as np

    from proxbalance.engine.planner import search
    from proxbalance.engine.units import group_units

    ua, _ = group_units(arrays)
    res = search(ua, cfg, cfg.max_moves)
    fin = np.isfinite(res.best_val)
    return {"order": [int(u) for u in res.order], "gains": {str(k): float(v) for k, v in res.gains.items()},
            "cur": res.state.cur.tolist(), "best_val": np.where(fin, res.best_val, 0.0).tolist(),
            "best_val_inf": (~fin).nonzero()[0].tolist(), "best_gain_sum": float(res.best_gain[fin].sum()),
            "peak_cap": res.peak_cap, "iterations": res.iterations, "swaps": res.swaps,
            "peak_steps": res.peak_steps, "pairs": {str(k): int(v) for k, v in res.pairs.items()}}


def _plans(quick: bool) -> dict:
    from proxbalance.engine import build_arrays, load_preset, plan

    out = {}
    for n, g, seed, preset, maint in PLAN_CASES:
        if quick and g > 2000:
            continue
        snap, hist = trace_cluster(DEFAULT_TRACE, n, g, seed=seed)
        if maint is not None:
            nodes = list(snap.nodes)
            nodes[maint] = dataclasses.replace(nodes[maint], maintenance=True)
            snap = dataclasses.replace(snap, nodes=tuple(nodes))
        cfg = load_preset(preset)
        arrays = build_arrays(snap, hist, cfg)
        first = plan(arrays, cfg).to_dict()
        raw = _search_raw(arrays, cfg)
        prev = [(r["vmid"], r["target_node"]) for r in first["recommendations"]]
        snap2, hist2 = trace_cluster(DEFAULT_TRACE, n, g, seed=seed + 100)  # other loads, same vmids and nodes
        snap2 = dataclasses.replace(snap2, nodes=snap.nodes if maint is not None else snap2.nodes)
        again = plan(build_arrays(snap2, hist2, cfg), cfg, previous=prev).to_dict()
        key = f"{n}x{g}/seed{seed}/{preset}/maint{maint}"
        out[key] = {"first": _strip(first), "warm": _strip(again), "search": raw}
        print(key, len(first["recommendations"]), "moves;", len(again["recommendations"]), "warm", file=sys.stderr)
    return out


def _service(quick: bool) -> dict:
    from bench.engine import NOW, _fill_store
    from proxbalance import recommendations as svc
    from proxbalance.config import load_settings
    from proxbalance.store import Store
    from proxbalance.store.forecast_tables import save_backtest

    out = {}
    for n, g, seed in SERVICE_CASES:
        if quick and g > 2000:
            continue
        snap, _ = trace_cluster(DEFAULT_TRACE, n, g, seed=seed)
        with tempfile.TemporaryDirectory() as tmp:
            settings = load_settings(env={}, overrides={"paths.data_dir": tmp, "penalty.preset": "balanced"})
            store = Store.open(settings)
            _fill_store(store, snap, 48)
            save_backtest(store.engine, NOW, {"note": "plan_identity"})
            r1 = svc.generate(settings, store, stable=False)
            l1 = svc.latest(store)
            r2 = svc.generate(settings, store, stable=True)
            l2 = svc.latest(store)
            store.close()
        key = f"service/{n}x{g}/seed{seed}"
        out[key] = {"first": _strip(r1), "first_read": _strip(l1), "stable": _strip(r2), "stable_read": _strip(l2)}
        print(key, len(r1["recommendations"]), "moves", file=sys.stderr)
    return out


INEXACT: list[str] = []  # floats within the tolerance but not bit-identical


def _diff(a, b, path, errs: list, tol: float = 1e-9) -> None:
    if len(errs) > 30:
        return
    if isinstance(a, float) or isinstance(b, float):
        if isinstance(a, int | float) and isinstance(b, int | float) and not isinstance(a, bool):
            if a == b or (math.isnan(a) and math.isnan(b)):
                return
            if abs(a - b) <= tol * max(1.0, abs(a), abs(b)):
                INEXACT.append(f"{path}: {a!r} vs {b!r}")
                return
        errs.append(f"{path}: {a!r} != {b!r}")
    elif isinstance(a, dict) and isinstance(b, dict):
        if list(a) != list(b):
            errs.append(f"{path}: keys {sorted(set(a) ^ set(b))} / order differs")
        for k in a:
            if k in b:
                _diff(a[k], b[k], f"{path}.{k}", errs, tol)
    elif isinstance(a, list) and isinstance(b, list):
        if len(a) != len(b):
            errs.append(f"{path}: length {len(a)} != {len(b)}")
        for i, (x, y) in enumerate(zip(a, b, strict=False)):
            _diff(x, y, f"{path}[{i}]", errs, tol)
    elif a != b or type(a) is not type(b):
        errs.append(f"{path}: {a!r} != {b!r}")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("cmd", choices=("dump", "compare"))
    ap.add_argument("files", nargs="+")
    ap.add_argument("--quick", action="store_true", help="skip the 64 x 10,000 cases")
    args = ap.parse_args()
    if args.cmd == "dump":
        data = {**_plans(args.quick), **_service(args.quick)}
        with open(args.files[0], "w") as f:
            json.dump(data, f)
        return
    base, new = (json.load(open(p)) for p in args.files[:2])
    errs: list[str] = []
    both = [k for k in base if k in new]
    print(f"cases in both: {len(both)}; only in the first: {sorted(set(base) - set(new))}")
    for k in both:
        _diff(base[k], new[k], k, errs)
    print("\n".join(errs) if errs else f"IDENTICAL: {len(both)} cases (floats within 1e-9)")
    print(f"{len(INEXACT)} floats not bit-identical (within the tolerance)", *INEXACT[:10], sep="\n  ")
    sys.exit(1 if errs else 0)


if __name__ == "__main__":
    main()
