"""Each validation check failing on its own, with a detail that says what is wrong (simulator over HTTPS)."""

from __future__ import annotations

import pytest

from proxbalance.errors import NotFoundError
from proxbalance.executor.maintenance import set_maintenance
from proxbalance.executor.validate import validate_move
from proxbalance.store import migrations_log as mlog
from tests.sim.conftest import admin

NAMES = ["staleness", "guest_state", "resources", "storage", "locks", "affinity", "quorum", "target", "devices"]


def failed(v) -> list[str]:
    return [c.name for c in v.checks if not c.passed]


def test_all_checks_pass_for_a_good_move(ctx):
    v = validate_move(ctx, 100, "n2", source_node="n1")
    assert [c.name for c in v.checks] == NAMES
    assert v.passed, v.to_dict()
    d = v.to_dict()
    assert set(d) == {"passed", "checks", "warnings"}
    assert d["checks"][0] == {"name": "staleness", "passed": True, "detail": d["checks"][0]["detail"]}


def test_staleness_fails_alone(ctx, sim, settings):
    sim.advance(float(settings["thresholds.stale_minutes"]) * 60 + 120)
    v = validate_move(ctx, 100, "n2")
    assert failed(v) == ["staleness"]
    assert "minutes old" in v.check("staleness").detail and "collect" in v.check("staleness").detail


def test_guest_state_wrong_source(ctx):
    v = validate_move(ctx, 100, "n2", source_node="n4")
    assert failed(v) == ["guest_state"]
    assert "runs on n1, not on n4" in v.check("guest_state").detail


def test_guest_state_stopped_guest_asked_live(ctx):
    v = validate_move(ctx, 106, "n2", online=True)
    assert failed(v) == ["guest_state"]
    assert "stopped" in v.check("guest_state").detail


def test_resources_target_too_small(ctx):
    v = validate_move(ctx, 104, "n3")  # 16 GiB guest onto a 4 GiB node
    assert failed(v) == ["resources"]
    assert "n3 would use" in v.check("resources").detail and "pick another node" in v.check("resources").detail


def test_storage_missing_on_target_and_mapping_fixes_it(ctx):
    v = validate_move(ctx, 103, "n2")  # local-zfs exists only on n1
    assert failed(v) == ["storage"]
    assert "local-zfs" in v.check("storage").detail and "targetstorage" in v.check("storage").detail
    assert validate_move(ctx, 103, "n2", targetstorage="local-lvm").passed


def test_locks_when_a_migration_task_runs(ctx, sim):
    from tests.sim.conftest import client
    client(sim).nodes("n1").qemu(111).migrate.post(target="n2", online=1)
    v = validate_move(ctx, 111, "n4")
    assert failed(v) == ["locks"]
    assert "locked (migrate)" in v.check("locks").detail


def test_locks_when_proxbalance_has_an_intent(ctx):
    mlog.insert_intent(ctx.store.engine, now=ctx.now(), vmid=100, guest_type="qemu", guest_name="x",
                       source_node="n1", target_node="n2", mode="online", ha=False, actor="t", origin="manual")
    v = validate_move(ctx, 100, "n4")
    assert failed(v) == ["locks"]
    assert "ProxBalance migration" in v.check("locks").detail


def test_affinity_strict_ha_rule(ctx):
    v = validate_move(ctx, 105, "n1")  # strict node-affinity: n2, n4 only
    assert failed(v) == ["affinity"]
    assert "strict-105" in v.check("affinity").detail


def test_affinity_anti_affinity_tag(ctx, sim):
    from tests.sim.conftest import client
    px = client(sim)
    px.nodes("n1").qemu(100).config.put(tags="exclude_db")
    px.nodes("n2").qemu(108).config.put(tags="exclude_db")
    v = validate_move(ctx, 100, "n2")
    assert failed(v) == ["affinity"]
    assert "exclude_db" in v.check("affinity").detail and "108" in v.check("affinity").detail


def test_quorum_lost(ctx, sim):
    admin(sim, "POST", "quorum", quorate=0)
    v = validate_move(ctx, 100, "n2")
    assert failed(v) == ["quorum"]
    assert "quorum" in v.check("quorum").detail


def test_target_offline_and_maintenance(ctx, sim):
    admin(sim, "POST", "nodes/n4/offline")
    v = validate_move(ctx, 100, "n4")
    assert failed(v) == ["target"] and "offline" in v.check("target").detail
    set_maintenance(ctx.store, "n2", True, "test", "patching")
    v = validate_move(ctx, 100, "n2")
    assert failed(v) == ["target"] and "maintenance" in v.check("target").detail


def test_target_is_the_source(ctx):
    v = validate_move(ctx, 100, "n1")
    assert failed(v) == ["target"]


def test_devices_passthrough(ctx):
    v = validate_move(ctx, 109, "n2")
    assert failed(v) == ["devices"]
    assert "passthrough" in v.check("devices").detail


def test_unknown_guest_or_node_is_an_error(ctx):
    with pytest.raises(NotFoundError):
        validate_move(ctx, 999, "n2")
    with pytest.raises(NotFoundError):
        validate_move(ctx, 100, "nope")
