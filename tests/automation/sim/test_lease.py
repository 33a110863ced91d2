"""One cycle at a time (store lease), recovery from a killed cycle, and the pause after failures."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time

import pytest

from proxbalance.errors import ConflictError
from proxbalance.executor.migrations import list_migrations
from proxbalance.sim import faults
from proxbalance.store import automation as repo
from proxbalance.store import leases
from tests.automation.servers import HttpReceiver
from tests.automation.simfix import collect, config_file, cycle


def test_two_cycles_started_at_once_one_runs_one_is_refused(sim, asettings, astore):
    s = asettings.replace(automation__dry_run=True)
    barrier = threading.Barrier(2)
    results: list = []

    def go():
        barrier.wait()
        try:
            results.append(cycle(sim, s, astore))
        except ConflictError as exc:
            results.append(exc)

    threads = [threading.Thread(target=go) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    refused = [r for r in results if isinstance(r, ConflictError)]
    ran = [r for r in results if isinstance(r, dict)]
    assert len(refused) == 1 and len(ran) == 1
    assert refused[0].code == "cycle_running" and refused[0].status == 409
    assert repo.cycles(astore.engine)[1] == 1  # the refused one left no trace
    assert leases.current(astore.engine, "automation-cycle") is None  # released after the run


def test_a_cycle_killed_mid_way_recovers(sim, asettings, astore, tmp_path):
    collect(sim, asettings, astore)
    conf = config_file(tmp_path, asettings, lease_seconds=3)
    faults.apply(sim, "api_fault", {"prefix": "/cluster/resources", "latency_ms": 20000}, sim.now())  # hangs
    proc = subprocess.Popen([sys.executable, "-m", "proxbalance.cli", "--config", conf, "automigrate"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env={**os.environ})
    try:
        deadline = time.time() + 60
        while not (leases.current(astore.engine, "automation-cycle") and repo.cycles(astore.engine)[1]):
            assert time.time() < deadline and proc.poll() is None, proc.stderr.read() if proc.poll() else "slow"
            time.sleep(0.1)
        proc.send_signal(signal.SIGKILL)
        proc.wait(10)
    finally:
        if proc.poll() is None:
            proc.kill()
    faults.apply(sim, "api_clear", {}, sim.now())
    assert repo.cycles(astore.engine)[0][0]["status"] == "running"  # it died mid-way
    s = asettings.replace(automation__lease_seconds=3)
    with pytest.raises(ConflictError):  # its lease is still held right after the kill
        cycle(sim, s, astore)
    deadline = time.time() + 10
    while leases.current(astore.engine, "automation-cycle") is not None:  # a dead holder's lease expires
        assert time.time() < deadline
        time.sleep(0.2)
    out = cycle(sim, s, astore)
    assert out["status"] in ("ok", "idle")
    rows, _ = repo.cycles(astore.engine)
    assert [r["status"] for r in rows][-1] == "crashed" and "killed" in rows[-1]["error"]
    assert list_migrations(astore)[1] == out["summary"]["executed"]  # nothing started twice or in limbo


def test_pause_after_consecutive_failures_until_an_admin_resumes(sim, asettings, astore):
    http = HttpReceiver()
    try:
        s = asettings.replace(automation__pause_after_failures=1, automation__max_concurrent=1,
                              notifications__enabled=True, notifications__urls=[http.url()],
                              notifications__events=["migration_started", "migration_failed", "automation_paused",
                                                     "cycle_summary"])
        first = next(r for r in cycle(sim, s, astore, test=True)["verdicts"] if r["verdict"] == "dry_run")
        faults.apply(sim, "fail_migration", {"vmid": first["vmid"], "count": 5}, sim.now())
        out = cycle(sim, s, astore)
        assert by_verdict(out, "executed") == [first["vmid"]]
        sim.advance(1800)
        out = cycle(sim, s, astore)  # sees the failure, pauses, holds everything
        assert out["summary"]["executed"] == 0 and {r["gate"] for r in out["verdicts"]} == {"paused"}
        assert repo.get_state(astore.engine, "paused")["failures"] == 1
        titles = [m["title"] for _, _, m in http.received]
        assert f"ProxBalance: migration of {first['vmid']} FAILED" in titles
        assert "ProxBalance automation PAUSED" in titles
        sim.advance(900)
        again = cycle(sim, s, astore)  # persisted: still paused a cycle later, no second pause message
        assert {r["gate"] for r in again["verdicts"]} == {"paused"}
        assert titles.count("ProxBalance automation PAUSED") == 1
        from proxbalance.automation_outcomes import resume
        resume(astore, sim.now())
        sim.advance(900)
        after = cycle(sim, s, astore)
        assert "paused" not in {r["gate"] for r in after["verdicts"]}
    finally:
        http.close()


def by_verdict(out, verdict):
    return [r["vmid"] for r in out["verdicts"] if r["verdict"] == verdict]
