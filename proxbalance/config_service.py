"""Settings changed through the API: the layer over file/environment, updates, export/import, backups.

Precedence, last wins: defaults < TOML file < ``PROXBALANCE_*`` environment < programmatic overrides (tests,
demo) < **API layer** (``POST /api/config``, stored in the database, table ``config_layer``). A value
changed through the API therefore wins everywhere, survives restarts and is seen by every worker (each one
compares one revision number per request, :func:`refresh`). ``GET /api/config`` shows each value's source
and, for API values, what it would be without the API layer (``base_source``/``base_value``).

Not settable through the API (:data:`FILE_ONLY`): where the database lives (the layer is stored in it), the
API-key settings, the dashboard directory and the rate-limit storage URI — they stay file/environment only.
``proxmox.host``/``proxmox.port`` change only through ``POST /api/system/change-host`` (validated and tested
first), never through ``POST /api/config``, so a stored secret is never sent to a host a request supplied.
A secret sent back as ``********`` (what every answer shows) is ignored and never overwrites the real one.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from proxbalance import __version__
from proxbalance.config import BY_NAME, REDACTED, SETTINGS, Settings, _check_consistency, _coerce, _flatten
from proxbalance.errors import ConfigError, ValidationError
from proxbalance.store import Store
from proxbalance.store import config_layer as layer_store

log = logging.getLogger(__name__)

FILE_ONLY: dict[str, str] = {
    "paths.data_dir": "the API layer is stored in the database under it",
    "database.url": "the API layer is stored in that database",
    "auth.enabled": "API authentication is a deployment decision",
    "auth.bootstrap_admin_key": "API authentication is a deployment decision",
    "server.web_dir": "it names a directory the server reads files from",
    "ratelimit.storage_uri": "it names a server the API connects to",
    "server.host": "the listen address belongs to the deployment",
    "server.port": "the listen port belongs to the deployment",
    "proxmox.allowed_networks": "it is the rule change-host is checked against",
    "logging.file": "it names a file the server writes",
    "updates.install_dir": "it names a directory updates rewrite",
    "updates.remote": "updates run what that remote serves",
    "updates.restart_command": "it is a command the server runs",
    "updates.health_url": "updates trust what it answers",
    "updates.pip_install": "updates run pip with it",
    "system.services": "it is the allow-list of units the server restarts",
}
HOST_SETTINGS = frozenset({"proxmox.host", "proxmox.port"})

#: settings read once when a process starts; a change through the API takes effect after a restart
RESTART_REQUIRED = frozenset({
    "server.cors_origins", "server.behind_proxy", "server.serve_web", "ratelimit.enabled",
    "ratelimit.read_per_minute", "ratelimit.write_per_minute", "collection.in_process",
    "collection.interval_seconds",
})


@dataclass(frozen=True)
class Alias:
    """A flat name of the API contract (``collection_interval_minutes``) for a dotted setting."""

    setting: str
    to_setting: Callable[[Any], Any] = lambda v: v
    from_setting: Callable[[Any], Any] = lambda v: v


def _minutes_to_seconds(v: Any) -> Any:
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        return v  # let the setting's own validation name the type error
    seconds = v * 60
    if not math.isfinite(seconds) or abs(seconds) >= 2**63:
        return seconds  # no int holds it: the setting's own validation refuses it (400), round() would raise
    return int(round(seconds))


#: flat contract names accepted by POST /api/config (and shown by GET /api/config under ``config``)
ALIASES: dict[str, Alias] = {
    "collection_interval_minutes": Alias("collection.interval_seconds", _minutes_to_seconds, lambda s: s / 60),
    "proxmox_host": Alias("proxmox.host"),
    "proxmox_port": Alias("proxmox.port"),
    "proxmox_api_token_id": Alias("proxmox.token_id"),
    "proxmox_api_token_secret": Alias("proxmox.token_secret"),
    "proxmox_verify_ssl": Alias("proxmox.verify_tls"),
    "cpu_threshold": Alias("thresholds.cpu_percent"),
    "mem_threshold": Alias("thresholds.mem_percent"),
    "log_level": Alias("logging.level"),
}


def source_kind(source: str) -> str:
    """default | file | env | override | api."""
    if source in ("default", "override", "api"):
        return source
    return "env" if source.startswith("PROXBALANCE_") else "file"


def layered(base: Settings, layer: Mapping[str, Any]) -> Settings:
    """``base`` with the stored API layer on top (rows for unknown or file-only settings are ignored)."""
    values = dict(base)
    sources = {name: base.source(name) for name in base if base.source(name) != "default"}
    for name, value in layer.items():
        if name in BY_NAME and name not in FILE_ONLY:
            values[name] = value
            sources[name] = "api"
    return Settings(values, sources)


def _redact(name: str, value: Any) -> Any:
    return REDACTED if BY_NAME[name].secret and value not in ("", [], None) else value


def describe(settings: Settings, base: Settings) -> dict[str, Any]:
    """GET /api/config: every setting with value (secrets redacted), source and flags; plus the flat view."""
    items = []
    for s in SETTINGS:
        src = settings.source(s.name)
        item = {"name": s.name, "value": _redact(s.name, settings[s.name]), "default": _redact(s.name, s.default),
                "source": source_kind(src), "secret": s.secret, "type": s.type.__name__,
                "settable": s.name not in FILE_ONLY and s.name not in HOST_SETTINGS,
                "restart_required": s.name in RESTART_REQUIRED, "description": s.help}
        if src == "api":
            item["base_source"] = source_kind(base.source(s.name))
            item["base_value"] = _redact(s.name, base[s.name])
        elif src.startswith("PROXBALANCE_"):
            item["env_var"] = src
        items.append(item)
    flat = {alias: _redact(a.setting, a.from_setting(settings[a.setting])) for alias, a in ALIASES.items()}
    return {"settings": items, "config": flat, "count": len(items),
            "precedence": ["default", "file", "env", "override", "api"]}


def normalize(body: Mapping[str, Any]) -> tuple[dict[str, Any], list[str]]:
    """Dotted/nested/aliased names -> ``{dotted: validated value}``; also the secrets ignored as redacted.

    Every problem is collected, then one 400 names them all (nothing is applied).
    """
    out: dict[str, Any] = {}
    ignored: list[str] = []
    errors: list[dict[str, str]] = []
    for key, value in _flatten(dict(body)):
        alias = ALIASES.get(key)
        name = alias.setting if alias else key
        if name not in BY_NAME:
            errors.append({"field": key, "message": "unknown setting"})
            continue
        if BY_NAME[name].secret and (value == REDACTED or (isinstance(value, list) and REDACTED in value)):
            ignored.append(name)
            continue
        try:
            out[name] = _coerce(BY_NAME[name], alias.to_setting(value) if alias else value, from_env=False)
        except ConfigError as exc:
            errors.append({"field": key, "message": exc.message})
    if errors:
        raise ValidationError(f"invalid setting '{errors[0]['field']}': {errors[0]['message']}",
                              details={"field": errors[0]["field"], "errors": errors})
    return out, ignored


def _check_allowed(changes: Mapping[str, Any], *, allow_host: bool) -> None:
    for name in changes:
        if name in FILE_ONLY:
            raise ValidationError(f"setting '{name}' cannot be changed through the API ({FILE_ONLY[name]}); "
                                  "set it in the config file or the environment", details={"field": name})
        if name in HOST_SETTINGS and not allow_host:
            raise ValidationError(f"setting '{name}' changes only through POST /api/system/change-host, which "
                                  "validates and tests the new host first", details={"field": name})


def _consistent(settings: Settings) -> None:
    try:
        _check_consistency(settings)
    except ConfigError as exc:
        key = (exc.details or {}).get("key", "body")
        raise ValidationError(exc.message, details={"field": key, "key": key}) from None


def apply_changes(store: Store, base: Settings, changes: Mapping[str, Any], actor: str,
                  *, allow_host: bool = False, ignored: list[str] | None = None) -> dict[str, Any]:
    """Validated, all-or-nothing update of the API layer (one write transaction). Values equal to the
    file/environment value leave the layer (the file's value shows again as the source)."""
    _check_allowed(changes, allow_host=allow_host)

    def change(current: dict[str, Any]):
        before = layered(base, current)
        new = dict(current)
        for name, value in changes.items():
            if value == base[name]:
                new.pop(name, None)
            else:
                new[name] = value
        after = layered(base, new)
        _consistent(after)
        changed = sorted(n for n in changes if before[n] != after[n])
        return new, changed

    rev, changed = layer_store.modify_layer(store.engine, change, actor)
    if changed:  # names only: values may be secrets
        log.info("settings changed through the API by %s: %s (revision %d)", actor, ", ".join(changed), rev)
    return {"changed": changed, "restart_required": sorted(set(changed) & RESTART_REQUIRED),
            "ignored_redacted": sorted(ignored or []), "revision": rev}


def update(store: Store, base: Settings, body: Mapping[str, Any], actor: str) -> dict[str, Any]:
    """POST /api/config."""
    changes, ignored = normalize(body)
    if not changes and not ignored:
        raise ValidationError("no settings given", details={"field": "body"})
    return apply_changes(store, base, changes, actor, ignored=ignored)


# -- export / import / backups ---------------------------------------------------------------------------
FORMAT = "proxbalance-config"


def export_document(settings: Settings) -> dict[str, Any]:
    """Every effective setting, secrets redacted (``secrets_set`` names those that have a value)."""
    return {"format": FORMAT, "version": 1, "proxbalance_version": __version__,
            "exported_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "settings": {s.name: _redact(s.name, settings[s.name]) for s in SETTINGS},
            "secrets_set": [s.name for s in SETTINGS if s.secret and settings[s.name] not in ("", [], None)]}


def import_document(store: Store, base: Settings, current: Settings, doc: Any, actor: str,
                    *, trusted: bool = False) -> dict[str, Any]:
    """Validate the whole document, then apply it in one transaction; on any error nothing changes.

    File-only settings are skipped (reported). Secrets that are redacted or empty are kept as they are. A
    document may change ``proxmox.host``/``port`` only when no Proxmox secret is stored yet, or when it is a
    backup of our own (``trusted``); the host is checked like change-host's static rules either way.
    """
    if not isinstance(doc, dict) or doc.get("format") != FORMAT or not isinstance(doc.get("settings"), dict):
        raise ValidationError(f"not a ProxBalance configuration export (expected format {FORMAT!r} and a "
                              "'settings' object)", details={"field": "format"})
    if doc.get("version") != 1:
        raise ValidationError(f"unsupported export version {doc.get('version')!r}", details={"field": "version"})
    raw = {k: v for k, v in doc["settings"].items()
           if not (k in BY_NAME and BY_NAME[k].secret and v in (REDACTED, "", []))}
    changes, ignored = normalize(raw)
    skipped = sorted(n for n in changes if n in FILE_ONLY)
    changes = {n: v for n, v in changes.items() if n not in FILE_ONLY}
    host_change = {n for n in HOST_SETTINGS if n in changes and changes[n] != current[n]}
    if host_change:
        if not trusted and (current["proxmox.token_secret"] or current["proxmox.password"]):
            raise ValidationError("the import changes proxmox.host/port while a Proxmox secret is stored: use "
                                  "POST /api/system/change-host, which tests the new host first",
                                  details={"field": sorted(host_change)[0]})
        from proxbalance.hostcheck import check_host_static

        if "proxmox.host" in changes and changes["proxmox.host"]:
            check_host_static(changes["proxmox.host"], current["proxmox.allowed_networks"])
    result = apply_changes(store, base, changes, actor, allow_host=True, ignored=ignored)
    return {**result, "skipped_file_only": skipped}


def backup(store: Store, settings: Settings, actor: str, note: str = "") -> layer_store.Backup:
    return layer_store.add_backup(store.engine, export_document(settings), actor, note)


def backup_info(b: layer_store.Backup) -> dict[str, Any]:
    return {"id": b.id, "created_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(b.created_at)),
            "actor": b.actor, "note": b.note, "settings_count": len(b.document.get("settings", {}))}


def effective(base: Settings, store: Store) -> tuple[int, Settings]:
    """(revision, settings with the stored API layer applied)."""
    rev, layer = layer_store.read_layer(store.engine)
    return rev, layered(base, layer)
