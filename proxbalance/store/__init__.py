"""Persistence: engine setup, schema migrations and repositories returning plain objects."""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import Engine

from proxbalance.config import Settings
from proxbalance.store.db import make_engine
from proxbalance.store.decision_inputs import DecisionInputs
from proxbalance.store.migrations import upgrade
from proxbalance.store.version import DataVersion


@dataclass
class Store:
    """The database handle every layer receives. ``engine`` is a SQLAlchemy engine."""

    engine: Engine
    #: the generation API caches are keyed on (store/version.py)
    version: DataVersion = field(init=False, repr=False)
    #: the newest snapshot and its history, decoded once per collection (store/decision_inputs.py)
    inputs: DecisionInputs = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.version = DataVersion(self.engine)
        self.inputs = DecisionInputs()

    @classmethod
    def open(cls, settings: Settings, *, migrate: bool = True) -> Store:
        store = cls(make_engine(settings.database_url))
        if migrate:
            upgrade(store.engine)
        return store

    def close(self) -> None:
        self.version.close()
        self.inputs.clear()
        self.engine.dispose()
