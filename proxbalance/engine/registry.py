"""The term registry: named filters and penalties (no imports of config, terms or arrays).

Imports run one way inside ``engine/``: ``registry`` <- ``config`` <- ``arrays`` / ``masks`` <- ``terms`` <-
``state`` / ``score`` / planner. ``terms`` fills :data:`REGISTRY` (``terms.register``); ``config`` reads it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from ..errors import ValidationError


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


def penalties() -> list[Term]:
    return [t for t in REGISTRY.values() if t.kind == "penalty"]


def filters() -> list[Term]:
    return [t for t in REGISTRY.values() if t.kind == "filter"]


def default_term_weights() -> dict[str, float]:
    return {t.name: float(t.default_weight) for t in penalties()}
