"""``plain(obj)``: a dataclass as JSON-ready builtins, like ``dataclasses.asdict`` but several times faster.

``asdict`` deep-copies every leaf through a generic recursion; snapshots and the inventory write thousands of
frozen model objects per collection (2,000 guests: ~1 s of ``asdict`` per cycle). Our models hold only
scalars, tuples/lists of scalars or of models, and nested models, so a per-class field list is enough.
Tuples become lists, exactly as ``json.dumps(asdict(x))`` would write them.
"""

from __future__ import annotations

from dataclasses import fields, is_dataclass
from functools import cache
from typing import Any


@cache
def _names(cls: type) -> tuple[str, ...] | None:
    """The field names of a dataclass type, None for any other type."""
    return tuple(f.name for f in fields(cls)) if is_dataclass(cls) else None


_SCALARS = (str, int, float, bool, type(None))


def plain(obj: Any) -> Any:
    """``obj`` with every dataclass turned into a dict and every tuple/list into a list (recursively)."""
    if isinstance(obj, _SCALARS):
        return obj
    if isinstance(obj, (tuple, list)):
        return [plain(x) for x in obj]
    if isinstance(obj, dict):
        return {k: plain(v) for k, v in obj.items()}
    names = _names(type(obj))
    if names is None:
        return obj
    return {n: plain(getattr(obj, n)) for n in names}
