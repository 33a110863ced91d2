"""OpenAPI 3.1 document built from the ``ENDPOINTS`` registry and their pydantic models."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from proxbalance import __version__
from proxbalance.api.endpoint import ENDPOINTS, EndpointSpec

_REF = "#/components/schemas/{model}"
_PARAM_TYPES = {"int": {"type": "integer"}, "float": {"type": "number"}, "string": {"type": "string"},
                "path": {"type": "string"}}
_ERRORS = {
    "400": "Validation error (the message names the field)",
    "401": "Missing, invalid or revoked API key",
    "403": "The API key lacks the needed scope",
    "404": "Not found",
    "409": "Conflicting state",
    "413": "Request body too large (server.max_body_bytes)",
    "429": "Rate limit exceeded (retry_after_seconds, limit, window_seconds in error.details)",
    "503": "Proxmox unreachable or busy, database busy, or no data collected yet",
    "504": "Proxmox did not answer within server.proxmox_wait_seconds",
}

ERROR_SCHEMA = {
    "type": "object",
    "required": ["success", "error", "request_id"],
    "properties": {
        "success": {"type": "boolean", "const": False},
        "error": {"type": "object", "required": ["code", "message"],
                  "properties": {"code": {"type": "string"}, "message": {"type": "string"}, "details": {}}},
        "request_id": {"type": "string"},
    },
}


def _schema_of(model: type[BaseModel], components: dict[str, Any]) -> dict[str, Any]:
    schema = model.model_json_schema(ref_template=_REF, mode="validation")
    for name, sub in schema.pop("$defs", {}).items():
        _put(components, name, sub)
    name = model.__name__
    if name in components and components[name] != schema:  # same class name in two areas: qualify it
        name = f"{model.__module__.rsplit('.', 1)[-1]}.{name}"
    _put(components, name, schema)
    return {"$ref": _REF.format(model=name)}


def _put(components: dict[str, Any], name: str, schema: dict[str, Any]) -> None:
    """One schema per component name: two different models with one name would silently swap contracts."""
    if name in components and components[name] != schema:
        raise ValueError(f"two different models are both named {name!r}: rename one")
    components[name] = schema


def _operation(spec: EndpointSpec, components: dict[str, Any]) -> dict[str, Any]:
    op: dict[str, Any] = {"summary": spec.summary, "tags": [spec.tag],
                          "operationId": f"{spec.method.lower()}_{spec.openapi_path}"
                          .replace("/", "_").replace("{", "").replace("}", "").replace("-", "_")}
    if spec.description:
        op["description"] = spec.description
    params = [{"name": name, "in": "path", "required": True, "schema": _PARAM_TYPES.get(conv, {"type": "string"})}
              for name, conv in spec.path_params]
    if spec.query is not None:
        schema = spec.query.model_json_schema(ref_template=_REF)
        for sub_name, sub in schema.pop("$defs", {}).items():
            components[sub_name] = sub
        required = set(schema.get("required", []))
        for name, prop in schema.get("properties", {}).items():
            param = {"name": name, "in": "query", "required": name in required, "schema": prop}
            if "description" in prop:
                param["description"] = prop["description"]
            params.append(param)
    if spec.cache:
        params.append({"name": "If-None-Match", "in": "header", "required": False, "schema": {"type": "string"},
                       "description": "An ETag of an earlier answer: 304 without a body while it is current"})
    if params:
        op["parameters"] = params
    if spec.body is not None:
        op["requestBody"] = {"required": True,
                             "content": {"application/json": {"schema": _schema_of(spec.body, components)}}}
    ok_schema = _schema_of(spec.response, components) if spec.response else {"type": "object"}
    op["responses"] = {str(spec.status): {"description": "Success",
                               "content": {ct: {"schema": ok_schema if ct == "application/json"
                                                else {"type": "string"}} for ct in spec.produces}}}
    if spec.cache:
        etag = {"ETag": {"description": "Changes whenever the answer does", "schema": {"type": "string"}}}
        op["responses"][str(spec.status)]["headers"] = etag
        op["responses"]["304"] = {"description": "Not modified: If-None-Match names the current ETag",
                                  "headers": etag}
    codes = ["400", "413", "429", "404", "409", "503", "504"] if spec.scope is None else list(_ERRORS)
    for code in codes:
        op["responses"][code] = {"description": _ERRORS[code],
                                 "content": {"application/json": {"schema": {"$ref": _REF.format(model="Error")}}}}
    op["security"] = [] if spec.scope is None else [{"ApiKeyHeader": []}, {"BearerAuth": []}]
    if spec.scope:
        op["x-required-scope"] = spec.scope
    return op


def build_document() -> dict[str, Any]:
    components: dict[str, Any] = {"Error": ERROR_SCHEMA}
    paths: dict[str, dict[str, Any]] = {}
    for spec in ENDPOINTS:
        paths.setdefault(spec.openapi_path, {})[spec.method.lower()] = _operation(spec, components)
    return {
        "openapi": "3.1.0",
        "info": {"title": "ProxBalance API", "version": __version__,
                 "description": "Load balancing for Proxmox VE clusters. Every endpoint except /api/health "
                                "needs an API key (X-API-Key or Authorization: Bearer); writes need the "
                                "admin scope."},
        "paths": dict(sorted(paths.items())),
        "components": {
            "schemas": components,
            "securitySchemes": {
                "ApiKeyHeader": {"type": "apiKey", "in": "header", "name": "X-API-Key"},
                "BearerAuth": {"type": "http", "scheme": "bearer"},
            },
        },
        "security": [{"ApiKeyHeader": []}, {"BearerAuth": []}],
    }
