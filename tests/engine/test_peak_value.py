"""Every planned move is worth its migration: positive score improvement (peak credit included), confidence > 0,
and a peak step that does not pay for what it copies is not taken."""

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from proxbalance.engine import PenaltyConfig, build_arrays, plan
from proxbalance.engine.peak import peak_phase
from proxbalance.engine.planner import Search
from proxbalance.engine.units import group_units
from proxbalance.model import Disk

from .builders import make_guest, make_node, make_snapshot, random_history, random_snapshot

GIB = 1024**3


def assert_every_move_pays(p):
    """Lead moves (companions carry 0 on purpose; maintenance evacuations are required whatever they gain)."""
    for r in p.recommendations:
        if r.reason in ("companion", "maintenance"):
            continue
        assert r.score_improvement > 0, (r.vmid, r.reason, r.score_improvement, r.breakdown)
        assert r.confidence_score > 0, (r.vmid, r.reason, r.score_improvement)
        assert r.reason != "affinity" or r.breakdown["affinity"]["gain"] > 0, (r.vmid, r.breakdown)
        assert "peak" in r.breakdown
        assert np.isclose(sum(x["gain"] for x in r.breakdown.values()), r.score_improvement, atol=0.05)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 2**32 - 1), n_nodes=st.integers(2, 6), n_guests=st.integers(1, 24),
       min_gain=st.sampled_from([1.0, 10.0]), budget=st.integers(0, 6), low=st.booleans())
def test_no_plan_move_with_non_positive_value(seed, n_nodes, n_guests, min_gain, budget, low):
    rng = np.random.default_rng(seed)
    snap = random_snapshot(rng, n_nodes, n_guests)
    extra = {"cpu_threshold": 20.0, "mem_threshold": 20.0} if low else {}  # peak phase busy
    cfg = PenaltyConfig.from_dict({"min_score_improvement": min_gain, **extra})
    assert_every_move_pays(plan(build_arrays(snap, random_history(rng, snap), cfg), cfg, max_moves=budget))


def _hot_cluster(disk_gib: float):
    """Node a hot with pinned load plus one light guest (optionally with a huge local disk); b and c cold."""
    nodes = [make_node("a"), make_node("b"), make_node("c")]
    guests = [make_guest(100 + i, "a", cores=4, cpu=0.9, mem_gib=8, tags=("pinned",)) for i in range(3)]
    disks = (Disk("scsi0", "local-lvm", int(disk_gib * GIB)),) if disk_gib else ()
    guests.append(make_guest(200, "a", cores=1, cpu=0.8, mem_gib=0.5, disks=disks))  # 0.8 / 16 cores = 5 % CPU
    return make_snapshot(nodes, guests)


@pytest.mark.parametrize("disk_gib, taken", [(0, True), (2048, False)])
def test_peak_step_must_pay_for_its_migration(disk_gib, taken):
    """Moving vm 200 lowers the peak by 5 points (50 points of peak credit): worth it for 0.5 GiB,
    not for 2 TiB (about 2,600 points of migration cost)."""
    cfg = PenaltyConfig.from_dict({"min_score_improvement": 5.0})
    a = build_arrays(_hot_cluster(disk_gib), cfg=cfg)
    ua, _ = group_units(a)
    s = Search(ua, cfg, 10)
    steps = peak_phase(s, cfg.peak_min_step_pct, 10)
    assert (steps > 0) == taken
    p = plan(a, cfg)
    assert bool(p.recommendations) == taken
    assert_every_move_pays(p)
    if taken:
        r = p.recommendations[0]
        assert r.breakdown["peak"]["gain"] > 0 and r.reason == "overload"
    if not taken:  # the same step is taken once the peak is worth more than the copy
        assert plan(a, cfg.replace(peak_weight=1e4)).recommendations


def test_peak_min_step_is_respected():
    """A step below peak_min_step_pct is not taken however much it is worth."""
    cfg = PenaltyConfig.from_dict({"min_score_improvement": 1.0, "peak_weight": 1e4, "peak_min_step_pct": 10.0})
    ua, _ = group_units(build_arrays(_hot_cluster(0), cfg=cfg))
    assert peak_phase(Search(ua, cfg, 10), cfg.peak_min_step_pct, 10) == 0
