"""Configuration: effective settings with sources, validated updates, export/import, backups, collection
settings. Rules (precedence, what the API may change, aliases) live in :mod:`proxbalance.config_service`.

Every request first compares the stored settings revision with the one this worker applied and reloads the
API layer when another worker changed it (one small SELECT).
"""

from __future__ import annotations

import json
import logging

from flask import Blueprint, Response, g
from pydantic import BaseModel, ConfigDict, Field

from proxbalance import config_service as svc
from proxbalance.api.endpoint import endpoint
from proxbalance.api.models import StrictModel
from proxbalance.api.state import AppState, generation, state
from proxbalance.errors import NotFoundError, ValidationError
from proxbalance.logsetup import configure as configure_logging
from proxbalance.store import config_layer as layer_store

bp = Blueprint("config", __name__)
log = logging.getLogger(__name__)


class OpenBody(BaseModel):
    """Setting names (dotted like ``proxmox.timeout``, nested objects, or the flat aliases) -> values."""

    model_config = ConfigDict(extra="allow")


class OpenResponse(BaseModel):
    model_config = ConfigDict(extra="allow")
    success: bool


class ConfigChangeResponse(OpenResponse):
    changed: list[str] = Field(description="Settings whose effective value changed")
    restart_required: list[str] = Field(description="Changed settings read only at start: restart to apply")
    ignored_redacted: list[str] = Field(description="Secrets sent back as ******** and therefore kept")
    revision: int


class ConfigResponse(OpenResponse):
    settings: list[dict] = Field(description="name, value (secrets redacted), default, source "
                                             "(default|file|env|override|api), settable, restart_required, ...")
    config: dict = Field(description="The contract's flat names (aliases) with their values")
    count: int
    precedence: list[str]


class BackupBody(StrictModel):
    note: str = Field("", max_length=200)


class CollectionBody(StrictModel):
    collection_interval_minutes: float | None = Field(None, gt=0, description="Minutes between collections")
    interval_seconds: int | None = Field(None, description="Seconds between collections")
    config_refresh_cycles: int | None = None
    config_reads_per_cycle: int | None = None
    backfill: bool | None = None
    backfill_parallel: int | None = None
    max_parallel: int | None = Field(None, description="proxmox.max_parallel: concurrent per-node calls")


def actor() -> str:
    principal = g.get("principal")
    return principal.actor if principal else "anonymous"


def reload(st: AppState) -> None:
    """Apply the stored API layer to this worker's settings (and logging) when its revision moved."""
    rev, settings = svc.effective(st.cache["config_base"], st.store)
    if rev != st.cache.get("config_revision"):
        st.settings = settings
        st.cache["config_revision"] = rev
        st.cache.pop("proxmox_probe", None)
        configure_logging(settings)


@bp.before_app_request
def _refresh() -> None:
    st = state()
    if "config_base" not in st.cache:
        return
    try:
        gen = generation()
        if st.cache.get("config_checked_generation") == gen:  # nothing committed since the last look
            return
        if layer_store.revision(st.store.engine) != st.cache.get("config_revision"):
            reload(st)
        st.cache["config_checked_generation"] = gen
    except Exception:  # a broken database must not take every endpoint down; health reports it
        log.exception("could not reload the API settings layer")


def _changed(result: dict) -> dict:
    reload(state())
    msg = f"{len(result['changed'])} setting(s) changed"
    if result["restart_required"]:
        msg += f"; restart ProxBalance to apply {', '.join(result['restart_required'])}"
    return {**result, "message": msg}


@endpoint(bp, "GET", "/api/config", response=ConfigResponse,
          summary="Every effective setting with its source (default, file, env, override, api); secrets redacted.")
def get_config():
    st = state()
    return svc.describe(st.settings, st.cache["config_base"])


@endpoint(bp, "POST", "/api/config", body=OpenBody, response=ConfigChangeResponse,
          summary="Change settings (dotted names or the flat aliases); validated, all-or-nothing, persisted.")
def post_config(body: OpenBody):
    st = state()
    return _changed(svc.update(st.store, st.cache["config_base"], body.model_dump(), actor()))


@endpoint(bp, "GET", "/api/config/export", produces=("application/json",),
          summary="Download every effective setting as a JSON document (secrets redacted).")
def export_config():
    doc = svc.export_document(state().settings)
    return Response(json.dumps(doc, indent=2), mimetype="application/json",
                    headers={"Content-Disposition": "attachment; filename=proxbalance-config.json"})


@endpoint(bp, "POST", "/api/config/import", body=OpenBody, response=ConfigChangeResponse,
          summary="Import an exported document: validated as a whole first; nothing changes on error.")
def import_config(body: OpenBody):
    st = state()
    return _changed(svc.import_document(st.store, st.cache["config_base"], st.settings, body.model_dump(),
                                        actor()))


@endpoint(bp, "POST", "/api/config/backup", body=BackupBody, response=OpenResponse,
          summary="Keep a copy of the effective settings in the database (secrets redacted).")
def backup_config(body: BackupBody):
    st = state()
    return {"backup": svc.backup_info(svc.backup(st.store, st.settings, actor(), body.note))}, 201


@endpoint(bp, "GET", "/api/config/backups", response=OpenResponse, summary="Configuration backups, newest first.")
def list_backups():
    items = [svc.backup_info(b) for b in layer_store.list_backups(state().store.engine)]
    return {"backups": items, "count": len(items)}


@endpoint(bp, "POST", "/api/config/backups/<int:backup_id>/restore", response=ConfigChangeResponse,
          summary="Restore a backup (the current settings are backed up first).")
def restore_backup(backup_id: int):
    st = state()
    found = layer_store.get_backup(st.store.engine, backup_id)
    if found is None:
        raise NotFoundError(f"no configuration backup {backup_id}")
    before = svc.backup(st.store, st.settings, actor(), f"before restoring backup {backup_id}")
    result = svc.import_document(st.store, st.cache["config_base"], st.settings, found.document, actor(),
                                 trusted=True)
    return {**_changed(result), "restored": backup_id, "previous_backup": before.id}


@endpoint(bp, "POST", "/api/settings/collection", body=CollectionBody, response=ConfigChangeResponse,
          summary="Change collection settings (interval, config refresh, backfill, parallelism).")
def collection_settings(body: CollectionBody):
    given = body.model_dump(exclude_none=True)
    if not given:
        raise ValidationError("no collection settings given", details={"field": "body"})
    names = {"collection_interval_minutes": "collection_interval_minutes",
             "max_parallel": "proxmox.max_parallel"}
    changes = {names.get(k, f"collection.{k}"): v for k, v in given.items()}
    st = state()
    return _changed(svc.update(st.store, st.cache["config_base"], changes, actor()))
