"""The parity machine (``flowsim.testing.statemachine``) on the Postgres store: the
reference and a Postgres store driven side by side by hypothesis, everything observable
compared after every step. Each example gets the session schema emptied and a fresh store;
without a server this skips (fails with ``$CI`` set), as test_postgres_store.py does.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from flowsim_postgres import mask_url, open_store
from hypothesis import HealthCheck, settings
from hypothesis.stateful import run_state_machine_as_test

from flowsim.store.protocol import RunStore
from flowsim.testing.statemachine import make_parity_machine

DSN_VARIABLE = "FLOWSIM_TEST_POSTGRES_DSN"
DEFAULT_DSN = "postgresql://postgres@127.0.0.1:5432/test"
TABLES = ("runs", "task_runs", "attempts", "workers", "workflow_specs")
PARITY = settings(
    max_examples=15,
    stateful_step_count=40,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)


@pytest.fixture
def parity_dsn() -> Iterator[tuple[str, str]]:
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
    schema = f"flowsim_parity_{os.getpid()}_{uuid.uuid4().hex[:8]}"
    yield dsn, schema
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")


def test_postgres_store_matches_the_reference(parity_dsn: tuple[str, str]) -> None:
    import psycopg

    dsn, schema = parity_dsn
    url = f"{dsn}{'&' if '?' in dsn else '?'}schema={schema}"

    def open_fresh() -> RunStore:
        store: Any = open_store(url)
        with psycopg.connect(dsn, autocommit=True) as conn:
            conn.execute(f"TRUNCATE {', '.join(f'{schema}.{t}' for t in TABLES)}")
        fresh: RunStore = store
        return fresh

    run_state_machine_as_test(make_parity_machine(open_fresh), settings=PARITY)
