"""Rate limit units are taken atomically with the claim: workers claiming at the same time
through their own connections never take more than the key holds (SQLite's write lock;
Postgres's advisory lock around the units, while rows are locked SKIP LOCKED)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from flowsim.rules import SlotPool
from flowsim.store.protocol import RunStore
from flowsim.testing.contract import run_request
from flowsim.testing.contract_rate_limits import limited_spec, static
from tests.backends.servers import backend_url, drop_schema, postgres_dsn

LIMIT = 20
RUNS = 120
CLAIMERS = 4


def _open(url: str) -> RunStore:
    if url.startswith("sqlite"):
        from flowsim_sqlite import open_store as open_sqlite

        return open_sqlite(url)
    from flowsim_postgres import open_store as open_postgres

    store: RunStore = open_postgres(url)
    return store


@pytest.fixture(params=["sqlite", "postgres"])
def url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    found, schema = backend_url(request.param, tmp_path)
    yield found
    if schema is not None:
        drop_schema(postgres_dsn(), schema)


def test_concurrent_claimers_never_take_more_units_than_the_key_holds(url: str) -> None:
    setup = _open(url)
    setup.put_rate_limit("shared", LIMIT, 3600.0, 0.0)
    setup.create_runs([run_request(limited_spec("limited", static("shared")))] * RUNS, 0.0)
    stores = [_open(url) for _ in range(CLAIMERS)]
    claimed: list[list[str]] = [[] for _ in range(CLAIMERS)]
    start = threading.Barrier(CLAIMERS)
    errors: list[BaseException] = []

    def claim(index: int) -> None:
        try:
            start.wait()
            store: Any = stores[index]
            for _ in range(RUNS):  # bounded: each round claims at most 3
                got = store.claim(f"w{index}", ["limited"], SlotPool.DEFAULT, 3, 1.0, 600.0)
                claimed[index].extend(c.task_run_id for c in got)
        except BaseException as exc:  # reported below, not lost in the thread
            errors.append(exc)

    threads = [threading.Thread(target=claim, args=(i,)) for i in range(CLAIMERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    try:
        assert not errors, errors
        every = [task for got in claimed for task in got]
        assert len(every) == len(set(every)) == LIMIT
    finally:
        for store in (setup, *stores):
            store.close()
