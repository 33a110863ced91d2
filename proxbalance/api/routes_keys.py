"""API key management and the audit log (admin only)."""

from __future__ import annotations

from datetime import UTC, datetime

from flask import Blueprint
from pydantic import Field

from proxbalance.api import models_responses as R
from proxbalance.api.endpoint import endpoint
from proxbalance.api.models import Page, StrictModel
from proxbalance.api.state import state
from proxbalance.store import audit
from proxbalance.store import keys as key_store

bp = Blueprint("keys", __name__)


class KeyCreate(StrictModel):
    name: str = Field(min_length=1, max_length=100, description="What the key is for")
    scope: str = Field("read", pattern="^(read|admin)$", description="read or admin")


def _iso(ts: float | None) -> str | None:
    return datetime.fromtimestamp(ts, UTC).isoformat(timespec="seconds") if ts else None


def _key_dict(k: key_store.ApiKey) -> dict:
    return {"id": k.id, "name": k.name, "prefix": k.prefix, "scope": k.scope, "active": k.active,
            "created_at": _iso(k.created_at), "last_used_at": _iso(k.last_used_at), "revoked_at": _iso(k.revoked_at)}


@endpoint(bp, "GET", "/api/keys", scope="admin", response=R.KeysResponse, summary="List API keys (never the keys themselves).")
def list_keys():
    items = [_key_dict(k) for k in key_store.list_keys(state().store.engine)]
    return {"keys": items, "count": len(items)}


@endpoint(bp, "POST", "/api/keys", body=KeyCreate, response=R.KeyCreatedResponse, status=201, summary="Create an API key; the key is returned once.")
def create_key(body: KeyCreate):
    record, plaintext = key_store.create_key(state().store.engine, body.name, body.scope)
    return {"key": _key_dict(record), "api_key": plaintext}, 201


@endpoint(bp, "DELETE", "/api/keys/<int:key_id>", response=R.KeyResponse, summary="Revoke an API key.")
def revoke_key(key_id: int):
    return {"key": _key_dict(key_store.revoke_key(state().store.engine, key_id))}


@endpoint(bp, "GET", "/api/audit", scope="admin", query=Page, response=R.AuditResponse,
          summary="Audit log of write requests, newest first, with limit/offset paging.")
def audit_log(query: Page):
    rows, total = audit.entries(state().store.engine, limit=query.limit, offset=query.offset)
    items = [{"id": e.id, "time": _iso(e.time), "actor": e.actor, "method": e.method, "path": e.path,
              "status": e.status, "result": e.result, "request_id": e.request_id, "remote_addr": e.remote_addr,
              "detail": e.detail} for e in rows]
    return {"entries": items, "total_count": total, "count": len(items)}
