"""Benchmark the simulator's API: latency of GET /cluster/resources and requests/s for the large scenario.

    .venv/bin/python bench/sim_api.py [--scenario large] [--seconds 10] [--clients 4] [--speed 60]

Prints JSON: single-client latency percentiles (ms) over keep-alive HTTPS (requests.Session, TLS verified),
then throughput with ``--clients`` concurrent sessions. ``--speed 0`` runs the sim stepped (static time,
every answer cached); the default replays time at 60x, where loads are recomputed once per real second (60 sim seconds).
The simulator and each client run in their own processes (no shared GIL). Responses are gzip-compressed
when the client accepts it, as pveproxy does (requests does by default).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import statistics
import sys
import time
from pathlib import Path

import requests

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from proxbalance.sim import SimServer  # noqa: E402


def session(sim: dict) -> requests.Session:
    s = requests.Session()
    s.trust_env = False  # else REQUESTS_CA_BUNDLE overrides Session.verify (requests issue #3829)
    s.verify = sim["ca_file"]
    s.headers["Authorization"] = f"PVEAPIToken={sim['token']}"
    return s


def client(sim: dict, url: str, seconds: float) -> int:
    """One client process: GET ``url`` in a loop on one keep-alive connection; returns the count."""
    s = session(sim)
    n, stop = 0, time.perf_counter() + seconds
    while time.perf_counter() < stop:
        s.get(url).raise_for_status()
        n += 1
    return n


def serve(args: dict, q, stop) -> None:
    """Run the simulator in its own process so the clients do not share its GIL."""
    with SimServer(**args) as sim:
        q.put({"api_url": sim.api_url, "token": sim.token, "ca_file": sim.ca_file})
        stop.wait()


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--scenario", default="large")
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--clients", type=int, default=4)
    ap.add_argument("--speed", type=float, default=60.0)
    ap.add_argument("--path", default="/cluster/resources")
    a = ap.parse_args()
    q, done = mp.Queue(), mp.Event()
    proc = mp.Process(target=serve, args=(dict(scenario=a.scenario, speed=a.speed or 1.0, stepped=a.speed == 0),
                                          q, done), daemon=True)
    proc.start()
    sim = q.get(timeout=60)
    try:
        url = sim["api_url"] + a.path
        s = session(sim)
        first = time.perf_counter()
        n_rows = len(s.get(url).json()["data"])
        cold_ms = (time.perf_counter() - first) * 1000
        lat = []
        end = time.perf_counter() + a.seconds / 2
        while time.perf_counter() < end:
            t = time.perf_counter()
            r = s.get(url)
            r.raise_for_status()
            r.json()
            lat.append((time.perf_counter() - t) * 1000)
        lat.sort()
        t0 = time.perf_counter()
        with mp.Pool(a.clients) as pool:
            count = pool.starmap(client, [(sim, url, a.seconds / 2)] * a.clients)
        elapsed = time.perf_counter() - t0
        print(json.dumps({
            "scenario": a.scenario, "path": a.path, "rows": n_rows, "speed": a.speed,
            "bytes": len(s.get(url).content), "cold_ms": round(cold_ms, 1),
            "latency_ms": {"n": len(lat), "p50": round(statistics.median(lat), 2),
                           "p95": round(lat[int(0.95 * (len(lat) - 1))], 2), "max": round(lat[-1], 2)},
            "throughput": {"clients": a.clients, "requests": sum(count), "seconds": round(elapsed, 2),
                           "req_per_s": round(sum(count) / elapsed, 1)},
        }, indent=2))
    finally:
        done.set()
        proc.join(10)


if __name__ == "__main__":
    main()
