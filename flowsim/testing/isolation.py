"""A fresh backend per test, also on the durable backends.

On ``memory://`` a reset is enough. A SQLite file or a Postgres database outlives the
process, so each test gets its own: a file in the test's temporary directory, or a
Postgres schema no other test is using. Creating and migrating a schema costs ~100 ms
(~20 tables with their indexes) where emptying a migrated one costs ~2 ms, so a schema a
test is done with is emptied and handed to the next test; the spares are dropped when the
session ends. A third-party scheme is used as given; its tests share state unless its
author isolates them.
"""

from __future__ import annotations

import itertools
import os
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urlencode, urlsplit

from flowsim.dsn import MaskedUrl, mask_url, with_query
from flowsim.errors import ConfigurationError

if TYPE_CHECKING:
    import psycopg

Cleanup = Callable[[], None]
_numbers = itertools.count(1)


def _nothing() -> None:
    """A memory engine is reset by the plugin; nothing outlives it."""


def isolated(url: str, tmp_dir: Path) -> tuple[str, Cleanup]:
    """The URL one test should use for base ``url``, and how to clean up after it. The
    URLs are ``MaskedUrl``s: a traceback through these frames shows no password."""
    parts = urlsplit(url)
    if parts.scheme == "sqlite":
        return f"sqlite:///{tmp_dir / 'flowsim.db'}", _nothing
    if parts.scheme in ("postgresql", "postgres"):
        query = [(k, v) for k, v in parse_qsl(parts.query) if k != "schema"]
        server = MaskedUrl(with_query(f"postgresql:{url.split(':', 1)[1]}", urlencode(query)))
        spares = _spare_schemas.setdefault(server, [])
        schema = spares.pop() if spares else _new_schema_name()
        query.append(("schema", schema))
        test_url = MaskedUrl(with_query(url, urlencode(query)))
        return test_url, lambda: _hand_on(server, schema)
    return url, _nothing


#: per server DSN, schemas emptied after a test and waiting for the next one
_spare_schemas: dict[str, list[str]] = {}
#: how long emptying waits for a lock a test left behind before dropping the schema instead
EMPTY_LOCK_TIMEOUT_MS = 2000


def _new_schema_name() -> str:
    return f"flowsim_test_{os.getpid()}_{next(_numbers)}_{uuid.uuid4().hex[:6]}"


def _hand_on(server: str, schema: str) -> None:
    """Empty a test's schema for the next test; drop it where it cannot be emptied (a
    connection the test left open still holds a lock on its rows), so that no test ever
    starts on what another left."""
    try:
        empty_schema(server, schema, lock_timeout_ms=EMPTY_LOCK_TIMEOUT_MS)
    except Exception:
        drop_schema(server, schema)
        return
    _spare_schemas.setdefault(server, []).append(schema)


def drop_spare_schemas() -> None:
    """Drop the schemas kept for later tests (at the end of a session)."""
    while _spare_schemas:
        server, schemas = _spare_schemas.popitem()
        for schema in schemas:
            drop_schema(server, schema)


def _connect(dsn: str, purpose: str, autocommit: bool = False) -> psycopg.Connection[Any]:
    """A connection to the test server, or a ``ConfigurationError`` that names it with
    its password masked (psycopg's own frames would show the connection string)."""
    import psycopg

    try:
        return psycopg.connect(dsn, autocommit=autocommit, connect_timeout=5)
    except psycopg.OperationalError as exc:
        raise ConfigurationError(
            f"cannot reach the Postgres server at {mask_url(dsn)} to {purpose}: {str(exc).strip()}"
        ) from None


#: the migrator's record of applied migrations: the one table emptying keeps
VERSION_TABLE = "flowsim_schema"


def empty_schema(dsn: str, schema: str, lock_timeout_ms: int = 0) -> None:
    """Give a migrated schema the state of a freshly migrated one: delete the rows of every
    table but the migrator's (so a table a later migration adds is emptied too) and set
    every sequence back to its start, in one transaction. Rows are deleted, not truncated:
    TRUNCATE gives every table and index a new file, ~25 ms and a dead catalog row each,
    where a test's few rows take ~2 ms to delete. A schema that does not exist is left so.
    ``lock_timeout_ms`` > 0 bounds the wait for a lock someone else holds (then it raises)."""
    from psycopg import sql

    with _connect(dsn, "empty a test schema") as connection:
        if lock_timeout_ms > 0:
            connection.execute(f"SET LOCAL lock_timeout = {int(lock_timeout_ms)}")
        tables = connection.execute(
            "SELECT tablename FROM pg_tables WHERE schemaname = %s AND tablename <> %s",
            (schema, VERSION_TABLE),
        ).fetchall()
        deletes = [
            sql.SQL("DELETE FROM {}.{}").format(sql.Identifier(schema), sql.Identifier(table))
            for (table,) in tables
        ]
        if deletes:  # one round trip: without parameters, several statements go at once
            restart = sql.SQL(_RESTART_SEQUENCES).format(sql.Literal(schema))
            connection.execute(sql.SQL("; ").join([*deletes, restart]))


#: sets every sequence of a schema back to its start (identity columns' too)
_RESTART_SEQUENCES = (
    "SELECT setval(format('%I.%I', schemaname, sequencename)::regclass, start_value, false) "
    "FROM pg_sequences WHERE schemaname = {}"
)


#: schemas dropped between two VACUUMs of the catalogs, where autovacuum is off
VACUUM_EVERY = 50
#: the catalogs a schema's tables, columns, indexes and constraints leave dead rows in
_CATALOGS = (
    "pg_catalog.pg_attribute, pg_catalog.pg_class, pg_catalog.pg_depend, "
    "pg_catalog.pg_constraint, pg_catalog.pg_index, pg_catalog.pg_type, "
    "pg_catalog.pg_attrdef, pg_catalog.pg_trigger, pg_catalog.pg_sequence"
)
_dropped = itertools.count(1)


def drop_schema(dsn: str, schema: str) -> None:
    """Drop a test's schema. Every schema created and dropped leaves dead rows in the
    catalogs (a flowsim schema: ~20 tables and their columns, indexes, constraints), which
    autovacuum clears; on a server where it is off they pile up, and every later CREATE
    TABLE and DROP SCHEMA gets slower (this machine's test database, after months of
    suites: pg_attribute 324 MB with 1.3 million dead rows, and a store's open and
    migration 514 ms instead of 206 after VACUUM FULL). So every ``VACUUM_EVERY`` drops,
    if autovacuum is off, the catalogs are vacuumed here (a role that does not own them
    only gets a warning)."""
    from psycopg import sql

    with _connect(dsn, "drop a test schema", autocommit=True) as connection:
        connection.execute(
            sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema))
        )
        if next(_dropped) % VACUUM_EVERY == 0:
            row = connection.execute("SELECT current_setting('autovacuum')").fetchone()
            if row is not None and row[0] == "off":
                connection.execute(f"VACUUM {_CATALOGS}")
