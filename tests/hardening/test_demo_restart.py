"""Demo and restarts: busy port, --config/PROXBALANCE_* honoured, fresh demo database, backfill retried."""

from __future__ import annotations

import socket

from proxbalance.cli import main
from proxbalance.collector import collect_once
from proxbalance.demo import demo_settings, fresh_data_dir
from proxbalance.sim import SimServer
from proxbalance.store import Store
from tests.collector.conftest import sim_settings


def test_busy_port_is_a_one_line_error(capsys):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen(1)
        port = s.getsockname()[1]
        assert main(["demo", "--port", str(port)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and f"port {port} is already in use" in err


def test_demo_settings_honour_config_and_environment(tmp_path):
    cfg = tmp_path / "c.toml"
    cfg.write_text("[thresholds]\ncpu_percent = 42.0\n[proxmox]\nhost = 'ignored.example'\n")

    class FakeSim:
        host, port, token_user, token_name, token_value, ca_file = "127.0.0.1", 1, "u@pve", "t", "s", "/x.pem"

    s = demo_settings(FakeSim(), tmp_path, "pb_demo_x", config=str(cfg),
                      env={"PROXBALANCE_RATELIMIT_READ_PER_MINUTE": "7"})
    assert s["thresholds.cpu_percent"] == 42.0 and s["ratelimit.read_per_minute"] == 7
    assert s["proxmox.host"] == "127.0.0.1"  # what the demo sets itself wins


def test_demo_data_is_not_called_stale_on_the_simulators_clock(tmp_path):
    """Collections run every 10 real seconds while ages are simulated seconds (60x): the stale limit must be
    three of those intervals on the simulated clock, or the demo's health says data_stale forever."""
    sim = SimServer(scenario="demo", seed=0, speed=60.0).start()
    try:
        s = demo_settings(sim, tmp_path, "pb_demo_x")
    finally:
        sim.stop()
    assert s["collection.stale_after_seconds"] == 3 * s["collection.interval_seconds"] * 60.0


def test_a_restarted_demo_starts_on_a_fresh_database(tmp_path):
    (tmp_path / "proxbalance.sqlite").write_text("old")
    (tmp_path / "keep.txt").write_text("mine")
    fresh_data_dir(tmp_path)
    assert not (tmp_path / "proxbalance.sqlite").exists() and (tmp_path / "keep.txt").exists()


def test_an_unfinished_backfill_is_retried(tmp_path):
    sim = SimServer(scenario="demo", seed=0, stepped=True).start()
    try:
        settings = sim_settings(sim, tmp_path / "data")  # backfill off: like a cycle whose backfill was killed
        store = Store.open(settings)
        collect_once(settings, store, now=sim.now())
        sim.advance(60)
        again = collect_once(settings.replace(collection__backfill=True), store, now=sim.now())
        assert again.backfill_calls > 0 and again.backfill_rows > 0  # no gap, but it never finished: retried
        sim.advance(60)
        third = collect_once(settings.replace(collection__backfill=True), store, now=sim.now())
        assert third.backfill_calls == 0  # finished once: not again
        store.close()
    finally:
        sim.stop()
