"""A day of automation cycles on the demo scenario (stepped time): more balanced at the end, no guest moved
twice inside its cooldown, no move undone, every candidate of every cycle explained."""

from __future__ import annotations

import numpy as np

from proxbalance.automation_gates import cooldown_seconds
from proxbalance.executor.migrations import list_migrations, refresh
from proxbalance.sim import SimServer
from proxbalance.store import Store
from proxbalance.store import automation as repo
from proxbalance.store.snapshots import latest_snapshot
from tests.automation.simfix import LIVE, collect, cycle, make_ctx
from tests.collector.conftest import sim_settings

HOURS_BETWEEN_CYCLES = 2  # 12 cycles in the day (a 15-minute timer would be 96: too slow for the test suite)


def cpu_spread(snap) -> float:
    """Standard deviation of node CPU % (points) in a snapshot."""
    return float(np.std([100 * n.cpu for n in snap.nodes if n.online]))


def test_a_day_on_demo_balances_without_ping_pong(tmp_path):
    with SimServer(scenario="demo", seed=0, stepped=True) as sim:
        s = sim_settings(sim, tmp_path / "data", **{
            **LIVE, "automation.observation_cycles": 2, "automation.observation_minutes": 60.0,
            "automation.min_confidence": 50, "automation.max_concurrent": 2, "automation.max_migrations_per_run": 3})
        store = Store.open(s)
        collect(sim, s, store)
        before = cpu_spread(latest_snapshot(store.engine))
        ctx = make_ctx(sim, s, store)
        outs = []
        for _ in range(24 // HOURS_BETWEEN_CYCLES):
            outs.append(cycle(sim, s, store))
            for _ in range(HOURS_BETWEEN_CYCLES * 4):  # let migrations finish, as the next cycle would see
                sim.advance(900)
            for rec in list_migrations(store, states=("started", "pending", "unknown"))[0]:
                refresh(ctx, rec["migration_id"])
        collect(sim, s, store)
        after = cpu_spread(latest_snapshot(store.engine))
        moves, _ = list_migrations(store, origin="automation", limit=None)
        store.close()
    assert moves, "automation never moved anything in a day"
    assert after < before, (before, after)
    per_guest: dict[int, list] = {}
    for m in sorted(moves, key=lambda m: m["created_at"]):
        per_guest.setdefault(m["vmid"], []).append(m)
    for vmid, ms in per_guest.items():
        for i in range(1, len(ms)):
            gap = ms[i]["created_at"] - ms[i - 1]["created_at"]
            assert gap >= cooldown_seconds(i, s), f"guest {vmid} moved again after {gap / 60:.0f} min"
            assert ms[i]["target_node"] != ms[i - 1]["source_node"] or gap >= s["automation.no_return_hours"] * 3600
    # every candidate of every cycle has a verdict with a reason
    for out in outs:
        rows, total = repo.verdicts(store.engine, cycle_id=out["cycle_id"], limit=10000)
        assert total == out["summary"]["candidates"] and all(r["reason"] for r in rows)
