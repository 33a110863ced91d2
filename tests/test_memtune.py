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
def test_a_decision_keeps_the_heap(settings, hot_pve1_store, monkeypatch):
    from proxbalance import recommendations as svc

    monkeypatch.setattr(memtune, "_done", None)
    svc.generate(settings, hot_pve1_store)
    assert memtune._done is True
