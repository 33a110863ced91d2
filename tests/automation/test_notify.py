"""Notifications delivered for real: to a local HTTP endpoint (apprise json://) and a local SMTP server."""

from __future__ import annotations

import pytest

from proxbalance import notify
from proxbalance import notify_messages as msg
from proxbalance.errors import NotFoundError
from tests.automation.servers import HttpReceiver, SmtpReceiver, free_port

CAND = {"vmid": 123, "name": "db-1", "type": "VM", "source_node": "pve1", "target_node": "pve3",
        "reason": "overload", "score_improvement": 12.5, "confidence_score": 88,
        "migration": {"gib": 3.25, "seconds": 42.0},
        "predicted": {"source_cpu_pct_before": 91.0, "source_cpu_pct": 70.5, "source_mem_pct_before": 80.0,
                      "source_mem_pct": 71.0, "target_cpu_pct_before": 20.0, "target_cpu_pct": 35.5,
                      "target_mem_pct_before": 30.0, "target_mem_pct": 39.0}}


@pytest.fixture
def http():
    r = HttpReceiver()
    yield r
    r.close()


@pytest.fixture
def smtp():
    r = SmtpReceiver()
    yield r
    r.close()


def on(settings, urls, events=None):
    return settings.replace(notifications__enabled=True, notifications__urls=urls,
                            notifications__events=events or list(notify.NOTIFY_EVENTS))


def test_json_delivery_carries_the_numbers_and_is_sent_once(settings, store, http):
    s = on(settings, [http.url()])
    title, body = msg.migration_started(CAND)
    out = notify.notify(s, store, "migration_started", "migration_started:m-1", title, body, now=1000.0)
    assert out == {"event": "migration_started", "key": "migration_started:m-1", "delivered": 1, "failed": 0}
    assert len(http.received) == 1
    path, _, payload = http.received[0]
    assert path == "/hook"
    assert payload["title"] == "ProxBalance: migrating 123 to pve3"
    for text in ("pve1 -> pve3", "confidence 88%", "3.25 GiB", "about 42 s", "CPU 91.0% -> 70.5%",
                 "pve3 CPU 20.0% -> 35.5%"):
        assert text in payload["message"], text
    # the same event again (a retried cycle, a second worker): nothing is sent
    assert notify.notify(s, store, "migration_started", "migration_started:m-1", title, body) is None
    assert len(http.received) == 1


def test_email_delivery_to_a_local_smtp_server(settings, store, smtp):
    s = on(settings, [smtp.url()])
    title, body = msg.migration_failed(CAND, "target pve3 has no storage local-zfs")
    out = notify.notify(s, store, "migration_failed", "migration_failed:m-2", title, body, level="failure")
    assert out["delivered"] == 1
    assert len(smtp.messages) == 1
    m = smtp.messages[0]
    assert m["Subject"] == "ProxBalance: migration of 123 FAILED"
    assert m["To"] == "admin@example.com"
    assert "VM 123 (db-1) pve1 -> pve3 failed: target pve3 has no storage local-zfs" in SmtpReceiver.text(m)


def test_failed_delivery_is_logged_recorded_and_never_raised(settings, store, http, caplog):
    dead = f"json://127.0.0.1:{free_port()}/nobody"
    s = on(settings, [dead, http.url()])
    title, body = msg.automation_paused(3, "migration 9 failed")
    out = notify.notify(s, store, "automation_paused", "paused:1", title, body)
    assert out["delivered"] == 1 and out["failed"] == 1  # the live provider still got it
    assert "Paused after 3 consecutive failed migrations" in http.received[0][2]["message"]
    assert any("failed" in r.message for r in caplog.records if r.name == "proxbalance.notify")
    status = {p["id"]: p["last_delivery"] for p in notify.providers(s, store)}
    assert status["json"]["ok"] is False and status["json"]["error"]
    assert status["json-2"]["ok"] is True


def test_events_not_selected_or_notifications_off_send_nothing(settings, store, http):
    s = on(settings, [http.url()], events=["migration_failed"])
    assert notify.notify(s, store, "cycle_summary", "cycle:1", "t", "b") is None
    assert notify.notify(s.replace(notifications__enabled=False), store, "migration_failed", "f:1", "t", "b") is None
    assert http.received == []
    assert notify.notify(s, store, "not_an_event", "x:1", "t", "b") is None  # logged, not raised


def test_providers_are_redacted(settings, store, http):
    s = on(settings, [http.url(password="hunter2-token"), "discord://1234/webhooktoken-xyz", "bogus"])
    items = notify.providers(s, store)
    assert [p["id"] for p in items] == ["json", "discord", "invalid"]
    text = repr(items)
    assert "hunter2-token" not in text and "webhooktoken-xyz" not in text
    assert items[0]["service"] == "JSON" and items[0]["valid"] and not items[2]["valid"]


def test_send_test_to_one_provider_or_all(settings, store, http, smtp):
    s = settings.replace(notifications__urls=[http.url(), smtp.url()])  # works while notifications are off
    res = notify.send_test(s, store, "mailto")
    assert [r["id"] for r in res] == ["mailto"] and res[0]["ok"]
    assert len(smtp.messages) == 1 and http.received == []
    assert len(notify.send_test(s, store)) == 2
    assert len(http.received) == 1 and http.received[0][2]["title"] == "ProxBalance test notification"
    with pytest.raises(NotFoundError):
        notify.send_test(s, store, "slack")


def test_api_providers_and_test(settings, store, http, admin_key, read_key):
    from proxbalance.api import create_app

    s = on(settings, [http.url(password="pw-should-not-leak")])
    client = create_app(s, store).test_client()
    r = client.get("/api/notifications/providers", headers={"X-API-Key": read_key})
    assert r.status_code == 200, r.json
    assert r.json["count"] == 1 and r.json["providers"][0]["last_delivery"] is None
    assert "pw-should-not-leak" not in r.get_data(as_text=True)
    assert client.post("/api/notifications/test", json={"provider": "json"},
                       headers={"X-API-Key": read_key}).status_code == 403
    r = client.post("/api/notifications/test", json={"provider": "json"}, headers={"X-API-Key": admin_key})
    assert r.status_code == 200 and r.json["delivered"] == 1
    r = client.post("/api/notifications/test", json={"provider": "nope"}, headers={"X-API-Key": admin_key})
    assert r.status_code == 404 and r.json["error"]["details"]["known"] == ["json"]
    r = client.post("/api/notifications/test", json={"provider": "a b"}, headers={"X-API-Key": admin_key})
    assert r.status_code == 400
    r = client.get("/api/notifications/providers", headers={"X-API-Key": read_key})
    assert r.json["providers"][0]["last_delivery"]["ok"] is True
