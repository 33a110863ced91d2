"""Term registry: filters ``(G, N) bool`` and penalties ``(G, N) float`` as named pure functions.

A term is ``fn(view, args) -> (m, c)`` over a :class:`~proxbalance.engine.state.View`; ``args`` holds
exactly the config keys the term declares (validated by :class:`PenaltyConfig`, plus the term's own
``check``). Built-in terms register themselves with :func:`register` exactly as a new term would; an
unknown config key in a registration, or a penalty without a default weight, is an error at import.
"""

from __future__ import annotations

import numpy as np

from ...errors import ConfigError
from ..config import KEY_BY_NAME
from ..registry import REGISTRY, Term, default_term_weights, filters, penalties  # noqa: F401  (re-exported)


def register(name: str, kind: str, family: str, keys: tuple[str, ...] = (), dynamic: bool = True,
             help: str = "", default_weight: float | None = 1.0, check=None):
    """Decorator registering ``fn`` as term ``name``."""
    def deco(fn):
        if name in REGISTRY:
            raise ConfigError(f"term {name!r} registered twice")
        bad = [k for k in keys if k not in KEY_BY_NAME]
        if bad:
            raise ConfigError(f"term {name!r} reads unknown config keys {bad}")
        if kind == "penalty" and default_weight is None:
            raise ConfigError(f"penalty term {name!r} has no default weight")
        REGISTRY[name] = Term(name, kind, family, fn, tuple(keys), dynamic, help,
                              default_weight if kind == "penalty" else None, check)
        return fn

    return deco


def tiers(x: np.ndarray, levels: list[tuple[float, float]]) -> np.ndarray:
    """Step function: the penalty of the highest ``(threshold, penalty)`` level that ``x`` exceeds."""
    out = np.zeros(np.shape(x))
    for th, p in sorted(levels):
        out = np.where(x > th, p, out)
    return out


def zero(shape) -> np.ndarray:
    """A read-only all-zero ``(m, c)`` penalty that costs no memory; :func:`is_zero` recognises it."""
    return np.broadcast_to(np.float64(0.0), shape)


def is_zero(x: np.ndarray) -> bool:
    return x.ndim == 2 and x.strides == (0, 0) and (x.size == 0 or x.flat[0] == 0.0)


def increasing(*names: str):
    def check(args: dict) -> None:
        vals = [args[n] for n in names]
        if any(b < a for a, b in zip(vals, vals[1:], strict=False)):
            raise ValueError(f"{', '.join(names)} must be non-decreasing")
    return check


from . import cost, filters_builtin, load, placement, stability  # noqa: E402,F401  (registration)
