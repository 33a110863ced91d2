"""A run's skipped guests are stored as columns (store/plans.py) and read back as the list the API serves."""

from __future__ import annotations

import json

from proxbalance.store import plans


def _skipped():
    return [{"vmid": 100 + i, "reason": ("insufficient_improvement", "pinned", "max_moves_reached")[i % 3],
             "detail": f"best move gains {i % 4:.1f} points"} for i in range(50)]


def test_skipped_round_trips_in_order_and_is_stored_as_columns(store):
    result = {"recommendations": [], "skipped": _skipped(), "skip_reason_breakdown": {"pinned": 17}}
    plans.save_run(store.engine, snapshot_time=1.0, generation_ms=2.0, params={}, result=result)
    run = plans.latest_run(store.engine)
    assert run.result == result and result["skipped"] == _skipped()  # the caller's result is not changed
    with store.engine.connect() as conn:
        stored = json.loads(conn.execute(plans.recommendation_runs.select()).first().result)["skipped"]
    assert stored["vmid"] == [s["vmid"] for s in _skipped()] and len(stored["details"]) == 4
    assert len(stored["reasons"]) == 3


def test_a_run_stored_as_a_list_still_reads(store):
    result = {"recommendations": [], "skipped": _skipped()}
    with store.engine.begin() as conn:
        conn.execute(plans.recommendation_runs.insert().values(created_at=1.0, snapshot_time=1.0, generation_ms=1.0,
                                                               params="{}", result=json.dumps(result)))
    assert plans.latest_run(store.engine).result == result


def test_the_skipped_endpoint_serves_the_stored_list(client, admin_key, store):
    result = {"recommendations": [], "skipped": _skipped(), "skip_reason_breakdown": {"pinned": 17},
              "batch_impact": {}, "conflicts": [], "conflicts_count": 0, "timing_ms": {}, "stats": {}}
    plans.save_run(store.engine, snapshot_time=1.0, generation_ms=2.0, params={}, result=result)
    body = client.get("/api/recommendations/skipped?reason=pinned&limit=5", headers={"X-API-Key": admin_key}).get_json()
    want = [s for s in _skipped() if s["reason"] == "pinned"]
    assert body["skipped"] == want[:5] and body["filtered_count"] == len(want) and body["total_count"] == 50
