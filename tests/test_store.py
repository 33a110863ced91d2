import sqlite3

import pytest
from sqlalchemy import Column, Integer, Table, inspect, text

from proxbalance.store import Store
from proxbalance.store import migrations as mig
from proxbalance.store.db import make_engine
from proxbalance.store.schema import metadata


def test_upgrade_on_empty_database(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'a.sqlite'}")
    applied = mig.upgrade(engine)
    assert applied == [m.name for m in mig.MIGRATIONS]
    tables = set(inspect(engine).get_table_names())
    assert {"schema_migrations", "api_keys", "audit_log"} <= tables
    assert mig.upgrade(engine) == []  # idempotent
    assert mig.applied(engine) == applied


def test_upgrade_on_existing_database_keeps_data(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'b.sqlite'}")
    mig.upgrade(engine)
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO api_keys (name, prefix, key_hash, scope, created_at) "
                          "VALUES ('k', 'pb_x', 'h', 'read', 1)"))
    extra = Table("test_extra", metadata.__class__(), Column("id", Integer, primary_key=True))
    newer = [*mig.MIGRATIONS, mig.Migration("9999_test_extra", lambda conn: extra.create(conn))]
    assert mig.upgrade(engine, newer) == ["9999_test_extra"]
    assert "test_extra" in inspect(engine).get_table_names()
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM api_keys")).scalar_one() == 1


def test_failed_migration_changes_nothing(tmp_path):
    engine = make_engine(f"sqlite:///{tmp_path / 'c.sqlite'}")
    mig.upgrade(engine)

    def broken(conn):
        conn.execute(text("CREATE TABLE half_done (id INTEGER)"))
        raise RuntimeError("boom")

    with pytest.raises(RuntimeError):
        mig.upgrade(engine, [*mig.MIGRATIONS, mig.Migration("9998_broken", broken)])
    assert "half_done" not in inspect(engine).get_table_names()
    assert "9998_broken" not in mig.applied(engine)


def test_sqlite_pragmas(tmp_path, settings):
    store = Store.open(settings)
    with store.engine.connect() as conn:
        assert conn.execute(text("PRAGMA journal_mode")).scalar_one() == "wal"
        assert conn.execute(text("PRAGMA foreign_keys")).scalar_one() == 1
        assert conn.execute(text("PRAGMA busy_timeout")).scalar_one() >= 1000
    path = settings.data_dir / "proxbalance.sqlite"
    assert path.exists()  # the file lives under the data directory
    sqlite3.connect(path).execute("SELECT 1 FROM schema_migrations").fetchall()


def test_invalid_database_url_is_a_config_error():
    from proxbalance.errors import ConfigError

    with pytest.raises(ConfigError, match="database.url"):
        make_engine("not a url ::")
