"""The pytest plugin's Postgres isolation (``flowsim.testing.isolation``): a test gets a
schema no other test is using, in the state of a freshly migrated one. A schema a test is
done with is emptied and handed to the next test (~100 ms of migration saved per test);
one that cannot be emptied is dropped instead; the spares are dropped at the session's end.
"""

from __future__ import annotations

import threading
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

from flowsim import backend
from flowsim.testing import isolation
from tests.backends import servers
from tests.backends.endtoend import run_parent_and_children

servers.require_driver(module=True)


@pytest.fixture
def postgres_dsn() -> str:
    return servers.postgres_dsn()


def schema_of(url: str) -> str:
    return parse_qs(urlsplit(url).query)["schema"][0]


def schema_exists(dsn: str, schema: str) -> bool:
    return bool(servers.rows(dsn, "SELECT 1 FROM pg_namespace WHERE nspname = %s", schema))


def observable_state(dsn: str, schema: str) -> dict[str, object]:
    """Every table's row count and every sequence's position: what a store could see."""
    state: dict[str, object] = {}
    for (table,) in servers.rows(
        dsn, "SELECT tablename FROM pg_tables WHERE schemaname = %s", schema
    ):
        if table != isolation.VERSION_TABLE:
            count = f'SELECT count(*) FROM {schema}."{table}"'
            state[f"rows in {table}"] = servers.rows(dsn, count)
    for (sequence,) in servers.rows(
        dsn, "SELECT sequencename FROM pg_sequences WHERE schemaname = %s", schema
    ):
        state[f"sequence {sequence}"] = servers.rows(
            dsn, f'SELECT last_value, is_called FROM {schema}."{sequence}"'
        )
    return state


async def test_a_used_schema_is_handed_on_in_the_state_of_a_freshly_migrated_one(
    postgres_dsn: str, tmp_path: Path
) -> None:
    with servers.postgres_schema("fresh") as (_, fresh):
        servers.open_shared_store(servers.with_query(postgres_dsn, schema=fresh)).close()
        fresh_state = observable_state(postgres_dsn, fresh)
    url, cleanup = isolation.isolated(postgres_dsn, tmp_path)
    await run_parent_and_children(url, "handed-on")
    used = schema_of(url)
    assert observable_state(postgres_dsn, used) != fresh_state  # the run left rows behind
    backend.reset()  # the plugin closes the test's engines first
    cleanup()
    assert observable_state(postgres_dsn, used) == fresh_state

    next_url, next_cleanup = isolation.isolated(postgres_dsn, tmp_path)
    assert schema_of(next_url) == used
    await run_parent_and_children(next_url, "handed-on")  # the same names register again
    backend.reset()
    next_cleanup()
    isolation.drop_spare_schemas()
    assert not schema_exists(postgres_dsn, used)


def test_a_schema_a_lingering_transaction_locks_is_dropped_not_handed_on(
    postgres_dsn: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A test that leaves a transaction open on its tables: emptying gives up after the
    lock timeout, and the schema is dropped once the transaction ends, never reused."""
    import psycopg

    monkeypatch.setattr(isolation, "EMPTY_LOCK_TIMEOUT_MS", 100)
    url, cleanup = isolation.isolated(postgres_dsn, tmp_path)
    schema = schema_of(url)
    servers.open_shared_store(url).close()
    lingering = psycopg.connect(postgres_dsn)
    lingering.execute(f"LOCK TABLE {schema}.runs IN SHARE MODE")  # DELETE must wait
    ends = threading.Timer(1.0, lingering.close)  # the drop waits for it, as it always did
    ends.start()
    try:
        cleanup()
    finally:
        ends.join()
    assert not schema_exists(postgres_dsn, schema)
    other_url, other_cleanup = isolation.isolated(postgres_dsn, tmp_path)
    assert schema_of(other_url) != schema
    other_cleanup()
