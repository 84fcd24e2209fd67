"""Where the durable-backend tests find their databases: a SQLite file in the test's
directory, and the Postgres server named by ``$FLOWSIM_TEST_POSTGRES_DSN`` (skipped with
the reason when unreachable, except under CI, where that fails the test).

Every Postgres test module (the store's own tests, the contract suite, the parity
machine, the worker processes) reaches the server through these helpers, so the skip
rule, the schema naming and the way a schema is emptied are the same for all of them."""

import contextlib
import os
import threading
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

from flowsim.dsn import mask_url
from flowsim.store.protocol import RunStore
from flowsim.testing.isolation import drop_schema
from flowsim.testing.isolation import empty_schema as empty_schema  # the tests' too

DSN_VARIABLE = "FLOWSIM_TEST_POSTGRES_DSN"
DEFAULT_DSN = "postgresql://postgres@127.0.0.1:5432/test"


def under_ci() -> bool:
    """Whether ``$CI`` says this is a CI run (set, and not ``0``, ``false`` or ``no``):
    there a missing Postgres fails the tests instead of skipping them."""
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no", "off")


def require_driver(module: bool = False) -> None:
    """Skip (or, under CI, fail) without psycopg: ``module=True`` at a test module's top,
    before it imports psycopg itself."""
    import importlib.util

    if importlib.util.find_spec("psycopg") is not None:
        return
    reason = "psycopg is not installed: pip install -e '.[postgres]'"
    if under_ci():
        pytest.fail(f"{reason} (CI is set, so this fails instead of skipping)", pytrace=False)
    pytest.skip(reason, allow_module_level=module)


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
        if under_ci():
            pytest.fail(f"{reason} (CI is set, so this fails instead of skipping)", pytrace=False)
        pytest.skip(reason)
    return dsn


def admin(dsn: str, *statements: str) -> None:
    """Run ``statements`` on a connection of their own, outside any store."""
    import psycopg

    with psycopg.connect(dsn, autocommit=True) as connection:
        for statement in statements:
            connection.execute(statement)


def rows(dsn: str, query: str, *params: object) -> list[tuple[object, ...]]:
    """The rows of ``query``, on a connection of its own, outside any store."""
    import psycopg

    with psycopg.connect(dsn, autocommit=True) as connection:
        return connection.execute(query, params).fetchall()


def with_query(dsn: str, **params: object) -> str:
    """``dsn`` with query parameters appended (``?`` or ``&`` as it needs)."""
    extra = "&".join(f"{key}={value}" for key, value in params.items())
    return f"{dsn}{'&' if '?' in dsn else '?'}{extra}"


def new_schema(kind: str) -> str:
    """A schema name no other test or test session uses."""
    return f"flowsim_{kind}_{os.getpid()}_{uuid.uuid4().hex[:8]}"


@contextmanager
def postgres_schema(kind: str) -> Iterator[tuple[str, str]]:
    """(server DSN, a new schema's name) for the ``with`` block; the schema is dropped
    afterwards. Skips (or, under CI, fails) without a server."""
    dsn = postgres_dsn()
    schema = new_schema(kind)
    try:
        yield dsn, schema
    finally:
        drop_schema(dsn, schema)


def backend_url(kind: str, tmp_path: Path) -> tuple[str, str | None]:
    """(URL, Postgres schema to drop afterwards or None)."""
    if kind == "sqlite":
        return f"sqlite:///{tmp_path / 'shared.db'}", None
    dsn = postgres_dsn()
    schema = f"flowsim_proc_{uuid.uuid4().hex[:10]}"
    return with_query(dsn, schema=schema), schema


def open_shared_store(url: str) -> RunStore:
    """A store of its own (its own connections) on the SQLite file or Postgres schema of
    ``url``, as another worker process would open it."""
    if url.startswith("sqlite"):
        import flowsim_sqlite

        return flowsim_sqlite.open_store(url)
    require_driver()
    import flowsim_postgres

    store: RunStore = flowsim_postgres.open_store(url)
    return store


def run_in_threads(*calls: Callable[[], None], timeout: float = 120.0) -> list[BaseException]:
    """Run every call in a thread of its own, all at once (two worker processes' stores at
    work together); what they raised, which a thread would otherwise only print."""
    errors: list[BaseException] = []

    def guarded(call: Callable[[], None]) -> None:
        try:
            call()
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=guarded, args=(call,)) for call in calls]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=timeout)
    return errors


@pytest.fixture(params=["sqlite", "postgres"])
def sql_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A SQLite file's or a new Postgres schema's URL (the schema dropped afterwards)."""
    url, schema = backend_url(request.param, tmp_path)
    yield url
    if schema is not None:
        drop_schema(postgres_dsn(), schema)


#: rows whose owner is missing. Postgres keeps no foreign key from a task run to its run
#: or from an attempt to its task run (migration 0008 dropped them for speed): the
#: writers keep that integrity, and the crash tests check it here after their kills.
_ORPHANS = {
    "task runs without their run": (
        "SELECT count(*) FROM task_runs t WHERE NOT EXISTS "
        "(SELECT 1 FROM runs r WHERE r.id = t.run_id)"
    ),
    "attempts without their task run": (
        "SELECT count(*) FROM attempts a WHERE NOT EXISTS "
        "(SELECT 1 FROM task_runs t WHERE t.id = a.task_run_id)"
    ),
}


def orphans(url: str) -> dict[str, int]:
    """How many rows of each kind in ``_ORPHANS`` the store at ``url`` holds (a SQLite
    store keeps attempts inside the task run's row: only the first kind applies)."""
    if url.startswith("sqlite"):
        import sqlite3

        kind = "task runs without their run"
        with contextlib.closing(sqlite3.connect(url.removeprefix("sqlite:///"))) as conn:
            (count,) = conn.execute(_ORPHANS[kind]).fetchall()[0]
            return {kind: count}
    import psycopg
    from psycopg import sql

    schema = parse_qs(urlsplit(url).query)["schema"][0]
    with psycopg.connect(postgres_dsn()) as conn:
        conn.execute(sql.SQL("SET search_path TO {}").format(sql.Identifier(schema)))
        return {kind: conn.execute(query).fetchall()[0][0] for kind, query in _ORPHANS.items()}
