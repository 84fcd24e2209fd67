"""The shared run-store contract (``flowsim.testing.contract``), unchanged, on Postgres.

Each test gets a freshly opened store on this module's own schema, emptied first. Without
a server the tests skip, saying why; with ``$CI`` set they fail instead
(``$FLOWSIM_TEST_POSTGRES_DSN`` names the server: see ``servers.py``).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from flowsim_postgres import open_store

from flowsim.store.protocol import RunStore
from flowsim.testing.contract import RunStoreContract
from tests.backends.servers import empty_schema, postgres_schema, with_query


@pytest.fixture(scope="module")
def contract_schema() -> Iterator[tuple[str, str]]:
    with postgres_schema("contract") as dsn_and_schema:
        yield dsn_and_schema


class TestPostgresStore(RunStoreContract):
    @pytest.fixture
    def store(self, contract_schema: tuple[str, str]) -> Iterator[RunStore]:
        dsn, schema = contract_schema
        store: Any = open_store(with_query(dsn, schema=schema))
        empty_schema(dsn, schema)
        yield store
        store.close()
