"""Versioned schema migrations: an ordered list of named steps, each applied once and recorded.

Add a step by appending ``Migration(name, apply)`` to :data:`MIGRATIONS`; never edit or reorder a released one.
All pending steps run inside one transaction per step, so a failed step leaves the database as it was.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy import Connection, Engine, inspect, select

from proxbalance.store import (
    automation,
    config_layer,
    forecast_tables,
    leases,
    maintenance,
    migrations_log,
    notifications,
    plans,
    recent_summary,
    schema,
    usage_summary,
)
from proxbalance.store.tx import write_tx


@dataclass(frozen=True)
class Migration:
    name: str
    apply: Callable[[Connection], None]


def _create(*tables):
    def apply(conn: Connection) -> None:
        for table in tables:
            table.create(conn)
    return apply


MIGRATIONS: list[Migration] = [
    Migration("0001_api_keys_and_audit", _create(schema.api_keys, schema.audit_log)),
    Migration("0002_collector_snapshots_history", _create(*schema.COLLECTOR_TABLES)),
    Migration("0003_recommendations", _create(*plans.TABLES)),
    Migration("0004_leases", _create(*leases.TABLES)),
    Migration("0005_executor", _create(*migrations_log.TABLES)),
    Migration("0006_evacuation_maintenance", _create(*maintenance.TABLES)),
    Migration("0007_automation", _create(*automation.TABLES, *notifications.TABLES)),
    Migration("0008_forecast_score_history", _create(*forecast_tables.TABLES)),
    Migration("0009_ops_config", config_layer.create_tables),
    Migration("0010_usage_summary", usage_summary.create_tables),
    Migration("0011_recent_usage_summary", recent_summary.create_tables),
]


def applied(engine: Engine) -> list[str]:
    """Names of the migrations recorded in the database, in order applied."""
    if not inspect(engine).has_table("schema_migrations"):
        return []
    with engine.connect() as conn:
        rows = conn.execute(select(schema.schema_migrations.c.name)
                            .order_by(schema.schema_migrations.c.applied_at, schema.schema_migrations.c.name))
        return [r[0] for r in rows]


def pending(engine: Engine, migrations: list[Migration] | None = None) -> list[Migration]:
    done = set(applied(engine))
    return [m for m in (MIGRATIONS if migrations is None else migrations) if m.name not in done]


def upgrade(engine: Engine, migrations: list[Migration] | None = None) -> list[str]:
    """Apply every pending migration; return the names applied (empty when up to date)."""
    migrations = MIGRATIONS if migrations is None else migrations
    with write_tx(engine, timeout=60) as conn:
        schema.schema_migrations.create(conn, checkfirst=True)
    done: list[str] = []
    for migration in pending(engine, migrations):
        # each step re-checks under the write lock: several workers starting at once apply it exactly once
        with write_tx(engine, timeout=60) as conn:
            if conn.execute(select(schema.schema_migrations.c.name)
                            .where(schema.schema_migrations.c.name == migration.name)).first():
                continue
            migration.apply(conn)
            conn.execute(schema.schema_migrations.insert().values(name=migration.name, applied_at=time.time()))
        done.append(migration.name)
    return done
