"""PveClient against the simulator: auth, TLS, retries (5xx yes, 4xx never), probe, writes."""

from __future__ import annotations

import time

import pytest

from proxbalance.errors import ProxmoxAuthError, UpstreamError
from proxbalance.pve.client import PveApiError, PveClient, probe

from .conftest import sim_settings


def test_retries_5xx_with_backoff_but_never_4xx(sim, tmp_path):
    settings = sim_settings(sim, tmp_path, **{"proxmox.retries": 2})
    sim.fault("api_fault", prefix="/version", status=500, error_rate=1.0, message="boom")
    client = PveClient(settings)
    started = time.perf_counter()
    with pytest.raises(PveApiError, match="boom"):
        client.version()
    assert client.calls == 3 and time.perf_counter() - started >= 0.2 + 0.4
    sim.fault("api_clear")
    sim.fault("api_fault", prefix="/version", status=400, error_rate=1.0, message="bad param")
    client = PveClient(settings)
    with pytest.raises(PveApiError) as err:
        client.version()
    assert client.calls == 1 and err.value.status == 400


def test_writes_are_not_retried_on_5xx(sim, tmp_path):
    settings = sim_settings(sim, tmp_path, **{"proxmox.retries": 3})
    sim.fault("api_fault", prefix="/cluster/ha/resources", status=500, error_rate=1.0)
    client = PveClient(settings)
    with pytest.raises(PveApiError):
        client.ha_migrate("vm:100", "pve2")
    assert client.calls == 1


def test_write_whose_connection_drops_is_not_resent(sim, tmp_path):
    """The connection closes after PVE acted on the POST: the answer is lost, and re-sending would migrate the
    guest twice (or fail on its lock and be recorded as refused while the first migration runs)."""
    settings = sim_settings(sim, tmp_path, **{"proxmox.retries": 3})
    g = next(g for g in sim.cluster.guests if g.type == "qemu" and g.status == "running")
    target = next(n.name for n in sim.cluster.nodes if n.name != g.node)
    sim.fault("api_fault", prefix=f"/nodes/{g.node}/qemu/{g.vmid}/migrate", error_rate=1.0, drop="after")
    client = PveClient(settings)
    with pytest.raises(UpstreamError, match="could not be reached"):
        client.migrate(g.node, "qemu", g.vmid, target, online=True)
    assert client.calls == 1
    assert [t.id for t in sim.tasks.tasks.values() if t.type in ("qmigrate", "hamigrate")] == [str(g.vmid)]
    sim.fault("api_clear")
    sim.fault("api_fault", prefix="/version", error_rate=1.0, drop="before")
    client = PveClient(settings)
    with pytest.raises(UpstreamError):
        client.version()
    assert client.calls == 4  # a read is retried on a dropped connection


def test_tls_is_verified_by_default(sim, tmp_path):
    settings = sim_settings(sim, tmp_path, **{"proxmox.ca_file": "", "proxmox.retries": 0})
    with pytest.raises(UpstreamError, match="TLS"):
        PveClient(settings).version()
    off = sim_settings(sim, tmp_path, **{"proxmox.ca_file": "", "proxmox.verify_tls": False})
    assert PveClient(off).version()["version"]


def test_errors_name_the_host_and_the_token(sim, tmp_path):
    bad = sim_settings(sim, tmp_path, **{"proxmox.token_secret": "wrong"})
    with pytest.raises(ProxmoxAuthError, match=f"rejected API token '{sim.token_id}'") as err:
        PveClient(bad).cluster_status()
    assert "wrong" not in err.value.message
    down = sim_settings(sim, tmp_path, **{"proxmox.port": 1, "proxmox.retries": 0})
    with pytest.raises(UpstreamError, match="127.0.0.1:1 could not be reached"):
        PveClient(down).cluster_status()


def test_ticket_login_fallback(sim, tmp_path):
    settings = sim_settings(sim, tmp_path, **{"proxmox.token_id": "", "proxmox.token_secret": "",
                                              "proxmox.username": sim.token_user, "proxmox.password": sim.password})
    assert PveClient(settings).cluster_status()
    wrong = sim_settings(sim, tmp_path, **{"proxmox.token_id": "", "proxmox.token_secret": "",
                                           "proxmox.username": sim.token_user, "proxmox.password": "nope"})
    with pytest.raises(ProxmoxAuthError, match="rejected the login"):
        PveClient(wrong).cluster_status()


def test_probe(sim, tmp_path):
    assert probe(sim_settings(sim, tmp_path))["status"] == "ok"
    assert probe(sim_settings(sim, tmp_path, **{"proxmox.token_secret": "x"}))["status"] == "auth_failed"
    assert probe(sim_settings(sim, tmp_path, **{"proxmox.port": 1}))["status"] == "unreachable"
    assert probe(sim_settings(sim, tmp_path, **{"proxmox.host": ""}))["status"] == "not_configured"


def test_set_tags_and_migrate_container(sim, tmp_path):
    client = PveClient(sim_settings(sim, tmp_path))
    rows = client.cluster_resources("vm")
    ct = next(r for r in rows if r["type"] == "lxc" and r["status"] == "running" and not r.get("hastate")
              and not r.get("lock"))
    client.set_tags(ct["node"], "lxc", ct["vmid"], ["alpha", "beta"])
    assert client.guest_config(ct["node"], "lxc", ct["vmid"])["tags"] == "alpha;beta"
    rootfs = client.guest_config(ct["node"], "lxc", ct["vmid"])["rootfs"].split(":")[0]
    # a node that has the container's root-disk storage (PVE refuses the migration elsewhere)
    target = next(r["node"] for r in client.cluster_resources("node") if r["node"] != ct["node"]
                  and rootfs in {s.storage for s in client.node_storage(r["node"])})
    upid = client.migrate(ct["node"], "lxc", ct["vmid"], target, restart=True)
    assert upid.startswith(f"UPID:{ct['node']}:") and ":vzmigrate:" in upid
    sim.advance(3600)
    status = client.task_status(ct["node"], upid)
    assert status.ok, client.task_log(ct["node"], upid)
    moved = {r["vmid"]: r["node"] for r in client.cluster_resources("vm")}
    assert moved[ct["vmid"]] == target
