"""keep_heap: glibc takes the allocator settings once per process; a decision applies them."""

import ctypes.util

import pytest

from proxbalance import memtune

glibc = pytest.mark.skipif("libc" not in (ctypes.util.find_library("c") or ""), reason="needs glibc")


@glibc
def test_keep_heap_applies_once(monkeypatch):
    monkeypatch.setattr(memtune, "_done", None)
    assert memtune.keep_heap() is True
    monkeypatch.setattr(memtune.ctypes, "CDLL", lambda *a: pytest.fail("loaded libc twice"))
    assert memtune.keep_heap() is True


def test_no_mallopt_is_a_no_op(monkeypatch):
    monkeypatch.setattr(memtune, "_done", None)
    monkeypatch.setattr(memtune.ctypes, "CDLL", lambda *a: object())  # a C library without mallopt
    assert memtune.keep_heap() is False


@glibc
def test_a_decision_keeps_the_heap(settings, store, monkeypatch):
    from proxbalance import recommendations as svc
    from proxbalance.model import ClusterSnapshot, Guest, Node
    from proxbalance.store.snapshots import save_snapshot

    gib = 1024**3
    guests = tuple(Guest(vmid=100 + i, name=f"vm{i}", type="qemu", node="pve1", status="running", maxcpu=4,
                         cpu=0.9, maxmem=6 * gib, mem=6 * gib) for i in range(4))
    nodes = (Node(name="pve1", online=True, maxcpu=16, cpu=1.0, maxmem=64 * gib, mem=30 * gib),
             Node(name="pve2", online=True, maxcpu=16, cpu=0.0, maxmem=64 * gib, mem=2 * gib))
    with store.engine.begin() as conn:
        save_snapshot(conn, ClusterSnapshot(time=1_800_000_000.0, nodes=nodes, guests=guests))
    monkeypatch.setattr(memtune, "_done", None)
    svc.generate(settings, store)
    assert memtune._done is True
