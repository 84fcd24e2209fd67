"""Two processes pushing events at once into one SQLite file or Postgres schema: a wait
whose two groups are satisfied by two simultaneous events must fire exactly once, and
neither event's condition may be lost (Postgres locks the waits it reads; SQLite
serialises writers)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from flowsim.rules import RunStatus, SlotPool
from flowsim.store.protocol import RunRequest
from flowsim.testing.contract_conditions import event, two_step
from tests.backends.servers import backend_url, drop_schema, postgres_dsn

ROUNDS = 20


@pytest.fixture(params=["sqlite", "postgres"])
def two_stores(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[tuple[Any, Any]]:
    url, schema = backend_url(request.param, tmp_path)
    if request.param == "sqlite":
        from flowsim_sqlite import open_store
    else:
        from flowsim_postgres import open_store  # type: ignore[assignment]
    first, second = open_store(url), open_store(url)
    first.migrate()
    yield first, second
    first.close()
    second.close()
    if schema is not None:
        drop_schema(postgres_dsn(), schema)


def _push(store: Any, key: str, barrier: threading.Barrier, queued: list[int]) -> None:
    barrier.wait()
    queued.append(store.push_event(key, {}, {}, 2.0).queued)


def test_simultaneous_events_satisfying_two_groups_release_the_task_once(
    two_stores: tuple[Any, Any],
) -> None:
    first, second = two_stores
    names = [f"race{i}" for i in range(ROUNDS)]
    specs = [two_step(event(f"a{i}", group=0), event(f"b{i}", group=1), name=names[i])
             for i in range(ROUNDS)]  # fmt: skip
    runs = first.create_runs([RunRequest(spec, {}, {}) for spec in specs], 0.0)
    for claim in first.claim("w", names, SlotPool.DEFAULT, 100, 0.0, 30.0):
        first.complete(claim.task_run_id, claim.token, {}, 1.0)
    per_round: list[int] = []
    for i in range(ROUNDS):  # each round's two events are its run's only chance
        barrier = threading.Barrier(2)
        queued: list[int] = []

        threads = [
            threading.Thread(target=_push, args=(first, f"a{i}", barrier, queued)),
            threading.Thread(target=_push, args=(second, f"b{i}", barrier, queued)),
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        per_round.append(sum(queued))
    assert per_round == [1] * ROUNDS
    views = first.get_runs([run.id for run in runs])
    assert {view.tasks["target"].status for view in views} == {RunStatus.QUEUED}
    claims = first.claim("w", names, SlotPool.DEFAULT, 100, 3.0, 30.0)
    assert sorted(c.task for c in claims) == ["target"] * ROUNDS
