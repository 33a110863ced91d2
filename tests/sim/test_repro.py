"""Same scenario, seed, actions and sim time -> identical answers; another seed -> different ones."""

from __future__ import annotations

from proxbalance.sim import SimServer
from tests.sim.conftest import client


def session(seed: int) -> list:
    with SimServer(scenario="demo", seed=seed, stepped=True) as sim:
        px = client(sim)
        vm = next(r for r in px.cluster.resources.get(type="vm")
                  if r["type"] == "qemu" and r["status"] == "running" and "hastate" not in r)
        target = next(n["node"] for n in px.nodes.get() if n["node"] != vm["node"])
        sim.advance(123)
        upid = px.nodes(vm["node"]).qemu(vm["vmid"]).migrate.post(target=target, online=1, **{"with-local-disks": 1})
        sim.advance(45)
        out = [px.cluster.resources.get(), px.nodes(vm["node"]).tasks(upid).log.get(), upid]
        sim.advance(3600)
        out += [px.cluster.resources.get(), px.nodes("pve1").rrddata.get(timeframe="hour"),
                px.nodes("pve2").rrddata.get(timeframe="day", cf="MAX"),
                px.nodes(target).qemu(vm["vmid"]).rrddata.get(timeframe="hour"),
                px.nodes(vm["node"]).tasks(upid).status.get(), px.cluster.ha.status.current.get()]
        return out


def test_same_inputs_same_answers():
    a, b = session(0), session(0)
    assert a == b
    c = session(1)
    assert c[0] != a[0]
