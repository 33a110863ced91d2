"""Auth, scopes, the error shape, validation, rate limits, metrics, CORS, request ids and the audit log."""

import pytest
from openapi_spec_validator import validate

from proxbalance.api import create_app
from proxbalance.store.audit import entries
from proxbalance.store.keys import create_key, revoke_key


def h(key):
    return {"X-API-Key": key}


def assert_error_shape(resp, status, code):
    assert resp.status_code == status
    body = resp.get_json()
    assert set(body) == {"success", "error", "request_id"}
    assert body["success"] is False
    assert body["error"]["code"] == code
    assert isinstance(body["error"]["message"], str) and body["error"]["message"]
    assert body["request_id"] == resp.headers["X-Request-ID"]
    return body


def test_health_is_public_and_reports_components(client):
    resp = client.get("/api/health")
    assert resp.status_code == 200
    body = resp.get_json()
    assert body["success"] is True and body["status"] == "ok"
    assert body["components"]["database"]["status"] == "ok"
    assert body["components"]["proxmox"]["status"] == "not_configured"


def test_no_key_is_401(client):
    assert_error_shape(client.get("/api/keys"), 401, "unauthorized")


def test_unknown_key_is_401_with_reason(client):
    body = assert_error_shape(client.get("/api/keys", headers=h("pb_wrong")), 401, "unauthorized")
    assert "invalid or revoked" in body["error"]["message"]


def test_read_key_on_write_is_403(client, read_key):
    body = assert_error_shape(client.post("/api/keys", json={"name": "x"}, headers=h(read_key)), 403, "forbidden")
    assert body["error"]["details"]["required_scope"] == "admin"


def test_read_key_reads(client, read_key):
    assert client.get("/api/routes", headers=h(read_key)).status_code == 200


def test_bearer_header_works(client, admin_key):
    assert client.get("/api/keys", headers={"Authorization": f"Bearer {admin_key}"}).status_code == 200


def test_revoked_key_is_401(client, store):
    record, key = create_key(store.engine, "soon-gone", "admin")
    assert client.get("/api/keys", headers=h(key)).status_code == 200
    revoke_key(store.engine, record.id)
    assert_error_shape(client.get("/api/keys", headers=h(key)), 401, "unauthorized")


def test_keys_stored_hashed(client, admin_key, store):
    created = client.post("/api/keys", json={"name": "ci", "scope": "read"}, headers=h(admin_key))
    assert created.status_code == 201
    plaintext = created.get_json()["api_key"]
    with store.engine.connect() as conn:
        dump = "\n".join(str(tuple(r)) for r in conn.exec_driver_sql("SELECT * FROM api_keys"))
    assert plaintext not in dump and admin_key not in dump
    assert client.get("/api/routes", headers=h(plaintext)).status_code == 200


def test_validation_error_names_the_field(client, admin_key):
    body = assert_error_shape(client.post("/api/keys", json={"name": "x", "scope": "root"}, headers=h(admin_key)),
                              400, "validation_error")
    assert body["error"]["details"]["field"] == "scope"
    body = assert_error_shape(client.post("/api/keys", json={"name": "x", "bogus": 1}, headers=h(admin_key)),
                              400, "validation_error")
    assert body["error"]["details"]["field"] == "bogus"
    resp = client.post("/api/keys", data="{not json", headers={**h(admin_key), "Content-Type": "application/json"})
    assert_error_shape(resp, 400, "validation_error")
    body = assert_error_shape(client.get("/api/audit?limit=0", headers=h(admin_key)), 400, "validation_error")
    assert body["error"]["details"]["field"] == "limit"


def test_not_found_shapes(client, admin_key):
    assert_error_shape(client.delete("/api/keys/999999", headers=h(admin_key)), 404, "not_found")
    assert_error_shape(client.get("/api/does-not-exist", headers=h(admin_key)), 404, "not_found")


def test_request_id_echoed_or_generated(client):
    assert client.get("/api/health", headers={"X-Request-ID": "abc-123"}).headers["X-Request-ID"] == "abc-123"
    generated = client.get("/api/health", headers={"X-Request-ID": "bad id with spaces"}).headers["X-Request-ID"]
    assert generated and " " not in generated


def test_rate_limit_429(settings, store, admin_key):
    app = create_app(settings.replace(ratelimit__read_per_minute=3), store)
    client = app.test_client()
    statuses = [client.get("/api/routes", headers=h(admin_key)) for _ in range(4)]
    assert [r.status_code for r in statuses[:3]] == [200, 200, 200]
    assert statuses[0].headers["X-RateLimit-Limit"] == "3"
    assert statuses[2].headers["X-RateLimit-Remaining"] == "0"
    body = assert_error_shape(statuses[3], 429, "rate_limited")
    details = body["error"]["details"]
    assert details["limit"] == 3 and details["window_seconds"] == 60 and 1 <= details["retry_after_seconds"] <= 60
    assert int(statuses[3].headers["Retry-After"]) == details["retry_after_seconds"]
    # another key has its own budget
    other = create_key(store.engine, "other", "read")[1]
    assert client.get("/api/routes", headers=h(other)).status_code == 200


def test_key_guessing_is_rate_limited_per_address(settings, store):
    client = create_app(settings.replace(ratelimit__read_per_minute=2), store).test_client()
    statuses = [client.get("/api/routes", headers=h(f"pb_guess_{i}")).status_code for i in range(3)]
    assert statuses == [401, 401, 429]


def test_metrics(client, read_key, settings, store):
    client.get("/api/health")
    assert client.get("/metrics").status_code == 401
    resp = client.get("/metrics", headers=h(read_key))
    assert resp.status_code == 200
    text = resp.get_data(as_text=True)
    assert 'proxbalance_http_requests_total{endpoint="/api/health",method="GET",status="200"}' in text
    assert "proxbalance_http_request_duration_seconds_bucket" in text
    public = create_app(settings.replace(metrics__public=True), store).test_client()
    assert public.get("/metrics").status_code == 200


def test_cors_only_for_configured_origins(settings, store):
    client = create_app(settings.replace(server__cors_origins=["https://ok.example"]), store).test_client()
    allowed = client.get("/api/health", headers={"Origin": "https://ok.example"})
    assert allowed.headers["Access-Control-Allow-Origin"] == "https://ok.example"
    denied = client.get("/api/health", headers={"Origin": "https://evil.example"})
    assert "Access-Control-Allow-Origin" not in denied.headers


def test_audit_row_for_every_write(client, admin_key, read_key, store):
    client.post("/api/keys", json={"name": "audited", "scope": "read"}, headers=h(admin_key))
    client.post("/api/keys", json={"name": "denied"}, headers=h(read_key))
    client.get("/api/keys", headers=h(admin_key))  # reads are not audited
    rows, total = entries(store.engine)
    assert total == 2
    denied, created = rows
    assert created.method == "POST" and created.path == "/api/keys" and created.status == 201
    assert created.actor.endswith(":test-admin") and created.result == "ok"
    assert created.detail == {"fields": ["name", "scope"]}
    assert denied.status == 403 and denied.result == "error" and denied.actor.endswith(":test-read")


def test_auth_can_be_disabled_explicitly(settings, store):
    client = create_app(settings.replace(auth__enabled=False), store).test_client()
    assert client.get("/api/keys").status_code == 200


def test_openapi_document_valid_and_complete(client, read_key, app):
    resp = client.get("/api/openapi.json", headers=h(read_key))
    assert resp.status_code == 200
    doc = resp.get_json()
    doc.pop("success")
    validate(doc)
    documented = {(m.upper(), p) for p, ops in doc["paths"].items() for m in ops}
    import re
    for rule in app.url_map.iter_rules():
        if rule.endpoint in ("web", "static"):
            continue
        path = re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", rule.rule)
        for method in rule.methods - {"HEAD", "OPTIONS"}:
            assert (method, path) in documented, f"{method} {path} missing from OpenAPI"
    assert doc["paths"]["/api/health"]["get"]["security"] == []
    assert doc["paths"]["/api/keys"]["post"]["x-required-scope"] == "admin"


def test_docs_page_and_assets_served(client):
    page = client.get("/api/docs")
    assert page.status_code == 200 and b"swagger-ui-bundle.js" in page.data
    assert b"//cdn" not in page.data and b"unpkg" not in page.data
    asset = client.get("/api/docs/assets/swagger-ui-bundle.js")
    assert asset.status_code == 200 and len(asset.data) > 100_000
    assert client.get("/api/docs/assets/../../config.py").status_code == 404


def test_dashboard_served_in_demo_mode(client, settings, store):
    assert b"ProxBalance" in client.get("/").data
    off = create_app(settings.replace(server__serve_web=False), store).test_client()
    assert off.get("/").status_code == 404


@pytest.mark.parametrize("path", ["/api/keys/abc", "/api/keys/-1"])
def test_path_type_errors_are_404(client, admin_key, path):
    assert client.delete(path, headers=h(admin_key)).status_code in (404, 405)
