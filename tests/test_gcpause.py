"""gc_paused: the collector is off inside, back to its previous state after (nested and threaded pauses)."""

import gc
import threading

import pytest

from proxbalance.gcpause import gc_paused


@pytest.fixture(autouse=True)
def _restore_gc():
    was = gc.isenabled()
    yield
    (gc.enable if was else gc.disable)()


def test_paused_inside_and_restored():
    gc.enable()
    with gc_paused():
        assert not gc.isenabled()
        with gc_paused():
            assert not gc.isenabled()
        assert not gc.isenabled()  # the outer pause still runs
    assert gc.isenabled()


def test_restored_after_an_exception():
    gc.enable()
    with pytest.raises(RuntimeError), gc_paused():
        raise RuntimeError("boom")
    assert gc.isenabled()


def test_a_disabled_collector_stays_disabled():
    gc.disable()
    with gc_paused():
        pass
    assert not gc.isenabled()


def test_overlapping_pauses_in_threads():
    gc.enable()
    inside, release = threading.Event(), threading.Event()

    def other():
        with gc_paused():
            inside.set()
            release.wait(5)

    t = threading.Thread(target=other)
    t.start()
    inside.wait(5)
    with gc_paused():
        pass
    assert not gc.isenabled()  # the thread's pause has not ended
    release.set()
    t.join(5)
    assert gc.isenabled()


def test_a_decision_runs_paused(settings, store, monkeypatch):
    """recommendations.generate plans with the collector off and leaves it as it found it."""
    from proxbalance import recommendations as svc
    from proxbalance.model import ClusterSnapshot, Guest, Node
    from proxbalance.store.snapshots import save_snapshot

    gib = 1024**3
    guests = tuple(Guest(vmid=100 + i, name=f"vm{i}", type="qemu", node="pve1", status="running", maxcpu=4,
                         cpu=0.9, maxmem=6 * gib, mem=6 * gib) for i in range(8))
    nodes = (Node(name="pve1", online=True, maxcpu=16, cpu=1.0, maxmem=64 * gib, mem=50 * gib),
             Node(name="pve2", online=True, maxcpu=16, cpu=0.0, maxmem=64 * gib, mem=2 * gib))
    with store.engine.begin() as conn:
        save_snapshot(conn, ClusterSnapshot(time=1_800_000_000.0, nodes=nodes, guests=guests))
    seen = []
    plan = svc.eng.plan
    monkeypatch.setattr(svc.eng, "plan", lambda *a, **k: seen.append(gc.isenabled()) or plan(*a, **k))
    gc.enable()
    assert svc.generate(settings, store)["recommendations"]
    assert seen == [False] and gc.isenabled()
