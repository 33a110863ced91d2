"""Notifications: send a test message, list the configured providers (URLs redacted) with their last status."""

from __future__ import annotations

from flask import Blueprint
from pydantic import BaseModel, Field

from proxbalance import notify
from proxbalance.api.endpoint import endpoint
from proxbalance.api.models import StrictModel
from proxbalance.api.state import state
from proxbalance.automation_config import effective

bp = Blueprint("notifications", __name__)


class TestBody(StrictModel):
    provider: str | None = Field(None, min_length=1, max_length=60, pattern=r"^[A-Za-z0-9_+-]+$",
                                 description="Provider id from GET /api/notifications/providers (e.g. discord, "
                                             "json, mailto-2); omitted = every provider")


class Delivery(BaseModel):
    time: float
    ok: bool
    error: str | None
    event: str | None


class ProviderInfo(BaseModel):
    id: str = Field(description="Provider id (URL scheme, -2, -3 ... for repeats)")
    index: int = Field(description="Position in notifications.urls")
    service: str
    url: str = Field(description="The URL with secrets masked")
    valid: bool = Field(description="apprise understands the URL")
    last_delivery: Delivery | None


class ProvidersResponse(BaseModel):
    success: bool
    enabled: bool
    events: list[str]
    providers: list[ProviderInfo]
    count: int


class TestResult(BaseModel):
    id: str
    service: str
    url: str
    ok: bool
    error: str | None


class TestResponse(BaseModel):
    success: bool
    results: list[TestResult]
    delivered: int
    failed: int


@endpoint(bp, "GET", "/api/notifications/providers", response=ProvidersResponse,
          summary="Configured notification providers (URLs redacted) and their last delivery status.")
def list_providers():
    st = state()
    settings = effective(st.settings, st.store)
    items = notify.providers(settings, st.store)
    return {"enabled": settings["notifications.enabled"], "events": settings["notifications.events"],
            "providers": items, "count": len(items)}


@endpoint(bp, "POST", "/api/notifications/test", body=TestBody, response=TestResponse,
          summary="Send a test notification to one provider or to all (works while notifications are off).")
def send_test(body: TestBody):
    st = state()
    results = notify.send_test(effective(st.settings, st.store), st.store, body.provider, now=st.clock())
    ok = sum(1 for r in results if r["ok"])
    return {"results": results, "delivered": ok, "failed": len(results) - ok}
