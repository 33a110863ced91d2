"""Each gate fires on a hand-built situation, and passes when the situation is fine (pure functions)."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from proxbalance import automation_gates as gates
from proxbalance.automation_gates import Candidate, Facts, PastMove
from proxbalance.config import load_settings
from proxbalance.model import ClusterSnapshot, Guest, Node
from proxbalance.periods import parse_period
from proxbalance.store.automation import Streak, next_streaks

GIB = 2**30
NOW = datetime(2026, 3, 6, 12, 0, tzinfo=ZoneInfo("UTC")).timestamp()  # a Friday, noon UTC


def node(name, cpu=0.2, mem=0.3, **kw):
    return Node(name=name, online=True, maxcpu=32, cpu=cpu, maxmem=128 * GIB, mem=int(mem * 128 * GIB), **kw)


def guest(vmid=100, node="pve1", tags=(), **kw):
    return Guest(vmid=vmid, name=f"g{vmid}", type="qemu", node=node, status="running", maxcpu=4, cpu=0.5,
                 maxmem=8 * GIB, mem=4 * GIB, tags=tuple(tags), **kw)


def snap(nodes=None, guests=None, **kw):
    return ClusterSnapshot(time=NOW - 30, nodes=tuple(nodes or (node("pve1", 0.8), node("pve2"))),
                           guests=tuple(guests or (guest(),)), **kw)


def facts(**kw):
    base = dict(now=NOW, snapshot=snap(), snapshot_age=30.0,
                streaks={100: Streak(100, "pve2", 5, NOW - 3600, 9)})
    base.update(kw)
    return Facts(**base)


CAND = Candidate(vmid=100, name="g100", source="pve1", target="pve2", confidence=90)


def conf(**kw):
    """Settings with automation on and live, so only the gate under test can fire."""
    values = {"automation.enabled": True, "automation.dry_run": False, **{k.replace("__", "."): v
                                                                          for k, v in kw.items()}}
    return load_settings(env={}, overrides=values)


def fired(c=CAND, f=None, s=None):
    return [v.gate for v in gates.evaluate(c, f or facts(), s or conf())]


def test_a_good_candidate_passes_every_gate():
    assert fired() == []


def test_enabled_is_off_by_default_and_dry_run_on():
    s = load_settings(env={})
    assert s["automation.enabled"] is False and s["automation.dry_run"] is True
    assert fired(s=s)[0] == "enabled"


@pytest.mark.parametrize("windows, tz, open_", [
    (["mon-fri 11:00-13:00"], "UTC", True),
    (["mon-fri 13:00-14:00"], "UTC", False),
    (["sat,sun 00:00-00:00"], "UTC", False),
    (["22:00-06:00"], "UTC", False),
    (["22:00-06:00"], "Pacific/Auckland", True),  # 01:00 Saturday there: inside the night window
    (["fri 22:00-06:00"], "Pacific/Auckland", True),  # started Friday evening, crossed midnight
    (["sat 22:00-06:00"], "Pacific/Auckland", False),  # Saturday's window starts Saturday evening
    (["thu 22:00-13:00"], "UTC", True),  # Thursday 22:00 to Friday 13:00
])
def test_window(windows, tz, open_):
    s = conf(automation__windows=windows, automation__timezone=tz)
    assert ("window" not in fired(s=s)) == open_


@pytest.mark.parametrize("blackouts, blocked", [
    (["2026-03-06"], True),
    (["2026-03-01..2026-03-07"], True),
    (["2026-03-07"], False),
    (["2026-03-06 11:30-12:30"], True),
    (["fri 12:01-13:00"], False),
    (["thu 23:00-12:01"], True),  # crosses midnight into Friday
])
def test_blackout(blackouts, blocked):
    assert ("blackout" in fired(s=conf(automation__blackouts=blackouts))) == blocked


def test_period_parser_rejects_nonsense():
    for bad in ("25:00-01:00", "mon-xyz 10:00-11:00", "10:00", "2026-02-30", "monday 10:00-11:00"):
        with pytest.raises(ValueError):
            parse_period(bad, allow_dates=True)
    with pytest.raises(ValueError, match="blackouts only"):
        parse_period("2026-03-06")


@pytest.mark.parametrize("change, why", [
    (dict(snapshot=snap(quorate=False)), "no quorum"),
    (dict(snapshot_age=3600.0), "min old"),
    (dict(snapshot=snap(nodes=(node("pve1", 0.8), node("pve2"), Node("pve3", False, 8, 0, GIB, 0)))), "pve3"),
    (dict(snapshot=snap(nodes=(node("pve1", 0.8), node("pve2", reachable=False)))), "pve2"),
])
def test_cluster_health(change, why):
    v = gates.gate_cluster_health(CAND, facts(**change), conf())
    assert v is not None and why in v.reason


def test_an_offline_bystander_is_tolerated_when_allowed():
    f = facts(snapshot=snap(nodes=(node("pve1", 0.8), node("pve2"), Node("pve3", False, 8, 0, GIB, 0))))
    assert gates.gate_cluster_health(CAND, f, conf(automation__require_all_nodes_online=False)) is None


def test_running_migrations_and_limits():
    assert "in_flight" in fired(f=facts(running_migrations=1))  # someone else's migration is running
    s = conf(automation__max_concurrent=4, automation__max_migrations_per_run=2)
    assert fired(f=facts(running_migrations=1, started=1), s=s) == []
    assert fired(f=facts(started=2), s=s) == ["max_per_cycle"]
    assert fired(f=facts(running_migrations=3, started=1), s=s) == ["in_flight"]


def test_observation_needs_k_cycles_over_t_minutes():
    s = conf(automation__observation_cycles=3, automation__observation_minutes=30)
    ok = {100: Streak(100, "pve2", 3, NOW - 1800, 9)}
    assert "observation" not in fired(f=facts(streaks=ok), s=s)
    assert "observation" in fired(f=facts(streaks={100: Streak(100, "pve2", 2, NOW - 7200, 9)}), s=s)  # too few
    assert "observation" in fired(f=facts(streaks={100: Streak(100, "pve2", 9, NOW - 600, 9)}), s=s)  # too quick
    assert "observation" in fired(f=facts(streaks={100: Streak(100, "pve3", 9, NOW - 7200, 9)}), s=s)  # elsewhere
    assert "observation" in fired(f=facts(streaks={}), s=s)


def test_streaks_continue_only_over_consecutive_cycles_to_the_same_target():
    old = {100: Streak(100, "pve2", 2, 10.0, 7), 101: Streak(101, "pve2", 4, 10.0, 7), 102: Streak(102, "x", 1, 1, 7)}
    new = next_streaks(old, {100: "pve2", 101: "pve3"}, cycle_id=8, previous_cycle=7, now=99.0)
    assert new[100] == Streak(100, "pve2", 3, 10.0, 8)
    assert new[101] == Streak(101, "pve3", 1, 99.0, 8)  # target changed: starts over
    assert 102 not in new  # not recommended: forgotten
    gap = next_streaks(old, {100: "pve2"}, cycle_id=9, previous_cycle=8, now=99.0)
    assert gap[100].count == 1  # cycle 8 did not recommend it


def test_cooldown_grows_with_repeated_moves():
    s = conf(automation__cooldown_minutes=60, automation__cooldown_growth=2)
    one = [PastMove(100, "pve3", "pve1", NOW - 90 * 60)]
    assert "cooldown" not in fired(f=facts(moves=one), s=s)  # 90 min > 60 min
    two = [PastMove(100, "pve2", "pve3", NOW - 10 * 3600), *one]
    v = gates.gate_cooldown(CAND, facts(moves=two), s)
    assert v is not None and "cooldown 120 min" in v.reason  # second move in the lookback: 2 x 60
    assert gates.cooldown_seconds(3, s) == 4 * 3600
    failed = [PastMove(100, "pve3", "pve1", NOW - 60, state="failed")]
    assert "cooldown" not in fired(f=facts(moves=failed), s=s)


def test_no_return_to_a_node_left_within_h_hours():
    s = conf(automation__no_return_hours=24, automation__cooldown_minutes=0)
    left = [PastMove(100, "pve2", "pve1", NOW - 5 * 3600)]
    assert fired(f=facts(moves=left), s=s) == ["no_return"]
    old = [PastMove(100, "pve2", "pve1", NOW - 25 * 3600)]
    assert fired(f=facts(moves=old), s=s) == []


def test_min_confidence():
    low = Candidate(vmid=100, name="g", source="pve1", target="pve2", confidence=50)
    assert fired(c=low) == ["min_confidence"]
    assert fired(c=low, s=conf(automation__min_confidence=50)) == []


def test_headroom_on_live_numbers_including_this_cycles_moves():
    hot = snap(nodes=(node("pve1", 0.8), node("pve2", cpu=0.76)))  # 24.3 cores + 2 = 82 %
    assert fired(f=facts(snapshot=hot)) == ["headroom"]
    full = snap(nodes=(node("pve1", 0.8), node("pve2", mem=0.83)))
    assert "memory" in gates.gate_headroom(CAND, facts(snapshot=full), conf()).reason
    assert fired(f=facts(added={"pve2": [20.0, 0.0]})) == ["headroom"]  # what this cycle already sent there


@pytest.mark.parametrize("tags, whitelist, blocked", [
    (("ignore",), False, True),
    (("No-Auto-Migrate",), False, True),
    ((), True, True),
    (("auto-migrate-ok",), True, False),
    (("web",), False, False),
])
def test_tags(tags, whitelist, blocked):
    f = facts(snapshot=snap(guests=(guest(tags=tags),)))
    assert ("tags" in fired(f=f, s=conf(automation__whitelist_mode=whitelist))) == blocked


def test_ha_guests_only_through_a_healthy_ha():
    ha = Candidate(vmid=100, name="g", source="pve1", target="pve2", confidence=90, ha_managed=True)
    assert fired(c=ha, f=facts(ha_states={100: "started"})) == []
    assert fired(c=ha, f=facts(ha_states={100: "error"})) == ["ha_managed"]
    assert fired(c=ha, s=conf(automation__move_ha_guests=False)) == ["ha_managed"]


def test_paused_until_resumed():
    assert fired(f=facts(paused={"since": NOW - 60, "reason": "3 consecutive failures"}))[0] == "paused"


@pytest.mark.parametrize("crs, mode, ha, blocked", [
    ("ha=static,ha-rebalance-on-start=1", "skip_ha", True, True),
    ("ha=static,ha-rebalance-on-start=1", "skip_ha", False, False),
    ("ha=dynamic,ha-auto-rebalance=1", "pause", False, True),
    ("ha=dynamic,ha-auto-rebalance=1", "ignore", True, False),
    ("ha=static", "pause", True, False),
])
def test_crs_auto_rebalance_is_a_conflict(crs, mode, ha, blocked):
    c = Candidate(vmid=100, name="g", source="pve1", target="pve2", confidence=90, ha_managed=ha)
    got = fired(c=c, f=facts(cluster_options={"crs": crs}), s=conf(automation__crs_conflict=mode))
    assert ("crs_conflict" in got) == blocked


def test_maintenance_evacuation_goes_first():
    f = facts(evacuating=True, maintenance_nodes=frozenset({"pve1"}))
    assert fired(f=f) == ["maintenance_priority"]
    evac = Candidate(vmid=100, name="g", source="pve1", target="pve2", confidence=10, kind="evacuation")
    # evacuations skip observation, cooldown, no-return and confidence, never the safety gates
    assert fired(c=evac, f=facts(evacuating=True, streaks={}, moves=[PastMove(100, "pve2", "pve1", NOW - 60)])) == []
    assert fired(c=evac, f=facts(snapshot=snap(quorate=False))) == ["cluster_health"]
    into = facts(maintenance_nodes=frozenset({"pve2"}))
    assert fired(f=into) == ["maintenance_priority"]


def test_guest_moved_or_locked_meanwhile():
    assert fired(f=facts(snapshot=snap(guests=(guest(node="pve2"),)))) == ["guest_state"]
    assert fired(f=facts(snapshot=snap(guests=(guest(lock="backup"),)))) == ["guest_state"]


def test_guest_count_balancing_proposes_the_smallest_guest_from_the_fullest_node():
    from proxbalance.automation_facts import guest_count_candidates

    crowd = tuple(Guest(vmid=200 + i, name=f"c{i}", type="lxc", node="pve1", status="running", maxcpu=1, cpu=0.1,
                        maxmem=GIB, mem=(i + 1) * 2**20) for i in range(12))
    sn = snap(nodes=(node("pve1"), node("pve2"), node("pve3", maintenance=True)), guests=crowd)
    assert guest_count_candidates(sn, conf(), set()) == []  # off by default
    s = conf(automation__balance_guest_count=True, automation__guest_count_max_spread=10)
    [c] = guest_count_candidates(sn, s, set())
    assert (c.vmid, c.source, c.target, c.kind) == (200, "pve1", "pve2", "guest_count")  # never to maintenance
    assert guest_count_candidates(sn, s, {200})[0].vmid == 201  # already a plan candidate: the next one
    assert guest_count_candidates(sn, conf(automation__balance_guest_count=True,
                                           automation__guest_count_max_spread=12), set()) == []
