"""The simulator's field reference: every field each endpoint serves, with its JSON type (``fields.json``),
and :func:`check`, which holds an answer against it.

Spec forms (see ``_meta.types`` in the file): a type name (``integer``, ``number``, ``string``, ``boolean``
= PVE's 0/1 integers, ``null``, ``any``, ``object``); ``[spec]`` an array of ``spec``; a dict an object whose
keys ending in ``?`` are optional, ``*`` stands for any other key and ``~REGEX`` for keys matching it;
``{"$by": FIELD, VALUE: spec, ...}`` picks an object's spec by one field's value.
"""

from __future__ import annotations

import json
import re
from functools import lru_cache
from pathlib import Path

FILE = Path(__file__).resolve().parent / "fields.json"


@lru_cache(maxsize=1)
def endpoints() -> dict[str, dict]:
    """``"METHOD /path/{param}"`` -> ``{"source": ..., "returns": spec}``."""
    return json.loads(FILE.read_text())["endpoints"]


def _type_ok(name: str, v) -> bool:
    if name == "any":
        return True
    if name == "null":
        return v is None
    if name == "string":
        return isinstance(v, str)
    if name == "object":
        return isinstance(v, dict)
    if isinstance(v, bool):
        return False  # PVE sends 0/1, never JSON true/false
    if name == "integer":
        return isinstance(v, int)
    if name == "number":
        return isinstance(v, (int, float))
    if name == "boolean":
        return v in (0, 1)
    raise ValueError(f"unknown type '{name}' in the reference")


def check(spec, value, where: str = "$") -> list[str]:
    """Every difference between ``value`` and ``spec``, as ``"path: problem"`` strings (empty: conforms)."""
    if isinstance(spec, str):
        return [] if _type_ok(spec, value) else [f"{where}: expected {spec}, got {type(value).__name__} {value!r:.60}"]
    if isinstance(spec, list):
        if not isinstance(value, list):
            return [f"{where}: expected an array, got {type(value).__name__}"]
        out: list[str] = []
        for i, item in enumerate(value):
            out += check(spec[0], item, f"{where}[{i}]")
        return out
    if not isinstance(value, dict):
        return [f"{where}: expected an object, got {type(value).__name__}"]
    if "$by" in spec:
        key = spec["$by"]
        sub = spec.get(str(value.get(key)))
        if sub is None:
            return [f"{where}: {key}={value.get(key)!r} is not one of {sorted(k for k in spec if k != '$by')}"]
        return check(sub, value, where)
    out = []
    fields = {k.rstrip("?"): (v, not k.endswith("?")) for k, v in spec.items()
              if k != "*" and not k.startswith("~")}
    patterns = [(re.compile(k[1:]), v) for k, v in spec.items() if k.startswith("~")]
    for name, (_, required) in fields.items():
        if required and name not in value:
            out.append(f"{where}.{name}: missing")
    for name, v in value.items():
        if name in fields:
            out += check(fields[name][0], v, f"{where}.{name}")
            continue
        sub = next((s for rx, s in patterns if rx.search(name)), spec.get("*"))
        if sub is None:
            out.append(f"{where}.{name}: not in the reference")
        else:
            out += check(sub, v, f"{where}.{name}")
    return out
