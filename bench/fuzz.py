"""Long schemathesis run over the whole OpenAPI document against a real server with data.

    .venv/bin/python bench/fuzz.py [--per-operation 500] [--op-seconds 15] [--only /api/x,/api/y]

Starts a stepped simulator, collects once, serves the API over HTTP (werkzeug, 8 threads) and sends up to
``per-operation`` generated requests to every operation (derandomised, admin key; hypothesis stops early
on operations with few distinct inputs), each checked with ``not_a_server_error`` and
``response_schema_conformance``, with the same exemption as tests/hardening/test_schemathesis.py: a 502/503/504
in the JSON error shape from an operation that fronts an AI provider, git or PVE's access API. The update
endpoints point at an empty directory (not a checkout), so no fuzzed request can move this checkout; the AI
providers' stored URLs point at a closed local port (no retries), so those calls fail at once instead of
waiting for the internet. An operation stops sending after ``op-seconds`` (the examples left are generated,
not sent; such operations are listed in ``time_capped``). Prints
JSON: requests, failures (with the first few), per-operation counts and seconds; progress goes to stderr.
"""

from __future__ import annotations

import argparse
import importlib
import json
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import schemathesis  # noqa: E402
from hypothesis import HealthCheck, Phase, given, settings  # noqa: E402
from schemathesis.checks import not_a_server_error  # noqa: E402
from schemathesis.core.failures import FailureGroup  # noqa: E402
from schemathesis.specs.openapi.checks import response_schema_conformance  # noqa: E402

from proxbalance.api import BLUEPRINTS, create_app  # noqa: E402
from proxbalance.api.openapi import build_document  # noqa: E402
from proxbalance.collector import collect_once  # noqa: E402
from proxbalance.sim import SimServer  # noqa: E402
from proxbalance.store import Store  # noqa: E402
from tests.collector.conftest import sim_settings  # noqa: E402
from tests.hardening.servers import serve, stop  # noqa: E402
from tests.hardening.test_schemathesis import UPSTREAM  # noqa: E402

ADMIN = "pb_fuzz_admin_key_0123456789abcdef"


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--per-operation", type=int, default=500)
    ap.add_argument("--op-seconds", type=float, default=15.0)
    ap.add_argument("--only", default="", help="comma-separated operation paths (default: all)")
    args = ap.parse_args()
    for name in BLUEPRINTS:
        importlib.import_module(name)
    sim = SimServer(scenario="demo", seed=0, stepped=True).start()
    tmp = tempfile.mkdtemp(prefix="pb-fuzz-")
    (Path(tmp) / "not-a-checkout").mkdir()
    s = sim_settings(sim, Path(tmp) / "data", **{"auth.bootstrap_admin_key": ADMIN, "ratelimit.enabled": False,
                                                 "updates.install_dir": str(Path(tmp) / "not-a-checkout"),
                                                 "updates.pip_install": False, "updates.restart_command": ["true"],
                                                 "ai.openai_base_url": "http://127.0.0.1:9/v1",
                                                 "ai.anthropic_base_url": "http://127.0.0.1:9",
                                                 "ai.ollama_host": "http://127.0.0.1:9", "ai.max_retries": 0})
    store = Store.open(s)
    collect_once(s, store, now=sim.now())
    server, base = serve(create_app(s, store, clock=sim.now), threads=8)
    schema = schemathesis.openapi.from_dict(build_document())
    counts: dict[str, int] = {}
    failures: list[dict] = []
    time_capped: set[str] = set()
    op_deadline = [0.0]  # perf_counter seconds after which the current operation sends nothing more
    started = time.perf_counter()
    try:
        for result in schema.get_all_operations():
            op = result.ok()
            if args.only and op.path not in args.only.split(","):
                continue
            label = f"{op.method.upper()} {op.path}"
            counts[label] = 0
            op_deadline[0] = time.perf_counter() + args.op_seconds

            @given(case=op.as_strategy())
            @settings(max_examples=args.per_operation, derandomize=True, deadline=None, database=None,
                      phases=[Phase.explicit, Phase.generate], suppress_health_check=list(HealthCheck))
            def run(case):
                label = f"{case.operation.method.upper()} {case.operation.path}"
                if time.perf_counter() > op_deadline[0]:
                    time_capped.add(label)
                    return
                counts[label] += 1
                try:
                    response = case.call(base_url=base, headers={"X-API-Key": ADMIN}, timeout=30)
                    checks = [response_schema_conformance]
                    if case.operation.path in UPSTREAM and response.status_code in (502, 503, 504):
                        error = response.json().get("error", {})
                        if response.json().get("success") is not False or not error.get("code"):
                            raise AssertionError(f"upstream {response.status_code} without the error shape")
                    else:
                        checks.append(not_a_server_error)
                    case.validate_response(response, checks=checks)
                except (Exception, FailureGroup) as exc:  # count, never shrink
                    lines = [ln for ln in str(exc).splitlines() if ln.strip()]
                    failures.append({"operation": label, "error": " | ".join(lines[:6])[:600],
                                     "curl": case.as_curl_command(headers={"X-API-Key": "..."})[:600]})

            run()
            print(f"{label}: {counts[label]} requests, {len(failures)} failures so far, "
                  f"{time.perf_counter() - started:.0f} s", file=sys.stderr, flush=True)
    finally:
        stop(server)
        store.close()
        sim.stop()
    print(json.dumps({"requests": sum(counts.values()), "failures": len(failures), "first_failures": failures[:20],
                      "operations": len(counts), "seconds": round(time.perf_counter() - started, 1),
                      "time_capped": sorted(time_capped),
                      "per_operation": counts}, indent=2))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
