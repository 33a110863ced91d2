"""Term registry: filters ``(G, N) bool`` and penalties ``(G, N) float`` as named pure functions.

A term is ``fn(view, args) -> (m, c)`` over a :class:`~proxbalance.engine.state.View`; ``args`` holds
exactly the config keys the term declares (validated by :class:`PenaltyConfig`, plus the term's own
``check``). Built-in terms register themselves with :func:`register` exactly as a new term would; an
unknown config key in a registration, or a penalty without a default weight, is an error at import.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import numpy as np

from ...errors import ConfigError, ValidationError


@dataclass(frozen=True)
class Term:
    name: str
    kind: Literal["filter", "penalty"]
    family: str
    fn: Callable
    keys: tuple[str, ...]
    dynamic: bool  # depends on node loads / placement: recomputed on the two nodes of every move
    help: str
    default_weight: float | None = 1.0
    check: Callable[[dict], None] | None = None

    def args(self, cfg) -> dict:
        out = {k: cfg[k] for k in self.keys}
        if self.check is not None:
            try:
                self.check(out)
            except ValueError as exc:
                raise ValidationError(f"{self.name}: {exc}", details={"key": self.keys[0]}) from exc
        return out


REGISTRY: dict[str, Term] = {}


def register(name: str, kind: str, family: str, keys: tuple[str, ...] = (), dynamic: bool = True,
             help: str = "", default_weight: float | None = 1.0, check=None):
    """Decorator registering ``fn`` as term ``name``."""
    from ..config import KEY_BY_NAME

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


def penalties() -> list[Term]:
    return [t for t in REGISTRY.values() if t.kind == "penalty"]


def filters() -> list[Term]:
    return [t for t in REGISTRY.values() if t.kind == "filter"]


def default_term_weights() -> dict[str, float]:
    return {t.name: float(t.default_weight) for t in penalties()}


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


from . import cost, filters_builtin, load, placement  # noqa: E402,F401  (registration)
from . import stability  # noqa: E402,F401  (registration)
from . import forecast as _forecast  # noqa: E402,F401  (registration)
