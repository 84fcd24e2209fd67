"""Worker processes started with ``flowsim worker`` share one SQLite file or one Postgres
database: they split the work, a one-slot deadlock in another process is reported to the
waiting caller, and killing workers with SIGKILL loses and duplicates nothing."""

import asyncio
import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from flowsim import SlotDeadlockError, backend
from flowsim.engine.durable import DurableEngine
from tests.backends import crashflows
from tests.backends.servers import backend_url, drop_schema, postgres_dsn
from tests.seed import parent as seed_parent
from tests.seed.child import SimpleInput, child_task

ROOT = Path(__file__).parents[2]
FLOWSIM = Path(sys.executable).with_name("flowsim")
LEASE = "1.0"


class Workers:
    """``flowsim worker`` processes through the installed console script."""

    def __init__(self, url: str, target: str, log_dir: Path) -> None:
        self.url, self.target, self.log_dir = url, target, log_dir
        self.processes: list[subprocess.Popen[bytes]] = []
        self.started = 0

    def start(self) -> subprocess.Popen[bytes]:
        self.started += 1
        log = (self.log_dir / f"worker-{self.started}.log").open("wb")
        process = subprocess.Popen(
            [str(FLOWSIM), "worker", self.target, "--backend", self.url, "--lease-seconds", LEASE],
            cwd=ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
        )
        self.processes.append(process)
        return process

    def kill(self, process: subprocess.Popen[bytes]) -> None:
        process.send_signal(signal.SIGKILL)
        process.wait()
        self.processes.remove(process)

    def stop_all(self) -> None:
        for process in self.processes:
            process.send_signal(signal.SIGTERM)
        for process in self.processes:
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()


@pytest.fixture(params=["sqlite", "postgres"])
def shared_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    url, schema = backend_url(request.param, tmp_path)
    yield url
    backend.reset()
    if schema is not None:
        drop_schema(postgres_dsn(), schema)


def _wait(awaitable: Any, seconds: float) -> Any:
    async def bounded() -> Any:
        return await asyncio.wait_for(awaitable, seconds)

    return asyncio.run(bounded())


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


def test_a_run_scheduled_by_one_process_is_claimed_by_a_worker_process_when_due(
    shared_url: str, tmp_path: Path
) -> None:
    """The scheduling process runs no worker; the worker process started later finds the
    stored run and claims it at its time, not before."""
    workers = Workers(shared_url, "tests.backends.seedworker:roomy", tmp_path)
    with backend.redirected(shared_url):
        run_at = time.time() + 3.0
        scheduled = child_task.schedule(
            datetime.fromtimestamp(run_at, tz=UTC), SimpleInput(message="later")
        )
        workers.start()
        try:
            view = child_task.client.runs.view(scheduled.id)
            deadline = time.monotonic() + 60
            while not view.status.is_terminal and time.monotonic() < deadline:
                time.sleep(0.2)
                view = child_task.client.runs.view(scheduled.id)
        finally:
            workers.stop_all()
    assert view.result() == {"step1": {"transformed_message": "LATER"}}
    assert view.tasks["step1"].attempts[0].started_at >= run_at


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
