"""Cost of the API settings layer: the per-request revision check, a full reload, and one POST /api/config.

    .venv/bin/python bench/config_layer.py [--n 2000]

Prints JSON: microseconds per revision check, per reload (read layer + build settings), milliseconds per
validated POST (one write transaction) and per GET /api/config, on a SQLite file in a temporary directory.
"""

from __future__ import annotations

import argparse
import json
import tempfile
import time

from proxbalance.api import create_app
from proxbalance.config import load_settings
from proxbalance.config_service import effective
from proxbalance.store import Store
from proxbalance.store.config_layer import revision


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=2000)
    n = ap.parse_args().n
    with tempfile.TemporaryDirectory() as d:
        settings = load_settings(env={}, overrides={"paths.data_dir": d, "auth.enabled": False})
        store = Store.open(settings)
        client = create_app(settings, store).test_client()
        for i in range(20):  # a realistic layer: some settings changed
            client.post("/api/config", json={"retention.raw_hours": 10 + i, "thresholds.cpu_percent": 50 + i})
        t = time.perf_counter()
        for _ in range(n):
            revision(store.engine)
        check_us = (time.perf_counter() - t) / n * 1e6
        t = time.perf_counter()
        for _ in range(n // 10):
            effective(settings, store)
        reload_us = (time.perf_counter() - t) / (n // 10) * 1e6
        t = time.perf_counter()
        for i in range(n // 20):
            client.post("/api/config", json={"retention.raw_hours": 100 + i})
        post_ms = (time.perf_counter() - t) / (n // 20) * 1e3
        t = time.perf_counter()
        for _ in range(n // 20):
            client.get("/api/config")
        get_ms = (time.perf_counter() - t) / (n // 20) * 1e3
    print(json.dumps({"revision_check_us": round(check_us, 1), "reload_us": round(reload_us, 1),
                      "post_config_ms": round(post_ms, 2), "get_config_ms": round(get_ms, 2), "n": n}))


if __name__ == "__main__":
    main()
