"""``proxbalance collect`` and the in-process scheduler."""

from __future__ import annotations

import json

from proxbalance.cli import main
from proxbalance.store.snapshots import latest_snapshot


def _env(monkeypatch, sim, tmp_path, port=None):
    for k, v in {"PROXBALANCE_PROXMOX_HOST": sim.host, "PROXBALANCE_PROXMOX_PORT": str(port or sim.port),
                 "PROXBALANCE_PROXMOX_TOKEN_ID": sim.token_id, "PROXBALANCE_PROXMOX_TOKEN_SECRET": sim.token_value,
                 "PROXBALANCE_PROXMOX_CA_FILE": sim.ca_file, "PROXBALANCE_PROXMOX_RETRIES": "0",
                 "PROXBALANCE_PATHS_DATA_DIR": str(tmp_path / "cli"),
                 "PROXBALANCE_CONFIG": str(tmp_path / "none.toml")}.items():
        monkeypatch.setenv(k, v)
    (tmp_path / "none.toml").write_text("")


def test_collect_command(monkeypatch, sim, tmp_path, capsys):
    _env(monkeypatch, sim, tmp_path)
    assert main(["collect", "--no-backfill"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("snapshot 1: 5 nodes, 60 guests") and out.count("\n") == 1
    assert main(["collect", "--json", "--no-backfill"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["success"] and data["snapshot_id"] == 2 and data["api_calls"] <= 4 * 5 + 10
    assert sim.token_value not in out


def test_collect_command_fails_when_cluster_unreachable(monkeypatch, sim, tmp_path, capsys):
    _env(monkeypatch, sim, tmp_path, port=1)
    assert main(["collect"]) == 1
    assert "nothing written" in capsys.readouterr().err


def test_in_process_scheduler_collects(sim, settings, store):
    import time

    from proxbalance.api import create_app
    on = settings.replace(collection__in_process=True)
    app = create_app(on, store, clock=sim.now)  # collections on simulated time (what the demo does)
    sched = app.extensions["proxbalance_scheduler"]
    try:
        for _ in range(100):
            if latest_snapshot(store.engine) is not None:
                break
            time.sleep(0.05)
        snap = latest_snapshot(store.engine)
        assert snap is not None
    finally:
        sched.shutdown(wait=True)
    assert snap.time == sim.now()  # stepped sim: its clock stands still, far from the wall clock
    assert "proxbalance_scheduler" not in create_app(settings, store).extensions
