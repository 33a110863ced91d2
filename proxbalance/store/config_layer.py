"""The API layer of settings, and configuration backups (migration ``0009_ops_config``).

``config_layer`` holds one row per setting changed through the API (JSON value); ``config_revision`` one row
whose ``revision`` goes up on every change, so each API worker notices a change by reading one integer.
``config_backups`` keeps named copies of the effective settings, secrets redacted.

Updates are read-modify-write in ONE write transaction (:func:`proxbalance.store.tx.write_tx`: ``BEGIN
IMMEDIATE`` on SQLite) whose first statement is the revision bump (which also takes the row lock on other
databases), so two workers posting at once are serialised and neither loses the other's change.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Column, Connection, Engine, Float, Integer, String, Table, Text, delete, select, update

from proxbalance.store.schema import metadata
from proxbalance.store.tx import write_tx

config_layer = Table(
    "config_layer", metadata,
    Column("name", String(100), primary_key=True),  # dotted setting name
    Column("value", Text, nullable=False),  # JSON
    Column("updated_at", Float, nullable=False),  # Unix seconds
    Column("actor", String(120), nullable=False),
)

config_revision = Table(
    "config_revision", metadata,
    Column("id", Integer, primary_key=True),  # always 1
    Column("revision", Integer, nullable=False),
    Column("updated_at", Float, nullable=False),
)

config_backups = Table(
    "config_backups", metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("created_at", Float, nullable=False),
    Column("actor", String(120), nullable=False),
    Column("note", String(200), nullable=False),
    Column("document", Text, nullable=False),  # JSON export document (secrets redacted)
)

TABLES = (config_layer, config_revision, config_backups)


def create_tables(conn: Connection) -> None:
    for table in TABLES:
        table.create(conn)
    conn.execute(config_revision.insert().values(id=1, revision=0, updated_at=time.time()))


@dataclass(frozen=True)
class Backup:
    id: int
    created_at: float
    actor: str
    note: str
    document: dict[str, Any]


def revision(engine: Engine) -> int:
    with engine.connect() as conn:
        return int(conn.execute(select(config_revision.c.revision).where(config_revision.c.id == 1))
                   .scalar_one_or_none() or 0)


def read_layer(engine: Engine) -> tuple[int, dict[str, Any]]:
    """(revision, {dotted name: value}) read in one transaction."""
    with engine.connect() as conn:
        rev = conn.execute(select(config_revision.c.revision).where(config_revision.c.id == 1)).scalar_one()
        rows = conn.execute(select(config_layer.c.name, config_layer.c.value)).all()
    return int(rev), {name: json.loads(value) for name, value in rows}


def modify_layer(engine: Engine, change: Callable[[dict[str, Any]], tuple[dict[str, Any], Any]],
                 actor: str) -> tuple[int, Any]:
    """Read-modify-write the API layer in one write transaction.

    ``change(current) -> (new_layer, result)`` may raise to abort (nothing is written). Returns
    ``(new revision, result)``.
    """
    with write_tx(engine) as conn:
        now = time.time()
        # the write comes first: it takes the database write lock before the read below
        conn.execute(update(config_revision).where(config_revision.c.id == 1)
                     .values(revision=config_revision.c.revision + 1, updated_at=now))
        rev = conn.execute(select(config_revision.c.revision).where(config_revision.c.id == 1)).scalar_one()
        current = {name: json.loads(value) for name, value in
                   conn.execute(select(config_layer.c.name, config_layer.c.value)).all()}
        new, result = change(dict(current))
        for name in set(current) - set(new):
            conn.execute(delete(config_layer).where(config_layer.c.name == name))
        for name, value in new.items():
            if name in current and current[name] == value:
                continue
            conn.execute(delete(config_layer).where(config_layer.c.name == name))
            conn.execute(config_layer.insert().values(name=name, value=json.dumps(value), updated_at=now,
                                                      actor=actor[:120]))
    return int(rev), result


def add_backup(engine: Engine, document: dict[str, Any], actor: str, note: str = "") -> Backup:
    now = time.time()
    with engine.begin() as conn:
        result = conn.execute(config_backups.insert().values(created_at=now, actor=actor[:120], note=note[:200],
                                                             document=json.dumps(document, sort_keys=True)))
        backup_id = int(result.inserted_primary_key[0])
    return Backup(backup_id, now, actor, note, document)


def list_backups(engine: Engine, limit: int = 100) -> list[Backup]:
    with engine.connect() as conn:
        rows = conn.execute(select(config_backups).order_by(config_backups.c.id.desc()).limit(limit)).all()
    return [Backup(r.id, r.created_at, r.actor, r.note, json.loads(r.document)) for r in rows]


def get_backup(engine: Engine, backup_id: int) -> Backup | None:
    with engine.connect() as conn:
        r = conn.execute(select(config_backups).where(config_backups.c.id == backup_id)).one_or_none()
    return None if r is None else Backup(r.id, r.created_at, r.actor, r.note, json.loads(r.document))
