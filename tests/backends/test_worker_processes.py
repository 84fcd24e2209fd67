"""Worker processes started with ``flowsim worker`` share one SQLite file or one Postgres
database: they split the work, a one-slot deadlock in another process is reported to the
waiting caller, and killing workers with SIGKILL loses and duplicates nothing."""

import random
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from flowsim import SlotDeadlockError, backend
from flowsim.engine.durable import DurableEngine
from tests.backends import crashflows
from tests.backends.processes import Workers
from tests.backends.processes import wait_for as _wait
from tests.backends.servers import backend_url, drop_schema, postgres_dsn
from tests.seed import parent as seed_parent


@pytest.fixture(params=["sqlite", "postgres"])
def shared_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    url, schema = backend_url(request.param, tmp_path)
    yield url
    backend.reset()
    if schema is not None:
        drop_schema(postgres_dsn(), schema)


def test_the_seed_deadlock_in_a_worker_process_is_reported_to_the_caller(
    shared_url: str, tmp_path: Path
) -> None:
    workers = Workers(shared_url, "tests.backends.seedworker:worker", tmp_path)
    with backend.redirected(shared_url):
        workers.start()
        try:
            started = time.monotonic()
            with pytest.raises(SlotDeadlockError) as caught:
                _wait(seed_parent.parent.aio_run(), 60)
        finally:
            workers.stop_all()
    report = caught.value.report
    assert [(h.worker, h.workflow) for h in report.holders] == [("seed-worker", "parent")]
    assert {b.workflow for b in report.blocked} == {"first-task"}
    assert "password" not in str(caught.value)
    assert time.monotonic() - started < 30  # reported, not waited on


def test_two_slots_in_a_worker_process_finish_the_seed(shared_url: str, tmp_path: Path) -> None:
    workers = Workers(shared_url, "tests.backends.seedworker:roomy", tmp_path)
    with backend.redirected(shared_url):
        workers.start()
        try:
            result = _wait(seed_parent.parent.aio_run(), 60)
        finally:
            workers.stop_all()
    messages = [r["step1"]["transformed_message"] for r in result["results"]]
    assert messages == ["HELLO, WORLD!", "HELLO, MOON!"]


def test_sigkilled_workers_lose_nothing_and_duplicate_nothing(
    shared_url: str, tmp_path: Path
) -> None:
    """Two worker processes serve 2 parents x 100 children while one of them is killed
    with SIGKILL at 50 random instants and restarted each time."""
    rng = random.Random(20261125)
    workers = Workers(shared_url, "tests.backends.crashflows:worker", tmp_path)
    parents, children = 2, 100
    with backend.redirected(shared_url):
        for _ in range(2):
            workers.start()
        try:
            refs = [
                crashflows.parent.run_no_wait(crashflows.Fan(tag=tag, n=children))
                for tag in range(parents)
            ]
            for _ in range(50):
                time.sleep(rng.uniform(0.05, 0.25))
                workers.kill(rng.choice(workers.processes))
                workers.start()
            results = [_wait(ref.aio_result(), 120) for ref in refs]
            engine = crashflows.hatchet.engine
            assert isinstance(engine, DurableEngine)
            child_ids = [run_id for result in results for run_id in result["children"]]
            views = engine.run_store.get_runs(child_ids)
            parent_views = engine.run_store.get_runs([ref.workflow_run_id for ref in refs])
        finally:
            workers.stop_all()
    for tag, result in enumerate(results):
        assert result["sum"] == sum(tag * 100_000 + i for i in range(children))
    assert len(set(child_ids)) == parents * children  # no child spawned twice
    for view in [*views, *parent_views]:
        (task,) = view.tasks.values()
        outcomes = [attempt.outcome for attempt in task.attempts]
        assert view.status.value == "COMPLETED"
        assert outcomes.count("COMPLETED") == 1, outcomes  # recorded exactly once
        assert set(outcomes) <= {"COMPLETED", "LOST"}, outcomes
    lost = sum(
        1
        for view in [*views, *parent_views]
        for a in next(iter(view.tasks.values())).attempts
        if a.outcome == "LOST"
    )
    assert workers.started == 52
    assert lost > 0, "no kill landed on a running task: the test exercised nothing"
