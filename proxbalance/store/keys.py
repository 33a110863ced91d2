"""API keys, stored hashed. A key is shown once, at creation; only its sha256 and a prefix are kept."""

from __future__ import annotations

import hashlib
import secrets
import time
from dataclasses import dataclass

from sqlalchemy import Engine, select, update

from proxbalance.errors import NotFoundError, ValidationError
from proxbalance.store.schema import api_keys
from proxbalance.store.tx import best_effort, write_tx

SCOPES = ("read", "admin")
KEY_PREFIX = "pb_"
#: ``last_used_at`` is written when it is older than this (seconds): not one write per request
USE_RESOLUTION_SECONDS = 60


@dataclass(frozen=True)
class ApiKey:
    id: int
    name: str
    prefix: str
    scope: str
    created_at: float
    last_used_at: float | None
    revoked_at: float | None

    @property
    def active(self) -> bool:
        return self.revoked_at is None


def hash_key(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8")).hexdigest()


def _row(r) -> ApiKey:
    return ApiKey(r.id, r.name, r.prefix, r.scope, r.created_at, r.last_used_at, r.revoked_at)


def create_key(engine: Engine, name: str, scope: str) -> tuple[ApiKey, str]:
    """Create a key; return the record and the plaintext key (the only time it exists)."""
    if scope not in SCOPES:
        raise ValidationError(f"scope must be one of {', '.join(SCOPES)}", details={"field": "scope"})
    name = name.strip()
    if not name or len(name) > 100:
        raise ValidationError("name must be 1-100 characters", details={"field": "name"})
    if any(ord(c) < 32 or 127 <= ord(c) < 160 for c in name):
        raise ValidationError("name must not contain control characters", details={"field": "name"})
    plaintext = KEY_PREFIX + secrets.token_urlsafe(32)
    with write_tx(engine) as conn:
        result = conn.execute(api_keys.insert().values(
            name=name, prefix=plaintext[:10], key_hash=hash_key(plaintext), scope=scope, created_at=time.time()))
        key_id = result.inserted_primary_key[0]
        row = conn.execute(select(api_keys).where(api_keys.c.id == key_id)).one()
    return _row(row), plaintext


def list_keys(engine: Engine, include_revoked: bool = True) -> list[ApiKey]:
    query = select(api_keys).order_by(api_keys.c.id)
    if not include_revoked:
        query = query.where(api_keys.c.revoked_at.is_(None))
    with engine.connect() as conn:
        return [_row(r) for r in conn.execute(query)]


def revoke_key(engine: Engine, key_id: int) -> ApiKey:
    with write_tx(engine) as conn:
        row = conn.execute(select(api_keys).where(api_keys.c.id == key_id)).one_or_none()
        if row is None:
            raise NotFoundError(f"API key {key_id} does not exist")
        if row.revoked_at is None:
            conn.execute(update(api_keys).where(api_keys.c.id == key_id).values(revoked_at=time.time()))
        row = conn.execute(select(api_keys).where(api_keys.c.id == key_id)).one()
    return _row(row)


def find_key(engine: Engine, digest: str) -> ApiKey | None:
    """The active key whose sha256 is ``digest`` (see :func:`hash_key`), or None. Reads only."""
    with engine.connect() as conn:
        row = conn.execute(select(api_keys).where(api_keys.c.key_hash == digest)).one_or_none()
    if row is None or row.revoked_at is not None:
        return None
    return _row(row)


def record_use(engine: Engine, key: ApiKey, now: float | None = None) -> None:
    """Note that ``key`` was used, at most once per ``USE_RESOLUTION_SECONDS``, best effort: a busy or failing database skips that
    bookkeeping (logged) and never fails the request."""
    now = time.time() if now is None else now
    if key.last_used_at is None or now - key.last_used_at > USE_RESOLUTION_SECONDS:
        best_effort(engine, lambda c: c.execute(update(api_keys).where(api_keys.c.id == key.id)
                                                .values(last_used_at=now)), what="API key last-use update")


def verify_key(engine: Engine, plaintext: str) -> ApiKey | None:
    """The active key matching ``plaintext``, or None; records its last use (:func:`record_use`)."""
    key = find_key(engine, hash_key(plaintext))
    if key is not None:
        record_use(engine, key)
    return key
