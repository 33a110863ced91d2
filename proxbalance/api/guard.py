"""Edge input, checked before a body is parsed and before auth: body size, JSON nesting depth, and
integers that no column or array can hold.

- ``check_request`` (before_request, ahead of auth): a body larger than ``server.max_body_bytes`` is 413
  ``payload_too_large`` (werkzeug enforces the same bound on bodies without a Content-Length); a JSON body
  nested deeper than ``server.max_json_depth`` is 400 ``validation_error`` (``details.field = "body"``),
  found by a linear scan of the raw bytes (strings skipped), so no parser ever recurses on it.
- ``parse_json``: the body as JSON without ``NaN``/``Infinity`` (not JSON; they would reach numpy).
- ``check_ints``: every integer in parsed input within signed 64 bits (SQLite INTEGER, numpy int64).
"""

from __future__ import annotations

import json
import re
from typing import Any

import numpy as np
from flask import request

from proxbalance.errors import ProxBalanceError, ValidationError

INT64_MAX = 2**63 - 1
_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"', re.DOTALL)


class PayloadTooLargeError(ProxBalanceError):
    status = 413
    code = "payload_too_large"


def json_depth(raw: bytes) -> int:
    """Deepest nesting of ``[``/``{`` in a JSON text (0 for a scalar); brackets inside strings don't count."""
    stripped = np.frombuffer(_STRING.sub(b"", raw), dtype=np.uint8)
    steps = np.zeros(stripped.shape, dtype=np.int64)
    steps[(stripped == ord("[")) | (stripped == ord("{"))] = 1
    steps[(stripped == ord("]")) | (stripped == ord("}"))] = -1
    return int(np.cumsum(steps).max()) if steps.size else 0


def too_large(limit: int) -> PayloadTooLargeError:
    return PayloadTooLargeError(f"request body is larger than {limit} bytes", details={"limit_bytes": limit})


def check_request(max_bytes: int, max_depth: int) -> None:
    length = request.content_length
    if length is not None and length > max_bytes:
        raise too_large(max_bytes)
    if not length or not request.is_json:
        return
    raw = request.get_data(cache=True)  # bounded by MAX_CONTENT_LENGTH
    if json_depth(raw) > max_depth:
        raise ValidationError(f"JSON body is nested deeper than {max_depth} levels", details={"field": "body"})


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def parse_json(raw: bytes) -> Any:
    """Parse a (depth-checked) JSON body; ValidationError naming ``body`` when it is not valid JSON."""
    try:
        return json.loads(raw, parse_constant=_no_constant)
    except (ValueError, RecursionError, UnicodeDecodeError) as exc:
        raise ValidationError(f"request body is not valid JSON: {exc}", details={"field": "body"}) from None


def check_ints(value: Any, where: str) -> None:
    """400 naming the field for any int beyond signed 64 bits in a parsed (nested) value."""
    stack = [(where, value)]
    while stack:
        path, v = stack.pop()
        if isinstance(v, bool):
            continue
        if isinstance(v, int) and not -INT64_MAX - 1 <= v <= INT64_MAX:
            raise ValidationError(f"{path or 'value'} is out of range (integers must fit in 64 bits)",
                                  details={"field": path or where})
        if isinstance(v, dict):
            stack.extend((f"{path}.{k}" if path else str(k), x) for k, x in v.items())
        elif isinstance(v, list | tuple):
            stack.extend((f"{path}.{i}" if path else str(i), x) for i, x in enumerate(v))
