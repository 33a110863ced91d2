"""Edge input: every case answers 4xx in the JSON error shape, names the field, and writes nothing."""

from __future__ import annotations

import pytest

from proxbalance.api import create_app
from proxbalance.api.guard import json_depth
from proxbalance.store.audit import entries
from proxbalance.store.keys import list_keys


def _err(resp, status, code="validation_error"):
    body = resp.get_json()
    assert resp.status_code == status, (resp.status_code, body)
    assert body["success"] is False and body["error"]["code"] == code and body["request_id"]
    return body["error"]


def _nothing_written(store, keys_before=None):
    assert entries(store.engine)[1] == 0
    if keys_before is not None:
        assert len(list_keys(store.engine)) == keys_before


def test_the_three_server_errors_are_400s(client, admin_key, store):
    h = {"X-API-Key": admin_key}
    assert _err(client.delete("/api/keys/9223372036854775808", headers=h), 400)["details"]["field"] == "key_id"
    assert _err(client.get("/api/audit?offset=100000000000000000000", headers=h), 400)["details"]["field"] == "offset"
    assert _err(client.get("/api/audit?offset=" + "9" * 400, headers=h), 400)["details"]["field"] == "offset"
    big = "9" * 400
    e = _err(client.post("/api/penalty-config", data='{"config": {"cpu_threshold": ' + big + '}}',
                         content_type="application/json", headers=h), 400)
    assert e["details"]["field"]
    assert len(list_keys(store.engine)) == 1  # only the admin key; rejected deletes changed nothing


def test_node_scores_with_half_a_hypothetical_guest_is_400(client, admin_key):
    e = _err(client.post("/api/node-scores", json={"vmid": 100, "cpu_cores": 2}, headers={"X-API-Key": admin_key}),
             400)
    assert "cpu_cores and mem_bytes" in e["message"] and e["details"]["field"] == "body"


def test_deep_json_without_a_key_is_400_before_auth_and_not_audited(client, store):
    deep = "[" * 50_000 + "]" * 50_000
    _err(client.post("/api/penalty-config", data=deep, content_type="application/json"), 400)
    e = _err(client.post("/api/keys", data='{"a":' * 40 + "1" + "}" * 40, content_type="application/json"), 400)
    assert e["details"]["field"] == "body" and "nested deeper" in e["message"]
    _nothing_written(store, keys_before=0)


def test_body_too_large_is_413_before_parsing_and_auth(client, store, admin_key):
    e = _err(client.post("/api/keys", data=b"{" + b" " * (2 * 1024 * 1024) + b"}", content_type="application/json"),
             413, "payload_too_large")
    assert e["details"]["limit_bytes"] == 1048576
    _err(client.post("/api/keys", data=b"x" * (1024 * 1024 + 1), headers={"X-API-Key": admin_key}),
         413, "payload_too_large")
    _nothing_written(store)  # refused before the key was even looked at


def test_unauthenticated_writes_leave_no_audit_row(client, store):
    for _ in range(5):
        _err(client.post("/api/keys", json={"name": "x", "scope": "admin"}), 401, "unauthorized")
        _err(client.post("/api/keys", json={"name": "x"}, headers={"X-API-Key": "pb_guess"}), 401, "unauthorized")
    _nothing_written(store, keys_before=0)


@pytest.mark.parametrize("method", ["GET", "POST", "PUT", "PATCH", "DELETE"])
def test_any_method_on_an_unknown_api_path_is_json_404_also_when_serving_the_dashboard(settings, store, method,
                                                                                     admin_key):
    client = create_app(settings.replace(server__serve_web=True), store).test_client()
    for path in ("/api/nothing", "/api/nothing/deeper", "/api"):
        resp = client.open(path, method=method, headers={"X-API-Key": admin_key})
        _err(resp, 404, "not_found")
    assert client.get("/").status_code == 200  # the dashboard itself still answers
    assert client.put("/api/keys", headers={"X-API-Key": admin_key}).status_code == 405  # known path


def test_names_with_control_characters_are_refused(client, admin_key, store):
    for name in ("a\x00b", "line\nbreak", "bell\x07", "del\x7f"):
        e = _err(client.post("/api/keys", json={"name": name, "scope": "read"}, headers={"X-API-Key": admin_key}), 400)
        assert e["details"]["field"] == "name"
    assert len(list_keys(store.engine)) == 1


def test_nan_and_infinity_are_not_json(client, admin_key):
    for text in ('{"config": {"cpu_threshold": NaN}}', '{"config": {"cpu_threshold": Infinity}}'):
        e = _err(client.post("/api/penalty-config", data=text, content_type="application/json",
                             headers={"X-API-Key": admin_key}), 400)
        assert e["details"]["field"] == "body"


def test_engine_validation_errors_name_the_field(client, admin_key):
    e = _err(client.post("/api/penalty-config", json={"config": {"no_such_key": 1}}, headers={"X-API-Key": admin_key}),
             400)
    assert e["details"]["field"] == "no_such_key"


def test_json_depth_ignores_brackets_in_strings():
    assert json_depth(b'{"a": "[[[[[[", "b": [1, {"c": "\\"]]]"}]}') == 3
    assert json_depth(b"1") == 0 and json_depth(b"") == 0


def test_compute_only_posts_are_allowed_to_read_keys(client, read_key, store):
    h = {"X-API-Key": read_key}
    for path, body in (("/api/node-scores", {"cpu_cores": 1, "mem_bytes": 1024}),
                       ("/api/guest/100/migration-options", {}), ("/api/penalty-config/simulate", {})):
        resp = client.post(path, json=body, headers=h)
        assert resp.status_code == 503 and resp.get_json()["error"]["code"] == "no_data"  # past the scope check
    assert client.post("/api/penalty-config", json={"config": {}}, headers=h).status_code == 403  # a real write


@pytest.mark.parametrize("provider", ["openai", "anthropic", "ollama"])
def test_an_ai_key_that_cannot_be_a_header_is_400(client, admin_key, settings, store, provider):
    """Found by bench/fuzz.py: a non-ASCII key made the openai client raise UnicodeEncodeError (500)."""
    h = {"X-API-Key": admin_key}
    for bad in ("é", "a b", "k\n", "\x00"):
        e = _err(client.post("/api/ai-models", json={"provider": provider, "api_key": bad}, headers=h), 400)
        assert e["details"]["field"] == "api_key"
    stored = "ai.ollama_api_key" if provider == "ollama" else f"ai.{provider}_api_key"
    app = create_app(settings.replace(**{stored.replace(".", "__"): "clé"}), store)
    e = _err(app.test_client().post("/api/ai-models", json={"provider": provider}, headers=h), 400)
    assert e["details"]["field"] == stored


def test_collection_minutes_beyond_any_int_is_400(client, admin_key, store):
    """Found by bench/fuzz.py: round(1e308 * 60) raised OverflowError (500)."""
    h = {"X-API-Key": admin_key}
    for path, body in (("/api/settings/collection", {"collection_interval_minutes": 1.5e308}),
                       ("/api/config", {"collection_interval_minutes": 4e307})):
        e = _err(client.post(path, json=body, headers=h), 400)
        assert e["details"]["field"]
    assert client.get("/api/config", headers=h).status_code == 200


@pytest.mark.parametrize("token_id", ["x", "root@pam", "root@pam!x\n", "ro ot@pam!x", "röot@pam!x", "a@b!"])
def test_a_token_id_that_is_not_user_realm_name_is_400(client, admin_key, token_id):
    """Found by bench/fuzz.py: a token id without '!' (ValueError) or with a newline (invalid header) was a 500."""
    h = {"X-API-Key": admin_key}
    e = _err(client.post("/api/system/delete-token", json={"admin": {"token_id": token_id}}, headers=h), 400)
    assert e["details"]["field"] == "admin.token_id"
    e = _err(client.post("/api/validate-token", json={"token_id": token_id, "token_secret": "s"}, headers=h), 400)
    assert e["details"]["field"] == "token_id"
    e = _err(client.post("/api/system/delete-token", json={"admin": {"token_id": "a@pam!b", "token_secret": "s\n"}},
                         headers=h), 400)
    assert e["details"]["field"] == "admin.token_secret"
