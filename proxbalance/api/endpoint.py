"""The ``endpoint`` decorator: one place that declares a route's method, path, scope and models.

It registers the route on a blueprint, records it for the OpenAPI document, and wraps the view so that it
- applies the per-key rate limit (read or write bucket; per address for anonymous or refused keys),
- checks the caller's scope (auth itself happens in ``auth.py`` before the request),
- parses the query string and the JSON body into pydantic models (400 naming the field on error),
- wraps a returned dict as ``{"success": true, ...}``;
- with ``cache=True`` (a GET whose answer depends only on the store and its inputs: no clock, no caller),
  serialises the answer once per data generation (store/version.py) and query, and answers it with an
  ``ETag`` (``304`` for a matching ``If-None-Match``). Rate limit, auth and validation still run first.

A view receives path parameters as keyword arguments, plus ``query=`` and/or ``body=`` when it declares
the corresponding model. It may return a dict, or a Flask ``Response`` for non-JSON answers (CSV, HTML).
"""

from __future__ import annotations

import functools
import hashlib
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from flask import Blueprint, Response, g, jsonify, request
from pydantic import BaseModel
from pydantic import ValidationError as PydanticValidationError
from werkzeug.http import quote_etag

from proxbalance.api import ratelimit
from proxbalance.api.guard import check_ints, parse_json
from proxbalance.api.state import generation, state
from proxbalance.errors import AuthError, ForbiddenError, ValidationError

WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
_CONVERTER = re.compile(r"<(?:(\w+):)?(\w+)>")


@dataclass(frozen=True)
class EndpointSpec:
    method: str
    path: str  # Flask rule, e.g. /api/guests/<int:vmid>/tags
    summary: str
    scope: str | None  # None = public, "read" or "admin"
    tag: str
    query: type[BaseModel] | None = None
    body: type[BaseModel] | None = None
    response: type[BaseModel] | None = None
    description: str = ""
    produces: tuple[str, ...] = ("application/json",)
    path_params: tuple[tuple[str, str], ...] = field(default=())  # (name, converter)
    status: int = 200  # the success status the view answers with
    cache: bool = False  # answer serialised once per data generation and query, with an ETag

    @property
    def openapi_path(self) -> str:
        return _CONVERTER.sub(lambda m: "{" + m.group(2) + "}", self.path)


#: every endpoint declared through the decorator, in declaration order (the OpenAPI document reads it)
ENDPOINTS: list[EndpointSpec] = []


def endpoint(bp: Blueprint, method: str, path: str, *, summary: str, scope: str | None = "default",
             query: type[BaseModel] | None = None, body: type[BaseModel] | None = None,
             response: type[BaseModel] | None = None, description: str = "",
             produces: tuple[str, ...] = ("application/json",), status: int = 200,
             cache: bool = False) -> Callable:
    """Declare a route. ``scope="default"`` means ``admin`` for writes and ``read`` otherwise."""
    method = method.upper()
    if cache and method != "GET":
        raise ValueError(f"{method} {path}: only a GET answer can be cached")
    if scope == "default":
        scope = "admin" if method in WRITE_METHODS else "read"
    spec = EndpointSpec(method=method, path=path, summary=summary, scope=scope, tag=bp.name, query=query,
                        body=body, response=response, description=description, produces=produces, status=status,
                        cache=cache,
                        path_params=tuple((m.group(2), m.group(1) or "string") for m in _CONVERTER.finditer(path)))
    ENDPOINTS.append(spec)

    def decorate(view: Callable[..., Any]) -> Callable[..., Any]:
        @functools.wraps(view)
        def wrapper(**path_args: Any) -> Any:
            g.endpoint_spec = spec
            # count before the auth check, so guessing keys is throttled per address like anything else
            ratelimit.hit("write" if method in WRITE_METHODS else "read")
            _check_scope(spec.scope)
            kwargs = dict(path_args)
            for name, value in path_args.items():
                check_ints(value, name)
            if query is not None:
                kwargs["query"] = _parse(query, _query_dict(), "query")
            if body is not None:
                kwargs["body"] = _parse(body, _json_body(), "body")
            if cache:
                return _cached(spec, view, kwargs)
            result = view(**kwargs)
            if isinstance(result, Response):
                return result
            status = 200
            if isinstance(result, tuple):
                result, status = result
            return jsonify({"success": True, **result}), status

        bp.add_url_rule(path, endpoint=f"{view.__name__}_{method.lower()}", view_func=wrapper, methods=[method])
        return wrapper

    return decorate


def _cached(spec: EndpointSpec, view: Callable[..., Any], kwargs: dict[str, Any]) -> Response:
    """The view's answer from the per-process memo (computed and serialised on a miss), as a fresh Response."""
    key = ("response", spec.method, spec.path,
           tuple(sorted((k, v.model_dump_json() if isinstance(v, BaseModel) else v) for k, v in kwargs.items())))

    def compute() -> tuple[bytes, str]:
        data = jsonify({"success": True, **view(**kwargs)}).get_data()
        return data, hashlib.sha256(data).hexdigest()[:32]

    data, tag = state().memo.get(generation(), key, compute)
    headers = {"ETag": quote_etag(tag)}
    if request.if_none_match.contains_weak(tag):  # If-None-Match compares weakly (RFC 9110 13.1.2)
        return Response(status=304, headers=headers)
    return Response(data, mimetype="application/json", headers=headers)


def _check_scope(scope: str | None) -> None:
    if scope is None or not g.get("auth_enabled", True):
        return
    principal = g.get("principal")
    if principal is None:
        raise AuthError(g.get("auth_failure") or "an API key is required (X-API-Key or Authorization: Bearer)")
    if scope == "admin" and principal.scope != "admin":
        raise ForbiddenError("this endpoint needs an API key with the 'admin' scope",
                             details={"required_scope": "admin", "key_scope": principal.scope})


def _query_dict() -> dict[str, Any]:
    out: dict[str, Any] = {}
    for key in request.args:
        values = request.args.getlist(key)
        out[key] = values if len(values) > 1 else values[0]
    return out


def _json_body() -> Any:
    raw = request.get_data(cache=True)
    if not raw:
        return {}
    if not request.is_json:
        raise ValidationError("request body must be JSON (Content-Type: application/json)",
                              details={"field": "body"})
    return parse_json(raw)  # depth and size were checked before auth (guard.check_request)


def _parse(model: type[BaseModel], data: Any, where: str) -> BaseModel:
    if not isinstance(data, dict):
        raise ValidationError(f"{where} must be a JSON object", details={"field": where})
    try:
        parsed = model.model_validate(data)
    except PydanticValidationError as exc:
        errors = [{"field": ".".join(str(p) for p in e["loc"]) or where, "message": e["msg"]}
                  for e in exc.errors(include_url=False, include_input=False)]
        first = errors[0]
        raise ValidationError(f"invalid {where} field '{first['field']}': {first['message']}",
                              details={"field": first["field"], "errors": errors}) from None
    check_ints(parsed.model_dump(), "")  # nothing beyond 64 bits reaches SQLite or numpy
    return parsed
