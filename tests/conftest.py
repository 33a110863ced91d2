"""Shared fixtures: settings on a temporary data directory, a migrated store, the app and API keys."""

from __future__ import annotations

import pytest
from hypothesis import settings as hyp_settings

from proxbalance.api import create_app
from proxbalance.config import load_settings
from proxbalance.store import Store
from proxbalance.store.keys import create_key

# Hypothesis is derandomised everywhere (CI and local runs draw the same examples, no example database), so a
# test that catches a bug catches it on every run; a test's own @settings(max_examples=...) sets how many.
hyp_settings.register_profile("derandomized", derandomize=True, database=None, deadline=None,
                              print_blob=True)
hyp_settings.load_profile("derandomized")


@pytest.fixture
def settings(tmp_path):
    return load_settings(env={}, overrides={"paths.data_dir": str(tmp_path / "data")})


@pytest.fixture
def store(settings):
    store = Store.open(settings)
    yield store
    store.close()


@pytest.fixture
def app(settings, store):
    return create_app(settings, store)


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def admin_key(store):
    return create_key(store.engine, "test-admin", "admin")[1]


@pytest.fixture
def read_key(store):
    return create_key(store.engine, "test-read", "read")[1]
