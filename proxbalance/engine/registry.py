"""The term registry: named filters and penalties, :func:`register` and the helpers terms share.

Imports run one way inside ``engine/``: ``registry`` <- ``config`` <- ``arrays`` / ``masks`` <- ``terms`` <-
``state`` / ``score`` / planner. ``terms`` fills :data:`REGISTRY` (:func:`register`; ``terms`` then checks every term's keys against ``config``); ``config``
reads it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

import numpy as np

from ..errors import ConfigError, ValidationError


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
    # (args, state) -> list of curves.Curve (None: not expressible for these args); the fn's ``curves``
    curves: Callable | None = None

    def args(self, cfg) -> dict:
        out = {k: cfg[k] for k in self.keys}
        if self.check is not None:
            try:
                self.check(out)
            except ValueError as exc:
                raise ValidationError(f"{self.name}: {exc}", details={"key": self.keys[0]}) from exc
        return out


REGISTRY: dict[str, Term] = {}


def penalties() -> list[Term]:
    return [t for t in REGISTRY.values() if t.kind == "penalty"]


def filters() -> list[Term]:
    return [t for t in REGISTRY.values() if t.kind == "filter"]


def default_term_weights() -> dict[str, float]:
    return {t.name: float(t.default_weight) for t in penalties()}


def register(name: str, kind: str, family: str, keys: tuple[str, ...] = (), dynamic: bool = True,
             help: str = "", default_weight: float | None = 1.0, check=None):
    """Decorator registering ``fn`` as term ``name``."""
    def deco(fn):
        if name in REGISTRY:
            raise ConfigError(f"term {name!r} registered twice")
        if kind == "penalty" and default_weight is None:
            raise ConfigError(f"penalty term {name!r} has no default weight")
        REGISTRY[name] = Term(name, kind, family, fn, tuple(keys), dynamic, help,
                              default_weight if kind == "penalty" else None, check, getattr(fn, "curves", None))
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
