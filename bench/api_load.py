"""API throughput and latency through real nginx in front of gunicorn, as systemd/proxbalance.service runs it.

    .venv/bin/python bench/api_load.py [--seconds 5] [--levels 1,8,32] [--client auto|wrk|python]

Builds a data dir with one collection (stepped simulator) and one stored plan, starts gunicorn with the
unit's ExecStart arguments (workers, threads, timeout; only the bind moved to a free port) and the unit's
environment, waits until every worker has booted, puts nginx
(nginx/proxbalance.conf, as tests/test_deploy.py runs it) in front, then drives ``GET /api/recommendations``
and ``GET /api/cluster-summary`` with keep-alive clients at each concurrency. The rate limit stays on
(shared storage), with a budget far above the load. Prints JSON: per endpoint and concurrency, requests,
req/s, p50/p99 ms, errors and the gunicorn workers' CPU ms per request (a figure less distorted by a busy
machine than latency), and which client made them.

Clients: ``wrk`` (Debian's ``wrk``, C and epoll: ``apt-get install wrk``; ``auto`` picks it when installed) or
``python`` (one thread per connection with http.client; on 2 cores its own CPU use and GIL waits are part of
what it measures). Neither sends ``If-None-Match``: every answer is a full 200 body.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from proxbalance.collector import collect_once  # noqa: E402
from proxbalance.config import load_settings  # noqa: E402
from proxbalance.recommendations import generate  # noqa: E402
from proxbalance.sim import SimServer  # noqa: E402
from proxbalance.store import Store  # noqa: E402
from proxbalance.store.keys import create_key  # noqa: E402
from tests.test_deploy import free_port, nginx_config  # noqa: E402

ENDPOINTS = ("/api/recommendations", "/api/cluster-summary")


def unit_command(port: int) -> tuple[list[str], dict[str, str]]:
    """gunicorn argv and environment from systemd/proxbalance.service (bind on ``port``, our venv)."""
    unit = (ROOT / "systemd" / "proxbalance.service").read_text()
    exec_start = re.search(r"^ExecStart=(.+)$", unit, re.M).group(1)
    argv = shlex.split(exec_start)
    argv[0] = str(Path(sys.executable).parent / "gunicorn")
    argv[argv.index("--bind") + 1] = f"127.0.0.1:{port}"
    env = dict(re.findall(r"^Environment=([A-Z_]+)=(.*)$", unit, re.M))
    return argv, env


def wait_port(port: int, seconds: float = 120) -> None:
    """Until ``/api/health`` on ``port`` answers (gunicorn's master listens long before a worker accepts)."""
    deadline = time.time() + seconds
    while time.time() < deadline:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            conn.request("GET", "/api/health")
            conn.getresponse().read()
            conn.close()
            return
        except (OSError, http.client.HTTPException):
            time.sleep(0.1)
    raise SystemExit(f"nothing answers on {port}")


def _cpu_ticks(pid: int) -> int:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])  # utime + stime


def workers_of(master: int) -> list[int]:
    return [int(p) for p in Path(f"/proc/{master}/task/{master}/children").read_text().split()]


def wait_workers_idle(master: int, count: int, seconds: float = 120) -> None:
    """Until ``count`` workers exist and none used CPU for 0.5 s: every one has imported and built the app
    (a worker still booting takes no connection, and on a busy machine booting takes seconds)."""
    deadline = time.time() + seconds
    before: dict[int, int] = {}
    while time.time() < deadline:
        now = {pid: _cpu_ticks(pid) for pid in workers_of(master)}
        if len(now) == count and now == before:
            return
        before = now
        time.sleep(0.5)
    raise SystemExit("gunicorn workers did not settle")


def server_cpu_seconds(pids: list[int]) -> float:
    return sum(_cpu_ticks(p) for p in pids) / os.sysconf("SC_CLK_TCK")


def drive(port: int, path: str, key: str, concurrency: int, seconds: float) -> dict:
    lat: list[float] = []
    errors = [0]
    statuses: dict[str, int] = {}
    lock = threading.Lock()
    stop_at = time.perf_counter() + seconds

    def client():
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        mine, bad = [], 0
        while time.perf_counter() < stop_at:
            t0 = time.perf_counter()
            try:
                conn.request("GET", path, headers={"X-API-Key": key})
                resp = conn.getresponse()
                resp.read()
                if resp.status != 200:
                    bad += 1
                    with lock:
                        statuses[str(resp.status)] = statuses.get(str(resp.status), 0) + 1
            except (OSError, http.client.HTTPException) as exc:
                bad += 1
                with lock:
                    statuses[type(exc).__name__] = statuses.get(type(exc).__name__, 0) + 1
                conn.close()
                conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
            mine.append(time.perf_counter() - t0)
        with lock:
            lat.extend(mine)
            errors[0] += bad

    threads = [threading.Thread(target=client) for _ in range(concurrency)]
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - t0
    lat.sort()

    def pct(p):
        return round(1000 * lat[min(len(lat) - 1, int(p * len(lat)))], 2) if lat else None

    return {"endpoint": path, "concurrency": concurrency, "requests": len(lat), "rps": round(len(lat) / wall, 1),
            "p50_ms": pct(0.50), "p99_ms": pct(0.99), "errors": errors[0], "error_kinds": statuses}


WRK_REPORT = """
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format('{"requests": %d, "duration_us": %d, "p50_us": %d, "p99_us": %d, "errors": %d, '
    .. '"error_kinds": {"connect": %d, "read": %d, "write": %d, "status": %d, "timeout": %d}}\\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    e.connect + e.read + e.write + e.status + e.timeout, e.connect, e.read, e.write, e.status, e.timeout))
end
"""


def drive_wrk(port: int, path: str, key: str, concurrency: int, seconds: float, script: Path) -> dict:
    """The same measurement with wrk (``min(concurrency, 2)`` threads, one connection per client, whole seconds)."""
    out = subprocess.run(["wrk", "-t", str(min(concurrency, 2)), "-c", str(concurrency), "-d", f"{max(1, round(seconds))}s",
                          "--timeout", "10s", "-H", f"X-API-Key: {key}", "-s", str(script),
                          f"http://127.0.0.1:{port}{path}"], capture_output=True, text=True, check=True).stdout
    report = json.loads(out.strip().splitlines()[-1])
    return {"endpoint": path, "concurrency": concurrency, "requests": report["requests"],
            "rps": round(report["requests"] / (report["duration_us"] / 1e6), 1),
            "p50_ms": round(report["p50_us"] / 1000, 2), "p99_ms": round(report["p99_us"] / 1000, 2),
            "errors": report["errors"], "error_kinds": {k: v for k, v in report["error_kinds"].items() if v}}


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--seconds", type=float, default=5.0)
    ap.add_argument("--levels", default="1,8,32")
    ap.add_argument("--client", choices=("auto", "wrk", "python"), default="auto")
    args = ap.parse_args()
    client = ("wrk" if shutil.which("wrk") else "python") if args.client == "auto" else args.client
    tmp = Path(tempfile.mkdtemp(prefix="pb-load-"))
    sim = SimServer(scenario="demo", seed=0, stepped=True).start()
    cfg = tmp / "config.toml"
    cfg.write_text(f'[paths]\ndata_dir = "{tmp / "data"}"\n[proxmox]\nhost = "{sim.host}"\nport = {sim.port}\n'
                   f'token_id = "{sim.token_id}"\ntoken_secret = "{sim.token_value}"\nca_file = "{sim.ca_file}"\n'
                   '[collection]\nbackfill = false\n[ratelimit]\nread_per_minute = 100000000\n')
    settings = load_settings(path=cfg, env={})
    store = Store.open(settings)
    collect_once(settings, store, now=sim.now())
    generate(settings, store, {})
    key = create_key(store.engine, "bench", "read")[1]
    store.close()
    app_port, listen = free_port(), free_port()
    argv, env = unit_command(app_port)
    env.update({"PROXBALANCE_CONFIG": str(cfg)})
    gunicorn = subprocess.Popen(argv, cwd=ROOT, env={**os.environ, **env}, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
    nginx_dir = tmp / "nginx"
    nginx_dir.mkdir()
    conf = nginx_config(nginx_dir, listen, app_port)
    # the test harness' top-level config allows 64 connections; 32 clients + upstreams need more
    conf.write_text(conf.read_text().replace("worker_connections 64;", "worker_connections 1024;"))
    nginx = subprocess.Popen(["nginx", "-c", str(conf), "-p", str(nginx_dir), "-g", "daemon off;"],
                             stderr=subprocess.DEVNULL)
    results = []
    try:
        wait_port(app_port)
        wait_workers_idle(gunicorn.pid, int(argv[argv.index("--workers") + 1]))
        wait_port(listen)
        workers = workers_of(gunicorn.pid)
        script = tmp / "report.lua"
        script.write_text(WRK_REPORT)
        for path in ENDPOINTS:
            drive(listen, path, key, 2, 1.0)  # warm up both workers
            for level in (int(x) for x in args.levels.split(",")):
                cpu0 = server_cpu_seconds(workers)
                result = (drive_wrk(listen, path, key, level, args.seconds, script) if client == "wrk"
                          else drive(listen, path, key, level, args.seconds))
                result["server_cpu_ms_per_request"] = round(
                    1000 * (server_cpu_seconds(workers) - cpu0) / max(1, result["requests"]), 3)
                results.append(result)
    finally:
        for proc in (nginx, gunicorn):
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        sim.stop()
    client_desc = (subprocess.run(["wrk", "--version"], capture_output=True, text=True).stdout.split(" [")[0]
                   + ", min(concurrency, 2) threads" if client == "wrk" else
                   "python http.client, one thread per connection")
    print(json.dumps({"server": " ".join(argv[1:]), "through": "nginx", "client": client_desc,
                      "seconds_per_level": args.seconds,
                      "cpu_count": os.cpu_count(), "load_average": os.getloadavg(), "results": results}, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
