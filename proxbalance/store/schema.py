"""Table definitions (SQLAlchemy Core). Tables are created only by migrations (store/migrations.py)."""

from __future__ import annotations

from sqlalchemy import Boolean, Column, Float, Index, Integer, MetaData, String, Table, Text

metadata = MetaData()

schema_migrations = Table(
    "schema_migrations", metadata,
    Column("name", String(100), primary_key=True),
    Column("applied_at", Float, nullable=False),  # Unix seconds
)

api_keys = Table(
    "api_keys", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("name", String(100), nullable=False),
    Column("prefix", String(16), nullable=False),  # first characters of the key, shown in listings
    Column("key_hash", String(64), nullable=False, unique=True),  # sha256 hex of the whole key
    Column("scope", String(10), nullable=False),  # read | admin
    Column("created_at", Float, nullable=False),
    Column("last_used_at", Float),
    Column("revoked_at", Float),
)

audit_log = Table(
    "audit_log", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("time", Float, nullable=False),
    Column("actor", String(120), nullable=False),  # "key:<id>:<name>", "bootstrap", "cli", "anonymous"
    Column("method", String(10), nullable=False),
    Column("path", String(500), nullable=False),
    Column("status", Integer, nullable=False),
    Column("result", String(20), nullable=False),  # ok | error
    Column("request_id", String(40), nullable=False),
    Column("remote_addr", String(64)),
    Column("detail", Text),  # JSON: request body keys (secrets redacted) and error code
    Column("success", Boolean, nullable=False),
)
Index("ix_audit_log_time", audit_log.c.time)
