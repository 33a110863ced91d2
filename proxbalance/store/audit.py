"""Audit log: one row per write request (who, what, when, result)."""

from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine, func, select

from proxbalance.store.schema import audit_log
from proxbalance.store.tx import write_tx


@dataclass(frozen=True)
class AuditEntry:
    id: int
    time: float
    actor: str
    method: str
    path: str
    status: int
    result: str
    request_id: str
    remote_addr: str | None
    detail: dict[str, Any] | None


def record(engine: Engine, *, actor: str, method: str, path: str, status: int, request_id: str,
           remote_addr: str | None = None, detail: dict[str, Any] | None = None) -> None:
    ok = status < 400
    with write_tx(engine) as conn:
        conn.execute(audit_log.insert().values(
            time=time.time(), actor=actor, method=method, path=path[:500], status=status,
            result="ok" if ok else "error", success=ok, request_id=request_id, remote_addr=remote_addr,
            detail=json.dumps(detail, sort_keys=True) if detail else None))


def entries(engine: Engine, limit: int = 100, offset: int = 0) -> tuple[list[AuditEntry], int]:
    """Newest first, with the total count."""
    with engine.connect() as conn:
        total = conn.execute(select(func.count()).select_from(audit_log)).scalar_one()
        rows = conn.execute(select(audit_log).order_by(audit_log.c.id.desc()).limit(limit).offset(offset))
        return [AuditEntry(r.id, r.time, r.actor, r.method, r.path, r.status, r.result, r.request_id,
                           r.remote_addr, json.loads(r.detail) if r.detail else None) for r in rows], total
