"""A fresh backend per test, also on the durable backends.

On ``memory://`` a reset is enough. A SQLite file or a Postgres database outlives the
process, so each test gets its own: a file in the test's temporary directory, or its own
Postgres schema (dropped afterwards). A third-party scheme is used as given; its tests
share state unless its author isolates them.
"""

from __future__ import annotations

import itertools
import os
import uuid
from collections.abc import Callable
from pathlib import Path
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

Cleanup = Callable[[], None]
_numbers = itertools.count(1)


def _nothing() -> None:
    """A memory engine is reset by the plugin; nothing outlives it."""


def isolated(url: str, tmp_dir: Path) -> tuple[str, Cleanup]:
    """The URL one test should use for base ``url``, and how to clean up after it."""
    parts = urlsplit(url)
    if parts.scheme == "sqlite":
        return f"sqlite:///{tmp_dir / 'flowsim.db'}", _nothing
    if parts.scheme in ("postgresql", "postgres"):
        schema = f"flowsim_test_{os.getpid()}_{next(_numbers)}_{uuid.uuid4().hex[:6]}"
        query = [(k, v) for k, v in parse_qsl(parts.query) if k != "schema"]
        query.append(("schema", schema))
        test_url = urlunsplit(parts._replace(query=urlencode(query)))
        return test_url, lambda: _drop_schema(url, schema)
    return url, _nothing


def _drop_schema(url: str, schema: str) -> None:
    parts = urlsplit(url)
    query = urlencode([(k, v) for k, v in parse_qsl(parts.query) if k != "schema"])
    drop_schema(urlunsplit(parts._replace(scheme="postgresql", query=query)), schema)


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
    import psycopg
    from psycopg import sql

    with psycopg.connect(dsn, autocommit=True, connect_timeout=5) as connection:
        connection.execute(
            sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema))
        )
        if next(_dropped) % VACUUM_EVERY == 0:
            row = connection.execute("SELECT current_setting('autovacuum')").fetchone()
            if row is not None and row[0] == "off":
                connection.execute(f"VACUUM {_CATALOGS}")
