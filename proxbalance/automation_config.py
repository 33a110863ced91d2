"""The automation and notification settings an admin changes at run time (``POST /api/automigrate/config``).

Changes are validated exactly like the config file (types, ranges, windows, time zone, events) and saved in
the store (``automation_state`` key ``config``); they override the file and environment for the
``automation.*`` and ``notifications.*`` settings only. A secret sent back as the redacted placeholder
(``********``) keeps the stored value: the UI can post back what it read without erasing tokens.
"""

from __future__ import annotations

from typing import Any

from proxbalance.config import BY_NAME, REDACTED, SETTINGS, Settings, _check_consistency, _coerce
from proxbalance.errors import ConfigError, ValidationError
from proxbalance.store import Store
from proxbalance.store.automation import get_state, set_state

PREFIXES = ("automation.", "notifications.")
EDITABLE = tuple(s.name for s in SETTINGS if s.name.startswith(PREFIXES))


def overrides(store: Store) -> dict[str, Any]:
    return dict(get_state(store.engine, "config", {}) or {})


def effective(settings: Settings, store: Store) -> Settings:
    """``settings`` with the saved run-time changes applied (unknown or now-invalid saved keys ignored)."""
    saved = {k: v for k, v in overrides(store).items() if k in EDITABLE}
    if not saved:
        return settings
    try:
        return settings.replace(**{k.replace(".", "__"): v for k, v in saved.items()})
    except ConfigError:  # a setting changed type in an upgrade: fall back to the file's values
        return settings


def redacted(settings: Settings, store: Store) -> dict[str, Any]:
    """The editable settings in force, secrets redacted, with where each value comes from."""
    eff = effective(settings, store)
    red = eff.redacted()
    saved = overrides(store)
    return {"config": {k: red[k] for k in EDITABLE},
            "sources": {k: ("api" if k in saved else settings.source(k)) for k in EDITABLE}}


def update(settings: Settings, store: Store, changes: dict[str, Any]) -> dict[str, Any]:
    """Validate and save ``changes`` (dotted names); 400 naming the key on any error, nothing saved then.

    A ``None`` value removes the run-time override (back to the file / default).
    """
    if not isinstance(changes, dict) or not changes:
        raise ValidationError("give at least one setting to change", details={"field": "config"})
    saved = overrides(store)
    new = dict(saved)
    current = effective(settings, store)
    for name, value in changes.items():
        if name not in EDITABLE:
            raise ValidationError(f"unknown or read-only setting {name!r} (editable: automation.*, notifications.*)",
                                  details={"field": name})
        setting = BY_NAME[name]
        if value is None:
            new.pop(name, None)
            continue
        if setting.secret:
            value = _keep_secret(value, current[name])
        try:
            new[name] = _coerce(setting, value, from_env=False)
        except ConfigError as exc:
            raise ValidationError(exc.message, details={"field": name}) from None
    merged = {s.name: s.default for s in SETTINGS}
    merged.update({k: settings[k] for k in settings})
    merged.update(new)
    try:
        _check_consistency(merged)
    except ConfigError as exc:
        raise ValidationError(exc.message, details=exc.details) from None
    set_state(store.engine, "config", new)
    return redacted(settings, store)


def _keep_secret(value: Any, current: Any) -> Any:
    """The redacted placeholder means "unchanged" — for a whole value or list items."""
    if value == REDACTED:
        return current
    if isinstance(value, list) and isinstance(current, list):
        if any(v == REDACTED for v in value):
            if len(value) != len(current):
                raise ValidationError("a redacted list can only be sent back whole or replaced entirely",
                                      details={"field": "notifications.urls"})
            return [c if v == REDACTED else v for v, c in zip(value, current, strict=True)]
    return value
