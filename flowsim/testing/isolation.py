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
    import psycopg
    from psycopg import sql

    parts = urlsplit(url)
    query = urlencode([(k, v) for k, v in parse_qsl(parts.query) if k != "schema"])
    dsn = urlunsplit(parts._replace(scheme="postgresql", query=query))
    with psycopg.connect(dsn, autocommit=True, connect_timeout=5) as connection:
        connection.execute(
            sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema))
        )
