"""Guest tags read from and written to Proxmox (the guest config's ``tags``), with PVE's tag syntax.

PVE accepts tags matching ``[a-z0-9_][a-z0-9_\\-+.]*`` (case-insensitive; stored ``;``-separated). Writes
pass the config digest read just before, so a concurrent edit makes PVE refuse instead of losing it.
"""

from __future__ import annotations

import re
from typing import Any

from proxbalance.errors import ConflictError, NotFoundError, ValidationError
from proxbalance.executor.context import ExecContext
from proxbalance.executor.live import LiveView
from proxbalance.pve.parse import split_tags

TAG = re.compile(r"^[a-z0-9_][a-z0-9_\-+.]*$", re.IGNORECASE)
MAX_TAG = 128


def check_tag(tag: str) -> str:
    if not tag or len(tag) > MAX_TAG or not TAG.match(tag):
        raise ValidationError(f"invalid tag {tag!r}: PVE tags are letters, digits, '_', '-', '+', '.' and may not "
                              f"start with '-', '+' or '.' (at most {MAX_TAG} characters)", details={"field": "tag"})
    return tag


def _read(ctx: ExecContext, vmid: int) -> tuple[Any, list[str], str]:
    g = LiveView.read(ctx.pve).guest(vmid)
    cfg = ctx.pve.guest_config(g.node, g.type, vmid)
    return g, list(split_tags(cfg.get("tags"))), str(cfg.get("digest", "")) or None


def get_tags(ctx: ExecContext, vmid: int) -> dict[str, Any]:
    g, tags, _ = _read(ctx, vmid)
    return {"vmid": vmid, "node": g.node, "tags": tags}


def add_tag(ctx: ExecContext, vmid: int, tag: str) -> dict[str, Any]:
    check_tag(tag)
    g, tags, digest = _read(ctx, vmid)
    if tag.lower() in (t.lower() for t in tags):
        raise ConflictError(f"guest {vmid} already has tag {tag!r}", code="tag_exists", details={"tags": tags})
    ctx.pve.set_tags(g.node, g.type, vmid, tags + [tag], digest=digest)
    return get_tags(ctx, vmid)


def remove_tag(ctx: ExecContext, vmid: int, tag: str) -> dict[str, Any]:
    check_tag(tag)
    g, tags, digest = _read(ctx, vmid)
    keep = [t for t in tags if t.lower() != tag.lower()]
    if len(keep) == len(tags):
        raise NotFoundError(f"guest {vmid} has no tag {tag!r}", code="tag_not_found", details={"tags": tags})
    ctx.pve.set_tags(g.node, g.type, vmid, keep, digest=digest)
    return get_tags(ctx, vmid)
