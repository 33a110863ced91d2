"""Term registry: filters ``(G, N) bool`` and penalties ``(G, N) float`` as named pure functions.

A term is ``fn(view, args) -> (m, c)`` over a :class:`~proxbalance.engine.state.View`; ``args`` holds
exactly the config keys the term declares (validated by :class:`PenaltyConfig`, plus the term's own
``check``). Built-in terms register themselves with :func:`register` exactly as a new term would; an
unknown config key in a registration, or a penalty without a default weight, is an error at import.
"""

from __future__ import annotations

from ...errors import ConfigError
from ..config import KEY_BY_NAME
from ..registry import (  # noqa: F401  (re-exported: the registry's API, as before)
    REGISTRY,
    Term,
    default_term_weights,
    filters,
    increasing,
    is_zero,
    penalties,
    tiers,
    zero,
)
from ..registry import register as _register
from . import cost, filters_builtin, forecast, load, placement, stability  # noqa: E402,F401,I001  (registration)


def register(name: str, kind: str, family: str, keys: tuple[str, ...] = (), **kw):
    """:func:`proxbalance.engine.registry.register`, checking ``keys`` against the config first (for terms
    registered from outside this package)."""
    bad = [k for k in keys if k not in KEY_BY_NAME]
    if bad:
        raise ConfigError(f"term {name!r} reads unknown config keys {bad}")
    return _register(name, kind, family, keys, **kw)


def check_keys() -> None:
    """Every registered term reads only declared config keys (run at import, after the registrations)."""
    for t in REGISTRY.values():
        bad = [k for k in t.keys if k not in KEY_BY_NAME]
        if bad:
            raise ConfigError(f"term {t.name!r} reads unknown config keys {bad}")


check_keys()
