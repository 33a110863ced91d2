"""Unit conversion from a snapshot built by hand: bytes, cores and fractions land where docs/engine.md says."""

import numpy as np

from proxbalance.engine import PenaltyConfig, build_arrays
from proxbalance.engine.arrays import CFG, CNT, CPU, IOW, MEM, NET
from proxbalance.model import ClusterSnapshot, Guest, Node, UsageHistory, UsageStats

GIB = 1024**3
MIB = 1024**2


def test_units_from_a_hand_built_snapshot():
    node = Node(name="pve1", online=True, maxcpu=32, cpu=0.25, maxmem=128 * GIB, mem=40 * GIB, iowait=0.05,
                netin=1e6, netout=2e6)
    vm = Guest(vmid=100, name="vm", type="qemu", node="pve1", status="running", maxcpu=4, cpu=0.5,
               maxmem=16 * GIB, mem=6 * GIB, diskread=50 * MIB, diskwrite=50 * MIB, netin=3e5, netout=1e5)
    stopped = Guest(vmid=101, name="off", type="lxc", node="pve1", status="stopped", maxcpu=2, cpu=0.0,
                    maxmem=4 * GIB, mem=0)
    snap = ClusterSnapshot(time=0.0, nodes=(node,), guests=(vm, stopped))
    cfg = PenaltyConfig.from_dict({"mem_safety_margin": 0.25, "iowait_pct_per_100mbs": 5.0})
    hist = UsageHistory(guests={100: {"cpu": UsageStats(1.0, 1.5, 3.5, 0.1), "mem": UsageStats(5 * GIB, 4 * GIB, 9 * GIB, 0.0)}},
                        nodes={"pve1": {"cpu": UsageStats(7.0, 6.0, 20.0, 0.0)}})
    a = build_arrays(snap, hist, cfg)
    g = a.g["now"]
    assert g[0, CPU] == 2.0, "cores busy = cpu fraction x maxcpu"
    assert g[0, MEM] == 6 * GIB, "memory used on the host (mem), not the configured maxmem"
    assert g[0, CFG] == 16 * GIB and g[0, CNT] == 1.0
    assert np.isclose(g[0, IOW], 0.05), "100 MiB/s of disk traffic = iowait_pct_per_100mbs % = 0.05"
    assert g[0, NET] == 4e5
    assert (g[1, [CPU, MEM, CFG]] == 0).all() and g[1, CNT] == 1.0, "a stopped guest loads nothing"
    w = (cfg.weight_current, cfg.weight_24h, cfg.weight_7d)
    assert np.isclose(a.g["blend"][0, CPU], w[0] * 2.0 + w[1] * 1.0 + w[2] * 1.5)
    assert a.g["max7"][0, CPU] == 3.5 and a.g["max7"][0, MEM] == 9 * GIB
    assert a.mem_hard[0] == 6 * GIB + 0.25 * 10 * GIB and a.mem_hard[1] == 0
    assert a.copy_bytes[0] == 6 * GIB, "a running VM copies its used memory"
    assert tuple(a.cap[0, [CPU, MEM]]) == (32, 128 * GIB)
    assert a.n["now"][0, CPU] == 8.0 and a.n["now"][0, MEM] == 40 * GIB and a.n["now"][0, IOW] == 0.05
    assert a.n["now"][0, NET] == 3e6
    # the node's own 7-day maximum, not the sum of its guests' maxima
    assert a.n["max7"][0, CPU] == 20.0
    assert a.n["max7"][0, MEM] == 40 * GIB, "no node history for memory: its current value"


def test_singleton_members_read_like_the_list():
    import numpy as np
    import pytest

    from proxbalance.engine.units import Singletons

    want = [np.array([i]) for i in range(5)]
    got = Singletons(5)
    assert len(got) == 5
    for i in (*range(5), -1, np.int64(3)):
        np.testing.assert_array_equal(got[i], want[i])
        assert got[i].dtype == want[i].dtype
    assert [x.tolist() for x in got[1:4]] == [x.tolist() for x in want[1:4]]
    with pytest.raises(IndexError):
        got[5]
