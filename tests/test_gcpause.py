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


def test_a_decision_runs_paused(settings, hot_pve1_store, monkeypatch):
    """recommendations.generate plans with the collector off and leaves it as it found it."""
    from proxbalance import recommendations as svc

    seen = []
    plan = svc.eng.plan
    monkeypatch.setattr(svc.eng, "plan", lambda *a, **k: seen.append(gc.isenabled()) or plan(*a, **k))
    gc.enable()
    assert svc.generate(settings, hot_pve1_store)["recommendations"]
    assert seen == [False] and gc.isenabled()
