"""Fixtures: a store holding a small hand-built snapshot with an anti-affinity pair, and an app factory whose
AI settings point at a local fake provider."""

from __future__ import annotations

import pytest

from proxbalance.api import create_app
from proxbalance.config import load_settings
from proxbalance.model import ClusterSnapshot, Guest, Node
from proxbalance.store import Store
from proxbalance.store.keys import create_key
from proxbalance.store.snapshots import save_snapshot
from tests.ai.fake_providers import FakeProvider

GIB = 1024**3
STORED_KEY = "sk-stored-secret-0123456789"


def _node(name, guests, cores=16, mem_gib=64, **kw):
    mine = [g for g in guests if g.node == name]
    return Node(name=name, online=True, maxcpu=cores, maxmem=mem_gib * GIB,
                cpu=sum(g.cpu * g.maxcpu for g in mine) / cores, mem=sum(g.mem for g in mine) + 2 * GIB, **kw)


def _guest(vmid, node, cores=4, cpu=0.8, mem_gib=6, **kw):
    return Guest(vmid=vmid, name=kw.pop("name", f"vm{vmid}"), type=kw.pop("type", "qemu"), node=node,
                 status="running", maxcpu=cores, cpu=cpu, maxmem=mem_gib * GIB, mem=mem_gib * GIB, **kw)


def snapshot() -> ClusterSnapshot:
    """pve1 is overloaded (100-107); db-a 120 on pve1 and db-b 121 on pve2 share the exclude_db tag; pve3 is
    idle; pve4 is in maintenance."""
    guests = [_guest(100 + i, "pve1", name=f"web-{i}") for i in range(8)]
    guests += [_guest(120, "pve1", cores=2, cpu=0.2, mem_gib=2, name="db-a", tags=("exclude_db",)),
               _guest(121, "pve2", cores=2, cpu=0.2, mem_gib=2, name="db-b", tags=("exclude_db",)),
               _guest(130, "pve2", cores=2, cpu=0.1, mem_gib=2, name="small")]
    nodes = (_node("pve1", guests), _node("pve2", guests), _node("pve3", guests),
             _node("pve4", guests, maintenance=True))
    return ClusterSnapshot(time=1_800_000_000.0, nodes=nodes, guests=tuple(guests), cluster_name="test")


def good_answer(**over) -> dict:
    move = {"vmid": 100, "source_node": "pve1", "target_node": "pve3", "priority": "high",
            "reasoning": "pve1 is far above the CPU threshold", "risk_score": 0.2,
            "estimated_impact": "Reduces pve1 CPU to ~160%", "best_time": "now"}
    return {"analysis": "pve1 is overloaded; pve3 is idle.", "recommendations": [{**move, **over}],
            "predicted_issues": [{"node": "pve1", "issue": "CPU saturation", "severity": "critical",
                                  "timeframe": "now"}]}


URL_SETTING = {"openai": "ai.openai_base_url", "anthropic": "ai.anthropic_base_url", "ollama": "ai.ollama_host"}
KEY_SETTING = {"openai": "ai.openai_api_key", "anthropic": "ai.anthropic_api_key", "ollama": "ai.ollama_api_key"}
MODEL = {"openai": "gpt-test", "anthropic": "claude-test", "ollama": "llama3.1:latest"}


@pytest.fixture(params=["openai", "anthropic", "ollama"])
def provider(request):
    with FakeProvider(request.param) as fake:
        yield fake


@pytest.fixture
def make_client(tmp_path):
    """make_client(fake, **settings) -> (flask test client, admin key, store); the snapshot is stored."""
    opened = []

    def make(fake: FakeProvider | None, *, with_snapshot: bool = True, **extra):
        kind = fake.kind if fake else "openai"
        overrides = {"paths.data_dir": str(tmp_path / f"data{len(opened)}"), "ai.enabled": True,
                     "ai.provider": kind, f"ai.{kind}_model": MODEL[kind], KEY_SETTING[kind]: STORED_KEY,
                     "ai.timeout_seconds": 5.0, "ai.max_retries": 0}
        if fake:
            overrides[URL_SETTING[kind]] = fake.base_url
        overrides.update({k.replace("__", "."): v for k, v in extra.items()})
        settings = load_settings(env={}, overrides=overrides)
        store = Store.open(settings)
        opened.append(store)
        if with_snapshot:
            with store.engine.begin() as conn:
                save_snapshot(conn, snapshot())
        key = create_key(store.engine, "admin", "admin")[1]
        return create_app(settings, store).test_client(), key, store

    yield make
    for s in opened:
        s.close()
