"""build_arrays keeps the per-guest columns of the last snapshot's guest tuple (by identity): the same tuple
reuses them, any other tuple is read afresh, and guests on unknown nodes are still left out."""

from __future__ import annotations

import dataclasses

import numpy as np

from proxbalance.engine import arrays as arrays_mod
from proxbalance.engine import build_arrays

from .builders import make_guest, make_node, make_snapshot


def _snap(cpu=0.5):
    return make_snapshot([make_node("pve1"), make_node("pve2")],
                         [make_guest(100, "pve1", cpu=cpu), make_guest(101, "pve2", cpu=0.25, status="stopped")])


def test_same_guest_tuple_reuses_its_columns_and_a_new_one_is_read_afresh():
    s = _snap()
    a1 = build_arrays(s)
    cols = arrays_mod._LAST_COLUMNS[1]
    masked = dataclasses.replace(s, nodes=tuple(dataclasses.replace(n, maintenance=True) for n in s.nodes))
    a2 = build_arrays(masked)  # maintenance flags applied: same guests tuple
    assert arrays_mod._LAST_COLUMNS[1] is cols and a2.maintenance.all()
    assert np.array_equal(a1.g["now"], a2.g["now"])
    b = build_arrays(_snap(cpu=1.0))  # equal-looking but another collection: its own values
    assert arrays_mod._LAST_COLUMNS[1] is not cols
    assert b.g["now"][0, 0] == 2.0 and a1.g["now"][0, 0] == 1.0


def test_guests_on_unknown_nodes_are_left_out_with_kept_columns():
    s = _snap()
    build_arrays(s)
    odd = dataclasses.replace(s, guests=(*s.guests, make_guest(102, "gone")))
    a = build_arrays(odd)
    assert a.vmids.tolist() == [100, 101] and a.names == ["g100", "g101"]
    assert a.running.tolist() == [True, False] and a.running.flags.writeable
