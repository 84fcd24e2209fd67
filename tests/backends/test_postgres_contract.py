"""The shared run-store contract (``flowsim.testing.contract``), unchanged, on Postgres.

Each test gets a freshly opened store on this session's own schema, emptied first. Without
a server the tests skip, saying why; with ``$CI`` set they fail instead
(``$FLOWSIM_TEST_POSTGRES_DSN`` names the server, as for test_postgres_store.py).
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from flowsim_postgres import mask_url, open_store

from flowsim.store.protocol import RunStore
from flowsim.testing.contract import RunStoreContract

DSN_VARIABLE = "FLOWSIM_TEST_POSTGRES_DSN"
DEFAULT_DSN = "postgresql://postgres@127.0.0.1:5432/test"


def _admin(dsn: str, *statements: str) -> None:
    import psycopg

    with psycopg.connect(dsn, autocommit=True) as conn:
        for statement in statements:
            conn.execute(statement)


@pytest.fixture(scope="module")
def contract_schema_url() -> Iterator[str]:
    dsn = os.environ.get(DSN_VARIABLE, DEFAULT_DSN)
    reason = None
    try:
        import psycopg

        psycopg.connect(dsn, connect_timeout=3).close()
    except ImportError:
        reason = "psycopg is not installed: pip install -e '.[postgres]'"
    except psycopg.Error as exc:
        first = str(exc).strip().splitlines()[0]
        reason = f"PostgreSQL at {mask_url(dsn)} is unreachable ({first}); set {DSN_VARIABLE}"
    if reason is not None:
        if os.environ.get("CI"):
            pytest.fail(f"{reason} (CI is set, so this fails instead of skipping)", pytrace=False)
        pytest.skip(reason)
    schema = f"flowsim_contract_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    yield f"{dsn}{'&' if '?' in dsn else '?'}schema={schema}"
    _admin(dsn, f"DROP SCHEMA IF EXISTS {schema} CASCADE")


class TestPostgresStore(RunStoreContract):
    @pytest.fixture
    def store(self, contract_schema_url: str) -> Iterator[RunStore]:
        store: Any = open_store(contract_schema_url)
        dsn, schema = contract_schema_url.rsplit("schema=", 1)
        _admin(
            dsn.rstrip("?&"),
            f"TRUNCATE {schema}.runs, {schema}.task_runs, "
            f"{schema}.attempts, {schema}.workers, {schema}.workflow_specs CASCADE",
        )
        yield store
        store.close()
