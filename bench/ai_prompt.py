"""AI prompt size and build time vs cluster size, on simulator scenarios (no provider is called).

Usage: .venv/bin/python bench/ai_prompt.py [--scenarios demo,affinity,large] [--max-guests 30]
Prints JSON per scenario: nodes, guests, engine moves, prompt characters (system + user, and ~tokens at 4
characters a token), guests listed, and the time to build the prompt (ms) with the default
ai.max_prompt_chars; plus the same with a tight 8,000-character budget.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from proxbalance import engine as eng  # noqa: E402
from proxbalance.ai import prompt  # noqa: E402
from proxbalance.config import BY_NAME  # noqa: E402
from tests.ai.sim_snapshot import sim_snapshot  # noqa: E402

TH = {"cpu_pct": 60.0, "mem_pct": 70.0, "mem_limit_pct": 90.0}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--scenarios", default="demo,affinity,large")
    ap.add_argument("--max-guests", type=int, default=BY_NAME["ai.max_guests"].default)
    args = ap.parse_args()
    out = []
    for name in args.scenarios.split(","):
        snap = sim_snapshot(name)
        cfg = eng.PenaltyConfig.from_dict({}, base=eng.load_preset("balanced"))
        arrays = eng.build_arrays(snap, None, cfg)
        plan = eng.plan(arrays, cfg).to_dict()
        row = {"scenario": name, "nodes": len(snap.nodes), "guests": len(snap.guests),
               "engine_moves": len(plan["recommendations"])}
        for label, budget in (("default", BY_NAME["ai.max_prompt_chars"].default), ("tight_8000", 8000)):
            t0 = time.perf_counter()
            system, user = prompt.build(arrays, plan, cluster_name=name, thresholds=TH, period="24h",
                                        max_guests=args.max_guests, max_chars=budget)
            ms = (time.perf_counter() - t0) * 1e3
            listed = len(json.loads(user.splitlines()[1])["hottest_guests"])
            chars = len(system) + len(user)
            row[label] = {"budget_chars": budget, "prompt_chars": chars, "approx_tokens": chars // 4,
                          "guests_listed": listed, "build_ms": round(ms, 1)}
        out.append(row)
    print(json.dumps({"benchmark": "ai_prompt", "results": out}, indent=2))


if __name__ == "__main__":
    main()
