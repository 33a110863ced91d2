"""A batch of 10 in dependency order with per-node and cluster in-flight limits, checked from the
simulator's own task timestamps (the witness), plus ordering unit cases."""

from __future__ import annotations

from proxbalance.executor import batch as bx
from tests.executor.conftest import sim_migration_tasks

MOVES = [(121, "n3"), (122, "n2"), (123, "n4"), (124, "n2"), (120, "n4"), (125, "n2"), (126, "n4"),
         (127, "n2"), (128, "n4"), (129, "n2")]


def test_dependency_order_unit():
    moves = [{"source_node": "a", "target_node": "b"}, {"source_node": "b", "target_node": "c"},
             {"source_node": "c", "target_node": "d"}]
    order, deps = bx.dependency_order(moves)
    assert order == [2, 1, 0]  # c->d frees c for b->c, which frees b for a->b
    assert deps == {0: {1}, 1: {2}, 2: set()}
    swap = [{"source_node": "a", "target_node": "b"}, {"source_node": "b", "target_node": "a"}]
    order, deps = bx.dependency_order(swap)
    assert order == [0, 1] and deps == {0: set(), 1: set()}  # a cycle keeps its order, memory decides


def test_batch_of_ten_in_dependency_order_within_limits(ctx, sim, settings):
    ctx.settings = settings.replace(executor__max_in_flight_per_node=2, executor__max_in_flight_cluster=3)
    b = bx.create_batch(ctx, [{"vmid": v, "target_node": t} for v, t in MOVES], actor="test")
    order = [m["vmid"] for m in b["moves"]]
    assert order.index(125) < order.index(123)  # out of n4 before into n4
    assert order.index(120) < order.index(121)  # out of n3 before into n3
    done = bx.run_batch(ctx, b["batch_id"])
    assert done["state"] == "completed", done["moves"]
    for v, t in MOVES:
        assert sim.cluster.guest(v).node == t
    tasks = {int(t.id): t for t in sim_migration_tasks(sim)}
    assert sorted(tasks) == sorted(v for v, _ in MOVES)  # each exactly once
    # dependencies: every move into a node started after the moves out of it ended
    for m in done["moves"]:
        for dep in m["after"]:
            assert tasks[dep].end <= tasks[m["vmid"]].starttime + 1, (dep, m["vmid"])
    # limits at every task start instant (sim timestamps)
    spans = [(t.starttime, t.end, {src, dst}) for v, dst in MOVES for t in [tasks[v]]
             for src in [next(m["source_node"] for m in done["moves"] if m["vmid"] == v)]]
    for start, _, _ in spans:
        live = [s for s in spans if s[0] <= start < s[1]]
        assert len(live) <= 3
        for node in ("n1", "n2", "n3", "n4"):
            assert sum(node in s[2] for s in live) <= 2, (start, node)


def test_batch_stops_on_first_failure(ctx, sim, settings):
    from tests.sim.conftest import admin
    ctx.settings = settings.replace(executor__max_in_flight_per_node=1, executor__max_in_flight_cluster=1)
    admin(sim, "POST", "guests/122/fail-migration", count=1)
    b = bx.create_batch(ctx, [{"vmid": 122, "target_node": "n2"}, {"vmid": 124, "target_node": "n2"}],
                        actor="test")
    done = bx.run_batch(ctx, b["batch_id"])
    assert done["state"] == "failed"
    status = {m["vmid"]: m["status"] for m in done["moves"]}
    assert status == {122: "failed", 124: "skipped"}
    assert [int(t.id) for t in sim_migration_tasks(sim)] == [122]
