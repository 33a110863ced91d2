"""Plan stability: consecutive plans on snapshots 10 simulated minutes apart share most of their moves.

For each scenario (``demo``: 5 nodes / 60 guests, ``large``: 32 nodes / 2,000 guests) the simulator (HTTPS,
proxmoxer) is collected into a fresh SQLite store 12 times, 10 simulated minutes apart, and after each collection
the recommendations service plans from the store: once as the product does (``stable``: compared with the
previous stored run, hysteresis) and once without the previous run (``fresh``, what the engine did before).
Nothing is executed in between. Reports per step the moves, kept / added / dropped and the Jaccard index of
consecutive plans ((vmid, target) pairs). Target (issue 8): Jaccard >= 0.80 for every consecutive pair.

    .venv/bin/python bench/stability.py [--snapshots 12] [--minutes 10] [--scenarios demo,large] [--seeds 0,1,2]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from proxbalance import recommendations as svc  # noqa: E402
from proxbalance.collector import collect_once  # noqa: E402
from proxbalance.config import load_settings  # noqa: E402
from proxbalance.sim import SimServer  # noqa: E402
from proxbalance.store import Store  # noqa: E402


def _pairs(result: dict) -> set[tuple[int, str]]:
    return {(r["vmid"], r["target_node"]) for r in result["recommendations"]}


def _jaccard(a: set, b: set) -> float:
    return len(a & b) / len(a | b) if a | b else 1.0


def run(scenario: str, snapshots: int, minutes: float, seed: int = 0) -> dict:
    sim = SimServer(scenario=scenario, seed=seed, stepped=True).start()
    steps = []
    try:
        with tempfile.TemporaryDirectory() as tmp:
            settings = load_settings(env={}, overrides={
                **sim.connection_settings(),
                "paths.data_dir": tmp})
            store = Store.open(settings)
            prev_fresh = None
            for i in range(snapshots):
                if i:
                    sim.advance(minutes * 60)
                collect_once(settings, store, now=sim.now())
                fresh = svc.generate(settings, store, save=False, stable=False)
                stable = svc.generate(settings, store)
                st = stable["stability"] or {}
                pf = _pairs(fresh)
                steps.append({"step": i, "moves": len(stable["recommendations"]),
                              "kept": st.get("kept"), "added": st.get("added"), "dropped": st.get("dropped"),
                              "jaccard": st.get("jaccard") if i else None,
                              "generation_ms": stable["generation_time_ms"],
                              "peak_after_pct": stable["batch_impact"]["after"]["peak_pct"],
                              "fresh_moves": len(pf), "fresh_peak_after_pct": fresh["batch_impact"]["after"]["peak_pct"],
                              "fresh_jaccard": round(_jaccard(prev_fresh, pf), 4) if i else None})
                prev_fresh = pf
            store.close()
    finally:
        sim.stop()
    js = [s["jaccard"] for s in steps[1:]]
    fj = [s["fresh_jaccard"] for s in steps[1:]]
    return {"scenario": scenario, "seed": seed, "snapshots": snapshots, "minutes_apart": minutes, "steps": steps,
            "jaccard_min": min(js), "jaccard_mean": round(statistics.mean(js), 4),
            "fresh_jaccard_min": min(fj), "fresh_jaccard_mean": round(statistics.mean(fj), 4),
            "ok": min(js) >= 0.80}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--snapshots", type=int, default=12)
    p.add_argument("--minutes", type=float, default=10.0)
    p.add_argument("--scenarios", default="demo,large")
    p.add_argument("--seeds", default="0", help="simulator seeds, comma-separated (0: the one the margin was chosen on)")
    args = p.parse_args()
    results = [run(s, args.snapshots, args.minutes, int(seed)) for s in args.scenarios.split(",")
               for seed in args.seeds.split(",")]
    print(json.dumps({"benchmark": "stability", "results": results, "target": "jaccard >= 0.80 every step",
                      "ok": all(r["ok"] for r in results)}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
