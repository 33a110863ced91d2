"""Route table and PVE-style parameter validation shared by the API modules."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

from proxbalance.sim.pve_errors import param_error

ROUTES: list[tuple[str, re.Pattern, Callable, dict]] = []
_BOOL = {"1": 1, "0": 0, "true": 1, "false": 0, "yes": 1, "no": 0, "on": 1, "off": 0}


@dataclass
class Ctx:
    sim: object  # the SimServer-side state bundle (cluster, tasks, ha, faults)
    user: str
    now: float


def route(method: str, pattern: str, **spec) -> Callable:
    """Register a handler. ``{name}`` in the pattern is a path segment; ``spec`` maps parameter names to
    ``(type, required[, enum])`` with type in int|bool|str|num. Path parameters are validated too."""
    rx = re.compile("^" + re.sub(r"\{(\w+)\}", r"(?P<\1>[^/]+)", pattern) + "$")

    def deco(fn: Callable) -> Callable:
        ROUTES.append((method, rx, fn, spec))
        return fn
    return deco


def validate(params: dict, spec: dict, strict: bool = True) -> dict:
    out, errors = {}, {}
    for name, rule in spec.items():
        typ, required = rule[0], rule[1]
        enum = rule[2] if len(rule) > 2 else None
        if name not in params or params[name] in (None, ""):
            if required:
                errors[name] = "property is missing and it is not optional"
            continue
        raw = str(params[name])
        if typ == "int":
            if not re.fullmatch(r"[+-]?\d+", raw):
                errors[name] = f"type check ('integer') failed - got '{raw}'"
                continue
            val = int(raw)
        elif typ == "num":
            try:
                val = float(raw)
            except ValueError:
                errors[name] = f"type check ('number') failed - got '{raw}'"
                continue
        elif typ == "bool":
            if raw.lower() not in _BOOL:
                errors[name] = f"type check ('boolean') failed - got '{raw}'"
                continue
            val = _BOOL[raw.lower()]
        else:
            val = raw
        if enum and val not in enum:
            errors[name] = f"value '{raw}' does not have a value in the enumeration '{', '.join(enum)}'"
            continue
        out[name] = val
    if strict:
        for name in params:
            if name not in spec:
                errors[name] = "property is not defined in schema and the schema does not allow additional properties"
    if errors:
        raise param_error(errors)
    return out


def match(method: str, path: str) -> tuple[Callable, dict, dict] | None | bool:
    """(handler, path params, spec); None if no path matches; False if the path exists for another method."""
    seen = False
    for m, rx, fn, spec in ROUTES:
        mo = rx.match(path)
        if mo:
            if m == method:
                return fn, mo.groupdict(), spec
            seen = True
    return False if seen else None
