"""Guest operations written through Proxmox: tags (add, remove, refresh) and storage verification."""

from __future__ import annotations

from flask import Blueprint

from proxbalance.api.endpoint import endpoint
from proxbalance.api.executor_ctx import executor_ctx
from proxbalance.api.models import VmId
from proxbalance.api.models_cluster import check
from proxbalance.api.models_migrate import Open, StorageVerifyBody, TagBody, TagsWriteResponse
from proxbalance.executor import tags as tg
from proxbalance.executor.live import LiveView
from proxbalance.executor.validate import Validation, storage_check

bp = Blueprint("guest_ops", __name__)


@endpoint(bp, "POST", "/api/guests/<int:vmid>/tags", body=TagBody, response=TagsWriteResponse,
          summary="Add a tag to a guest in Proxmox (PVE tag syntax; 409 if present).")
def add_tag(vmid: int, body: TagBody):
    check(VmId, vmid, "vmid")
    return tg.add_tag(executor_ctx(reconcile=False), vmid, body.tag)


@endpoint(bp, "DELETE", "/api/guests/<int:vmid>/tags/<tag>", response=TagsWriteResponse,
          summary="Remove a tag from a guest in Proxmox (404 if absent).")
def remove_tag(vmid: int, tag: str):
    check(VmId, vmid, "vmid")
    return tg.remove_tag(executor_ctx(reconcile=False), vmid, tag)


@endpoint(bp, "POST", "/api/guests/<int:vmid>/tags/refresh", response=TagsWriteResponse,
          summary="Read a guest's tags from Proxmox now, without waiting for a collection.")
def refresh_tags(vmid: int):
    check(VmId, vmid, "vmid")
    return tg.get_tags(executor_ctx(reconcile=False), vmid)


@endpoint(bp, "POST", "/api/storage/verify", body=StorageVerifyBody, response=Open, scope="read",
          summary="Whether every disk of a guest can live on the target node (or a targetstorage mapping).")
def storage_verify(body: StorageVerifyBody):
    ctx = executor_ctx(reconcile=False)
    live = LiveView.read(ctx.pve)
    g = live.guest(body.vmid)
    live.node(body.target_node)
    v = Validation()
    c = storage_check(live, g, body.target_node, body.targetstorage, v)
    cfg = live.config_of(g)
    return {"vmid": body.vmid, "source_node": g.node, "target_node": body.target_node, "compatible": c.passed,
            "detail": c.detail, "with_local_disks": v.plan.get("with_local_disks", False),
            "disks": [{"key": d.key, "storage": d.storage, "size": d.size, "shared": d.shared} for d in cfg.disks],
            "target_storages": sorted(live.storages.get(body.target_node, {}))}
