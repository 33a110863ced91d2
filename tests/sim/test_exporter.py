"""A third-party client never written against the simulator: prometheus-pve-exporter (PyPI, dev extra)
scrapes it with its default collectors (cluster and node) over HTTPS, and what it exposes for nodes and
guests agrees with the simulator's own model."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

from proxbalance.sim import SimServer

EXPORTER = Path(sys.executable).with_name("pve_exporter")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def scraped(tmp_path_factory):
    """(sim, {metric name: {labels tuple: value}}) from one default scrape of the demo cluster."""
    tmp = tmp_path_factory.mktemp("exporter")
    with SimServer(scenario="demo", seed=0, stepped=True) as sim:
        cfg = tmp / "pve.yml"
        cfg.write_text(f"default:\n  user: {sim.token_user}\n  token_name: {sim.token_name}\n"
                       f"  token_value: {sim.token_value}\n  verify_ssl: {sim.ca_file}\n")
        port = free_port()
        env = {k: v for k, v in os.environ.items() if not k.startswith(("REQUESTS_", "CURL_", "PVE_"))}
        proc = subprocess.Popen([str(EXPORTER), "--config.file", str(cfg), "--web.listen-address",
                                 f"127.0.0.1:{port}"], env=env, stdout=subprocess.DEVNULL,
                                stderr=subprocess.PIPE)
        try:
            url = f"http://127.0.0.1:{port}/pve"
            deadline = time.monotonic() + 60
            while True:
                try:
                    r = requests.get(url, params={"target": f"{sim.host}:{sim.port}", "cluster": 1, "node": 1},
                                     timeout=30)
                    break
                except requests.ConnectionError:
                    if proc.poll() is not None or time.monotonic() > deadline:
                        raise AssertionError(proc.stderr.read().decode()[-2000:]) from None
                    time.sleep(0.2)
            assert r.status_code == 200, r.text[-2000:]
            metrics: dict[str, dict[tuple, float]] = {}
            for fam in text_string_to_metric_families(r.text):
                for s in fam.samples:
                    metrics.setdefault(s.name, {})[tuple(sorted(s.labels.items()))] = s.value
            yield sim, metrics
        finally:
            proc.send_signal(signal.SIGINT)  # gunicorn: quick shutdown
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


def by_id(metrics: dict, name: str) -> dict[str, float]:
    return {dict(k)["id"]: v for k, v in metrics[name].items()}


def test_default_scrape_has_every_collector(scraped):
    sim, m = scraped
    for name in ("pve_up", "pve_version_info", "pve_node_info", "pve_cluster_info", "pve_cpu_usage_ratio",
                 "pve_ha_state", "pve_guest_info", "pve_storage_info", "pve_not_backed_up_total",
                 "pve_subscription_info", "pve_subscription_status"):
        assert name in m, name
    (labels,) = m["pve_version_info"]
    assert dict(labels)["version"] == "9.0.10"
    status = {dict(k)["status"]: v for k, v in m["pve_subscription_status"].items()}
    assert status["notfound"] == 1 and sum(status.values()) == 1
    total = next(iter(m["pve_not_backed_up_total"].values()))
    assert total == sum(not g.template for g in sim.cluster.guests)


def test_node_metrics_agree_with_the_model(scraped):
    sim, m = scraped
    c = sim.cluster
    s = c.snapshot()
    cpu, mem = by_id(m, "pve_cpu_usage_ratio"), by_id(m, "pve_memory_usage_bytes")
    disk, maxdisk = by_id(m, "pve_disk_usage_bytes"), by_id(m, "pve_disk_size_bytes")
    up = by_id(m, "pve_up")
    for i, n in enumerate(c.nodes):
        key = f"node/{n.name}"
        assert cpu[key] == pytest.approx(float(s.node["cpu"][i]), abs=1e-6)
        assert mem[key] == pytest.approx(min(float(s.node["memused"][i]), n.memory), abs=1)
        assert by_id(m, "pve_memory_size_bytes")[key] == n.memory
        assert by_id(m, "pve_cpu_usage_limit")[key] == n.cores
        assert disk[key] == n.root_used and maxdisk[key] == n.rootfs
        assert by_id(m, "pve_uptime_seconds")[key] == int(s.t - n.boot_time)
        assert up[key] == 1
    ha = {(dict(k)["id"], dict(k)["state"]): v for k, v in m["pve_ha_state"].items()}
    assert all(ha[(f"node/{n.name}", "online")] == 1 for n in c.nodes)


def test_guest_metrics_agree_with_the_model(scraped):
    sim, m = scraped
    c = sim.cluster
    s = c.snapshot()
    cpu, mem, up = by_id(m, "pve_cpu_usage_ratio"), by_id(m, "pve_memory_usage_bytes"), by_id(m, "pve_up")
    netin, wr = by_id(m, "pve_network_receive_bytes_total"), by_id(m, "pve_disk_written_bytes_total")
    disk = by_id(m, "pve_disk_usage_bytes")
    info = {dict(k)["id"]: dict(k) for k in m["pve_guest_info"]}
    ha = {(dict(k)["id"], dict(k)["state"]): v for k, v in m["pve_ha_state"].items()}
    for gi, g in enumerate(c.guests):
        key = f"{g.type}/{g.vmid}"
        running = g.status == "running"
        assert up[key] == float(running)
        assert info[key]["node"] == g.node and info[key]["name"] == g.name and info[key]["tags"] == g.tags
        assert by_id(m, "pve_memory_size_bytes")[key] == g.memory
        assert by_id(m, "pve_cpu_usage_limit")[key] == g.cores
        if running:
            assert cpu[key] == pytest.approx(float(s.guest_cpu[gi]) / g.cores, abs=1e-6)
            assert mem[key] == int(s.guest_mem[gi])
            assert netin[key] == int(s.counters[2, gi]) and wr[key] == int(s.counters[1, gi])
            assert (disk[key] > 0) == (g.type == "lxc")
        else:
            assert cpu[key] == 0 and mem[key] == 0
        if g.sid in c.ha_resources:
            assert ha[(key, "started")] == 1
