"""Properties of the in-process cluster model (no HTTP): conservation of load across nodes and moves."""

from __future__ import annotations

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from proxbalance.sim import load, migrate
from proxbalance.sim.scenarios import build, load_scenario
from proxbalance.sim.tasks import TaskManager
from proxbalance.sim.traces import Trace
from tests.sim.conftest import SMALL

TRACE = Trace.load()


def fresh():
    return build(load_scenario("demo"), 0, TRACE, 1.0, True)


def per_node(c, values):
    node_of, _, _ = c.placement()
    return np.bincount(node_of, weights=values, minlength=len(c.nodes))


def check_conservation(c, s):
    ovh_cpu = load.overhead_cpu(c.cores)
    ovh_mem = load.overhead_mem(c.memory)
    np.testing.assert_allclose(s.node_cpu_used, np.minimum(per_node(c, s.guest_cpu) + ovh_cpu, c.cores),
                               rtol=1e-9)
    np.testing.assert_allclose(s.node_mem_demand, per_node(c, s.guest_mem) + ovh_mem, rtol=1e-9)
    assert (s.guest_cpu <= s.guest_demand + 1e-9).all()
    assert (s.node["cpu"] <= 1.0 + 1e-12).all()
    assert (s.guest_cpu[~s.active] == 0).all()


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(moves=st.lists(st.tuples(st.integers(0, 59), st.integers(0, 4), st.integers(0, 7200)), max_size=8))
def test_load_is_conserved_under_moves(moves):
    c = fresh()
    n_guests, vmids = len(c.guests), sorted(g.vmid for g in c.guests)
    for gi, ni, dt in moves:
        c.advance(dt)
        t = c.now()
        before = c.snapshot(at=t)
        check_conservation(c, before)
        g = c.guests[gi]
        src, dst = c.node_index[g.node], ni
        c.move_guest(g, c.nodes[ni].name, t)
        after = c.snapshot(at=t)
        check_conservation(c, after)
        # a move carries exactly the guest's demand from source to target; nothing else changes
        node_of = c.placement()[0]
        dem_a = np.bincount(node_of, weights=after.guest_demand, minlength=len(c.nodes))
        node_of[gi] = src
        dem_b = np.bincount(node_of, weights=before.guest_demand, minlength=len(c.nodes))
        delta = dem_a - dem_b
        expect = np.zeros(len(c.nodes))
        expect[src] -= before.guest_demand[gi]
        expect[dst] += before.guest_demand[gi]
        np.testing.assert_allclose(delta, expect, atol=1e-9)
        np.testing.assert_allclose(after.guest_demand, before.guest_demand, rtol=1e-12)
        np.testing.assert_allclose(after.guest_mem.sum(), before.guest_mem.sum(), rtol=1e-12)
    assert len(c.guests) == n_guests and sorted(g.vmid for g in c.guests) == vmids


@settings(max_examples=15, deadline=None)
@given(vmid=st.sampled_from([100, 106, 110, 111]), target=st.sampled_from(["n2", "n4"]),
       wait=st.integers(0, 400))
def test_migration_task_moves_guest_only_at_the_end(vmid, target, wait):
    c = build(load_scenario(SMALL), 0, TRACE, 1.0, True)
    tm = TaskManager(c)
    g = c.guest(vmid)
    t = c.now()
    task = migrate.start_migration(c, tm, g, target, t, "root@pam", online=g.status == "running")
    c.advance(wait)
    s = c.snapshot()
    check_conservation(c, s)
    if task.running(c.now()):
        assert g.node == "n1" and g.lock == "migrate"
    else:
        assert g.node == target and g.lock is None and task.exitstatus == "OK"
    c.advance(3600)
    assert g.node == target and g.lock is None
    assert sum(1 for x in c.guests if x.vmid == vmid) == 1
