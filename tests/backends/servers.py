"""Where the durable-backend tests find their databases: a SQLite file in the test's
directory, and the Postgres server named by ``$FLOWSIM_TEST_POSTGRES_DSN`` (skipped with
the reason when unreachable, except under CI, where that fails the test)."""

import os
import uuid
from pathlib import Path

import pytest

from flowsim.backend import mask_url

DSN_VARIABLE = "FLOWSIM_TEST_POSTGRES_DSN"
DEFAULT_DSN = "postgresql://postgres@127.0.0.1:5432/test"


def postgres_dsn() -> str:
    dsn = os.environ.get(DSN_VARIABLE, DEFAULT_DSN)
    reason = None
    try:
        import psycopg

        psycopg.connect(dsn, connect_timeout=3).close()
    except ImportError:
        reason = "psycopg is not installed: pip install -e '.[postgres]'"
    except Exception as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        reason = f"PostgreSQL at {mask_url(dsn)} is unreachable ({first}); set {DSN_VARIABLE}"
    if reason is not None:
        if os.environ.get("CI"):
            pytest.fail(f"{reason} (CI is set, so this fails instead of skipping)", pytrace=False)
        pytest.skip(reason)
    return dsn


def drop_schema(dsn: str, schema: str) -> None:
    import psycopg
    from psycopg import sql

    with psycopg.connect(dsn, autocommit=True) as connection:
        connection.execute(
            sql.SQL("DROP SCHEMA IF EXISTS {} CASCADE").format(sql.Identifier(schema))
        )


def backend_url(kind: str, tmp_path: Path) -> tuple[str, str | None]:
    """(URL, Postgres schema to drop afterwards or None)."""
    if kind == "sqlite":
        return f"sqlite:///{tmp_path / 'shared.db'}", None
    dsn = postgres_dsn()
    schema = f"flowsim_proc_{uuid.uuid4().hex[:10]}"
    separator = "&" if "?" in dsn else "?"
    return f"{dsn}{separator}schema={schema}", schema
