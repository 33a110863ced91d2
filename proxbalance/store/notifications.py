"""Notification bookkeeping: one row per event key ever sent (dedupe) and the last delivery status of each
provider (keyed by a hash of its URL, never the URL). Created by migration ``0007_automation``."""

from __future__ import annotations

from sqlalchemy import Column, Float, Integer, String, Table, Text

from proxbalance.store.schema import metadata

notification_events = Table(
    "notification_events", metadata,
    Column("event_key", String(200), primary_key=True),  # one notification per key, ever
    Column("event", String(40), nullable=False),
    Column("time", Float, nullable=False),
    Column("title", Text, nullable=False),
    Column("delivered", Integer, nullable=False, default=0),  # providers that accepted it
    Column("failed", Integer, nullable=False, default=0),
)

notification_providers = Table(
    "notification_providers", metadata,
    Column("url_hash", String(64), primary_key=True),  # sha256 of the URL; the URL is never stored
    Column("last_time", Float, nullable=False),
    Column("last_ok", Integer, nullable=False),
    Column("last_error", Text),
    Column("last_event", String(40)),
)

TABLES = (notification_events, notification_providers)
