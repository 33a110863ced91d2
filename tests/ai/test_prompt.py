"""The prompt stays bounded on the large scenario, keeps what matters, and anonymises names."""

from __future__ import annotations

import json

import pytest

from proxbalance import engine as eng
from proxbalance.ai import prompt
from proxbalance.config import BY_NAME
from tests.ai.sim_snapshot import sim_snapshot

LIMIT = 16_000  # characters (about 4,000 tokens) for 32 nodes / 2,000 guests with the default settings
TH = {"cpu_pct": 60.0, "mem_pct": 70.0, "mem_limit_pct": 90.0}


@pytest.fixture(scope="module")
def large():
    snap = sim_snapshot("large")
    cfg = eng.PenaltyConfig.from_dict({}, base=eng.load_preset("balanced"))
    arrays = eng.build_arrays(snap, None, cfg)
    return snap, arrays, eng.plan(arrays, cfg).to_dict()


def _summary(user: str) -> dict:
    return json.loads(user.splitlines()[1])


def test_large_scenario_prompt_is_bounded(large):
    snap, arrays, plan = large
    assert len(snap.guests) == 2000 and len(snap.nodes) == 32
    system, user = prompt.build(arrays, plan, cluster_name="large", thresholds=TH, period="24h",
                                max_guests=BY_NAME["ai.max_guests"].default,
                                max_chars=BY_NAME["ai.max_prompt_chars"].default)
    assert len(system) + len(user) < LIMIT
    s = _summary(user)
    assert len(s["nodes"]) == 32 and len(s["hottest_guests"]) == BY_NAME["ai.max_guests"].default
    assert s["engine_plan"]["moves"] and s["engine_plan"]["moves_total"] == len(plan["recommendations"])
    assert s["engine_plan"]["before"]["peak_pct"] is not None
    assert s["constraints"]["anti_affinity"] or s["constraints"]["affinity"] or s["constraints"]["ha_strict"]


def test_tight_budget_lists_fewer_guests(large):
    _, arrays, plan = large
    system, user = prompt.build(arrays, plan, cluster_name="large", thresholds=TH, period="7d", max_guests=200,
                                max_chars=8000)
    assert len(system) + len(user) <= 8000
    s = _summary(user)
    assert 1 <= len(s["hottest_guests"]) < 200 and s["period"] == {"name": "7d", "load": "avg7"}


def test_anonymized_prompt_has_no_guest_names(large):
    snap, arrays, plan = large
    _, user = prompt.build(arrays, plan, cluster_name="large", thresholds=TH, period="24h", max_guests=30,
                           max_chars=24000, anonymize=True)
    s = _summary(user)
    listed = {g["vmid"] for g in s["hottest_guests"]}
    names = {g.name for g in snap.guests if g.vmid in listed}
    assert all(g["name"] == f"guest-{g['vmid']}" for g in s["hottest_guests"])
    assert not any(f'"{n}"' in user for n in names)
    assert all(k.startswith("group-") for k in {**s["constraints"]["anti_affinity"], **s["constraints"]["affinity"]})
