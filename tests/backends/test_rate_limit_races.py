"""Rate limit units are taken atomically with the claim: workers claiming at the same time
through their own connections never take more than the key holds (SQLite's write lock;
Postgres's advisory lock around the units, while rows are locked SKIP LOCKED)."""

from __future__ import annotations

import functools
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from flowsim.rules import SlotPool
from flowsim.testing.contract import run_request
from flowsim.testing.contract_rate_limits import limited_spec, static
from tests.backends.servers import (
    backend_url,
    drop_schema,
    open_shared_store,
    postgres_dsn,
    run_in_threads,
    sql_url,
)

__all__ = ["sql_url"]

LIMIT = 20
RUNS = 120
CLAIMERS = 4


def test_concurrent_claimers_never_take_more_units_than_the_key_holds(sql_url: str) -> None:
    setup = open_shared_store(sql_url)
    setup.put_rate_limit("shared", LIMIT, 3600.0, 0.0)
    setup.create_runs([run_request(limited_spec("limited", static("shared")))] * RUNS, 0.0)
    stores = [open_shared_store(sql_url) for _ in range(CLAIMERS)]
    claimed: list[list[str]] = [[] for _ in range(CLAIMERS)]
    start = threading.Barrier(CLAIMERS)

    def claim(index: int) -> None:
        start.wait()
        store: Any = stores[index]
        for _ in range(RUNS):  # bounded: each round claims at most 3
            got = store.claim(f"w{index}", ["limited"], SlotPool.DEFAULT, 3, 1.0, 600.0)
            claimed[index].extend(c.task_run_id for c in got)

    errors = run_in_threads(*(functools.partial(claim, i) for i in range(CLAIMERS)))
    try:
        assert not errors, errors
        every = [task for got in claimed for task in got]
        assert len(every) == len(set(every)) == LIMIT
    finally:
        for store in (setup, *stores):
            store.close()


@pytest.fixture
def postgres_url() -> Iterator[tuple[str, str]]:
    found, schema = backend_url("postgres", Path("."))
    assert schema is not None
    yield found, schema
    drop_schema(postgres_dsn(), schema)


def test_a_placed_run_another_claimer_holds_costs_no_units(postgres_url: tuple[str, str]) -> None:
    """A workflow with desired labels is read without row locks and its chosen rows are
    locked afterwards: a row another transaction holds by then is left to it. The units
    its admission took must go back, or the key is short for the rest of its window."""
    import psycopg

    from flowsim.placement import DesiredLabel
    from flowsim.store.protocol import WorkerInfo
    from flowsim.store.records import TaskSpec, WorkflowSpec

    url, schema = postgres_url
    store = open_shared_store(url)
    gpu = DesiredLabel("gpu", "a100", required=True)
    task = TaskSpec(
        "t", (), 0, None, None, 60.0, 3600.0, False,
        desired_labels=(gpu,), rate_limits=(static("k"),),
    )  # fmt: skip
    spec = WorkflowSpec("placed", {"t": task})
    worker = WorkerInfo("w", "w", {SlotPool.DEFAULT: 5}, ("placed",), {"gpu": "a100"})
    try:
        store.register_worker(worker, 0.0, 3600.0)
        store.put_rate_limit("k", 1, 3600.0, 0.0)
        (run,) = store.create_runs([run_request(spec)], 0.0)
        with psycopg.connect(postgres_dsn()) as other:
            other.execute(f'SET search_path TO "{schema}"')
            held = other.execute("SELECT id FROM task_runs FOR NO KEY UPDATE").fetchall()
            assert len(held) == 1
            assert store.claim("w", ["placed"], SlotPool.DEFAULT, 5, 1.0, 600.0) == []
            other.rollback()  # the other claimer gave the row back untaken
        # the key's one unit is still there for it, within the same window
        claimed = store.claim("w", ["placed"], SlotPool.DEFAULT, 5, 2.0, 600.0)
        assert [c.run_id for c in claimed] == [run.id]
    finally:
        store.close()
