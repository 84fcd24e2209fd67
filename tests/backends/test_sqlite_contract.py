"""The shared run-store contract (``flowsim.testing.contract``), unchanged, on SQLite: each
test gets a fresh, migrated store on a real file in its own temporary directory."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from flowsim_sqlite import SqliteStore, open_store

from flowsim.store.protocol import RunStore
from flowsim.testing.contract import RunStoreContract


class TestSqliteStoreContract(RunStoreContract):
    @pytest.fixture
    def store(self, tmp_path: Path) -> Iterator[RunStore]:
        store: SqliteStore = open_store(f"sqlite:///{tmp_path / 'runs.db'}")
        store.migrate()
        yield store
        store.close()
