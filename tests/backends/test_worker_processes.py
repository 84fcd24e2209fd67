"""Worker processes started with ``flowsim worker`` share one SQLite file or one Postgres
database: they split the work, a one-slot deadlock in another process is reported to the
waiting caller, and killing workers with SIGKILL loses and duplicates nothing."""

import os
import random
import time
from collections.abc import Awaitable, Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from flowsim import (
    BulkCancelReplayOpts,
    FailedTaskRunExceptionGroup,
    RunStatus,
    SlotDeadlockError,
    backend,
    compat,
)
from flowsim.cli import gc_policy
from flowsim.sdk.types import TriggerWorkflowOptions
from flowsim.store.protocol import RunView
from tests.backends import cancelflows, gcworker, refflows
from tests.backends.processes import Workers, fan_in, fan_out, wait_until_every_worker_holds_work
from tests.backends.processes import wait_for as _wait
from tests.backends.servers import backend_url, drop_schema, orphans, postgres_dsn
from tests.helpers import wait_until
from tests.seed import parent as seed_parent
from tests.seed.child import SimpleInput, child_task


@pytest.fixture(params=["sqlite", "postgres"])
def shared_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    url, schema = backend_url(request.param, tmp_path)
    yield url
    backend.reset()
    if schema is not None:
        drop_schema(postgres_dsn(), schema)


def _served(url: str, target: str, tmp_path: Path, call: Callable[[], Awaitable[Any]]) -> Any:
    """``call()`` awaited here (60 s at most) while one worker process serves ``target``."""
    workers = Workers(url, target, tmp_path)
    with backend.redirected(url):
        workers.start()
        try:
            return _wait(call(), 60)
        finally:
            workers.stop_all()


def test_the_seed_deadlock_in_a_worker_process_is_reported_to_the_caller(
    shared_url: str, tmp_path: Path
) -> None:
    started = time.monotonic()
    with pytest.raises(SlotDeadlockError) as caught:
        _served(
            shared_url, "tests.backends.seedworker:worker", tmp_path, seed_parent.parent.aio_run
        )
    report = caught.value.report
    assert [(h.worker, h.workflow) for h in report.holders] == [("seed-worker", "parent")]
    assert {b.workflow for b in report.blocked} == {"first-task"}
    assert "password" not in str(caught.value)
    assert time.monotonic() - started < 30  # reported, not waited on


def test_two_slots_in_a_worker_process_finish_the_seed(shared_url: str, tmp_path: Path) -> None:
    result = _served(
        shared_url, "tests.backends.seedworker:roomy", tmp_path, seed_parent.parent.aio_run
    )
    messages = [r["step1"]["transformed_message"] for r in result["results"]]
    assert messages == ["HELLO, WORLD!", "HELLO, MOON!"]


def test_a_worker_module_written_against_hatchet_sdk_is_served_as_is(
    shared_url: str, tmp_path: Path
) -> None:
    """``flowsim worker`` imports the module with ``hatchet_sdk`` aliased to flowsim (the
    real SDK is not installed here), as a user's unchanged worker module needs."""
    with compat.installed():
        from tests.backends import sdkworker

        result = _served(shared_url, "tests.backends.sdkworker:worker", tmp_path,
                         sdkworker.greeting.aio_run)  # fmt: skip
    assert result["pid"] != os.getpid()  # it ran in the worker process


def test_a_worker_process_runs_tasks_with_its_startup_heap_frozen(
    shared_url: str, tmp_path: Path
) -> None:
    state = _served(
        shared_url, "tests.backends.gcworker:worker", tmp_path, gcworker.gc_state.aio_run
    )
    assert state["frozen"] > 10_000  # the imported modules, not a handful of objects
    assert state["thresholds"] == [
        gc_policy.YOUNG_THRESHOLD,
        gc_policy.MIDDLE_THRESHOLD,
        gc_policy.OLD_THRESHOLD,
    ]


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


def test_a_run_another_process_created_is_waited_on_by_its_id(
    shared_url: str, tmp_path: Path
) -> None:
    """The child is created in the worker process; this process knows only its id."""

    async def start_then_wait() -> tuple[dict[str, int], dict[str, int]]:
        child_id = (await refflows.starter.aio_run())["child"]
        by_ref = await refflows.hatchet.runs.get_run_ref(child_id).aio_result()
        typed = await refflows.counter.aio_get_result(child_id)
        return by_ref, typed

    by_ref, typed = _served(shared_url, "tests.backends.refflows:worker", tmp_path,
                            start_then_wait)  # fmt: skip
    assert by_ref == {"ref-counter": {"total": 55}}
    assert typed == {"total": 55}


def test_a_run_failed_in_a_worker_process_is_replayed_from_this_one(
    shared_url: str, tmp_path: Path
) -> None:
    """The replay wakes the worker process (Postgres notifies, SQLite's workers re-read),
    which runs the task again as its next retry; this process waits for the new end."""

    async def fail_then_replay() -> dict[str, int]:
        ref = await refflows.flaky.aio_run(wait_for_result=False)
        with pytest.raises(FailedTaskRunExceptionGroup, match="first attempt"):
            await ref.aio_result()
        await refflows.hatchet.runs.aio_replay(ref.workflow_run_id)
        return await refflows.flaky.aio_get_result(ref.workflow_run_id)

    result = _served(shared_url, "tests.backends.refflows:worker", tmp_path, fail_then_replay)
    assert result["retry_count"] == 1
    assert result["pid"] != os.getpid()


def test_a_run_whose_on_failure_task_ran_completes_when_replayed_in_a_worker_process(
    shared_url: str, tmp_path: Path
) -> None:
    """The DAG fails and its on-failure task runs in the worker process; replayed, the
    DAG completes there and the on-failure task keeps what it did, not run again."""

    async def fail_then_replay() -> tuple[dict[str, Any], RunView]:
        ref = await refflows.guarded.aio_run(wait_for_result=False)
        with pytest.raises(FailedTaskRunExceptionGroup, match="first attempt"):
            await ref.aio_result()
        await refflows.hatchet.runs.aio_replay(ref.workflow_run_id)
        result = await refflows.hatchet.runs.get_run_ref(ref.workflow_run_id).aio_result()
        return result, refflows.hatchet.runs.view(ref.workflow_run_id)

    result, view = _served(shared_url, "tests.backends.refflows:worker", tmp_path,
                           fail_then_replay)  # fmt: skip
    assert result["risky"] == {"retry_count": 1}
    undo = view.tasks["undo-on-failure"]
    assert (undo.status, undo.retry_count, undo.output) == (
        RunStatus.COMPLETED, 0, {"undone_at_retry": 0}
    )  # fmt: skip
    assert view.status is RunStatus.COMPLETED


def test_a_parent_and_its_failed_child_replayed_together_complete_in_a_worker_process(
    shared_url: str, tmp_path: Path
) -> None:
    """Replaying every FAILED run (the parent and the child it failed with): the parent,
    run again in the worker process, re-attaches to its children and waits for the
    replayed one's new end, not the end the worker process read before."""

    async def fail_then_replay_all() -> dict[str, int]:
        ref = await refflows.fan_in.aio_run(wait_for_result=False)
        with pytest.raises(FailedTaskRunExceptionGroup, match="first attempt"):
            await ref.aio_result()
        failed = refflows.hatchet.runs.list(statuses=["FAILED"]).rows
        assert len(failed) == 3  # the parent and both children (each failed once)
        await refflows.hatchet.runs.aio_bulk_replay(
            BulkCancelReplayOpts(ids=[row.metadata.id for row in failed])
        )
        return await refflows.fan_in.aio_get_result(ref.workflow_run_id)

    result = _served(shared_url, "tests.backends.refflows:worker", tmp_path,
                     fail_then_replay_all)  # fmt: skip
    assert result == {"children": 2}


def test_a_worker_process_reads_what_its_claim_does_not_carry_of_a_run(
    shared_url: str, tmp_path: Path
) -> None:
    """Priority and triggering event of runs this process created, as the task in the
    worker process sees them (they are stored with the run, not sent with the claim)."""

    async def trigger() -> tuple[str, object, object]:
        event = await refflows.hatchet.event.aio_push("ref:pushed", {})
        (run_id,) = event.workflow_run_ids
        pushed = await refflows.hatchet.runs.get_run_ref(run_id).aio_result()
        direct = await refflows.facts.aio_run(options=TriggerWorkflowOptions(priority=3))
        return event.event_id, pushed["ref-facts"], direct

    event_id, pushed, direct = _served(shared_url, "tests.backends.refflows:worker", tmp_path,
                                       trigger)  # fmt: skip
    assert pushed == {"priority": 1, "lifespan": None, "event_id": event_id,
                      "event_key": "ref:pushed", "by_event": True}  # fmt: skip
    assert direct == {"priority": 3, "lifespan": None, "event_id": None, "event_key": None,
                      "by_event": False}  # fmt: skip


def test_a_subscriber_hears_what_a_task_in_a_worker_process_streams(
    shared_url: str, tmp_path: Path
) -> None:
    """Subscribed from the moment the run is triggered here: every chunk put after that,
    in order, and the stream ends with the run."""

    async def listen() -> list[str]:
        ref = await refflows.streamer.aio_run(wait_for_result=False)
        stream = refflows.hatchet.runs.subscribe_to_stream(ref.workflow_run_id)
        return [chunk async for chunk in stream]

    chunks = _served(shared_url, "tests.backends.refflows:worker", tmp_path, listen)
    assert chunks[-1] == "done"
    pings = [int(chunk.removeprefix("ping ")) for chunk in chunks[:-1]]
    assert pings == list(range(pings[0], refflows.PINGS)), chunks
    assert len(pings) >= refflows.PINGS // 2, chunks  # the worker claimed it within a second


def test_a_worker_process_runs_its_lifespan_around_its_tasks(
    shared_url: str, tmp_path: Path
) -> None:
    result = _served(shared_url, "tests.backends.refflows:with_lifespan", tmp_path,
                     refflows.facts.aio_run)  # fmt: skip
    assert result["lifespan"] == "made by the worker process's lifespan"
    (log,) = [path.read_text() for path in tmp_path.glob("worker-*.log")]
    assert log.index("lifespan started") < log.index("lifespan stopped"), log  # on SIGTERM


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
            refs = fan_out(parents, children)
            wait_until_every_worker_holds_work(2, 60)  # so the first kill lands
            for _ in range(50):
                time.sleep(rng.uniform(0.05, 0.25))
                workers.kill(rng.choice(workers.processes))
                workers.start()
            outcomes = fan_in(refs, children, 120)
        finally:
            workers.stop_all()
    for attempts in outcomes:
        assert attempts.count("COMPLETED") == 1, attempts  # recorded exactly once
        assert set(attempts) <= {"COMPLETED", "LOST"}, attempts
    lost = sum(attempts.count("LOST") for attempts in outcomes)
    assert workers.started == 52
    assert lost > 0, "no kill landed on a running task: the test exercised nothing"
    assert set(orphans(shared_url).values()) == {0}, orphans(shared_url)


def test_a_cancel_from_another_process_reaches_the_running_worker(
    shared_url: str, tmp_path: Path
) -> None:
    """The caller's process cancels; the worker process notices on its next heartbeat (a
    third of its 1 s lease), sets the exit flag and cancels the task's asyncio task."""
    workers = Workers(shared_url, "tests.backends.cancelflows:worker", tmp_path)
    marker = tmp_path / "sleeper"
    with backend.redirected(shared_url):
        workers.start()
        try:
            ref = cancelflows.sleeper.run(
                cancelflows.Marker(path=str(marker)), wait_for_result=False
            )
            started = marker.with_suffix(".started")
            wait_until(started.exists, 30, f"{started} exists")
            cancelflows.hatchet.runs.cancel(ref.workflow_run_id)
            cancelled_at = time.monotonic()
            cancelled = marker.with_suffix(".cancelled")
            wait_until(cancelled.exists, 10, f"{cancelled} exists")
            noticed = time.monotonic() - cancelled_at
            view = cancelflows.hatchet.runs.view(ref.workflow_run_id)
        finally:
            workers.stop_all()
    assert marker.with_suffix(".cancelled").read_text() == "exit_flag=True"
    assert noticed < 2.0  # within a heartbeat or two, not the task's 60 s
    task = view.tasks["cancel-sleeper"]
    assert (view.status.value, task.status.value) == ("CANCELLED", "CANCELLED")
    assert [attempt.outcome for attempt in task.attempts] == ["CANCELLED"]


def test_a_sigkilled_durable_task_resumes_its_sleep_and_keeps_its_child(
    shared_url: str, tmp_path: Path
) -> None:
    """The worker process is killed (SIGKILL) one second into a durable task's 6 s sleep,
    after it spawned its child. Another worker process reclaims the task run once the
    1 s lease lapses and replays its event log: the child is found, not spawned again,
    and the sleep ends at its first wake time, not 6 s after the restart."""
    from tests.backends import durableflows

    workers = Workers(shared_url, "tests.backends.durableflows:worker", tmp_path)
    path, sleep = str(tmp_path / "durable"), 6.0
    sleeping = Path(path + ".sleeping")
    with backend.redirected(shared_url):
        workers.start()
        try:
            ref = durableflows.crash_parent.run(
                durableflows.Plan(path=path, sleep=sleep), wait_for_result=False
            )
            wait_until(sleeping.exists, 60, f"{sleeping} exists")
            began = float(sleeping.read_text().split()[0])
            time.sleep(max(0.0, began + 1.0 - time.time()))
            workers.kill(workers.processes[0])
            workers.start()
            result = _wait(ref.aio_result(), 60)
            view = durableflows.hatchet.runs.view(ref.workflow_run_id)
            children = [
                v for v in durableflows.hatchet.runs.views() if v.workflow == "durable-crash-child"
            ]
        finally:
            workers.stop_all()
    lost, restored = view.tasks["durable-crash-parent"].attempts
    assert (lost.outcome, restored.outcome) == ("LOST", "COMPLETED")  # killed mid-sleep
    assert len(sleeping.read_text().split()) == 2  # the body ran twice ...
    assert Path(path + ".child").read_text().split() == [children[0].id]  # ... the child once
    assert len(children) == 1 and result["child"] == {"child": children[0].id}
    assert result["woke_at"] - began >= sleep
    # a sleep restarted from zero would end 6 s after the restored attempt started
    assert result["woke_at"] - restored.started_at < sleep - 0.5, (began, restored, result)


def test_events_pushed_by_this_process_release_condition_waits_in_a_worker_process(
    shared_url: str, tmp_path: Path
) -> None:
    """The DAG task's wait is registered by the worker process when ``start`` completes,
    the durable task's when it reaches ``aio_wait_for``; events pushed here (no worker in
    this process) reach both through the shared store. An event pushed before a wait
    began is not seen, so the durable event is pushed until the task takes one."""
    from tests.backends import conditionflows as flows

    workers = Workers(shared_url, "tests.backends.conditionflows:worker", tmp_path)
    with backend.redirected(shared_url):
        workers.start()
        try:
            gated = flows.gated.run(wait_for_result=False)
            runs = flows.hatchet.runs
            wait_until(
                lambda: (
                    runs.view(gated.workflow_run_id).tasks.get("start") is not None
                    and runs.view(gated.workflow_run_id).tasks["start"].status.is_terminal
                ),
                60,
                "start completed in the worker process",
            )
            flows.hatchet.event.push("gate:open", {"by": "someone else"})  # filtered out
            assert runs.view(gated.workflow_run_id).tasks["target"].status.value == "QUEUED"
            flows.hatchet.event.push("gate:open", {"by": "test"})
            assert _wait(gated.aio_result(), 60)["target"] == {"ran": "yes"}

            durable = flows.durable_gate.run(wait_for_result=False)
            pushed = 0

            def taken() -> bool:
                nonlocal pushed
                pushed += 1
                flows.hatchet.event.push("gate:durable", {"n": pushed})
                return runs.view(durable.workflow_run_id).status.is_terminal

            wait_until(taken, 60, "the durable wait took an event")
            result = _wait(durable.aio_result(), 10)
        finally:
            workers.stop_all()
    [payload] = result["CREATE"]["gate:durable"]
    assert 1 <= payload["n"] <= pushed


def _blocked(url: str, tmp_path: Path, task: str, seconds: float) -> tuple[Any, list[str], str]:
    """Run ``task`` of ``blockflows`` (its first attempt blocks its worker's loop for
    ``seconds``) with two worker processes on 1 s leases: its result, the outcomes of its
    attempts, and the output of the worker processes."""
    from tests.backends import blockflows as flows

    workers = Workers(url, "tests.backends.blockflows:worker", tmp_path)
    marker = tmp_path / "blocked"
    workflow = {"block-loop": flows.blocker, "block-past-timeout": flows.past_timeout}[task]
    with backend.redirected(url):
        for _ in range(2):
            workers.start()
        try:
            ref = workflow.run(
                flows.Block(marker=str(marker), seconds=seconds), wait_for_result=False
            )
            result = _wait(ref.aio_result(), 30)
            view = flows.hatchet.runs.view(ref.workflow_run_id)
        finally:
            workers.stop_all()
    logs = "".join(path.read_text() for path in sorted(tmp_path.glob("worker-*.log")))
    return result, [attempt.outcome for attempt in view.tasks[task].attempts], logs


def test_an_async_task_that_blocks_the_loop_past_the_lease_runs_once(
    shared_url: str, tmp_path: Path
) -> None:
    """``time.sleep(3)`` inside ``async def``, 1 s leases: the blocked worker's lease keeper
    renews its leases from a thread, so the other worker does not take the task run as a
    dead worker's (without it, each attempt lost its lease to the other worker, and the
    task never finished), and the worker says why its loop should not block."""
    result, outcomes, logs = _blocked(shared_url, tmp_path, "block-loop", 3.0)
    assert result == {"attempt": 1}
    assert outcomes == ["COMPLETED"]
    assert "the event loop has been blocked for half a lease or more" in logs


def test_a_loop_blocked_past_the_execution_timeout_lets_the_lease_lapse(
    shared_url: str, tmp_path: Path
) -> None:
    """The task's execution timeout is 2 s and its loop stays blocked for 6 s: the keeper
    stops renewing at the timeout, the lease lapses, and the other worker re-runs the
    task (as Hatchet's server times it out) while the first is still blocked."""
    result, outcomes, _ = _blocked(shared_url, tmp_path, "block-past-timeout", 6.0)
    assert result == {"attempt": 2}
    assert outcomes == ["LOST", "COMPLETED"]


def test_a_cron_made_by_this_process_is_fired_by_a_worker_process_until_deleted(
    shared_url: str, tmp_path: Path
) -> None:
    """A cron lives in the store: one made here (no worker in this process) is fired by
    the worker process serving its workflow, and one deleted here stops there from its
    next heartbeat. (Every second: croniter's sixth field is seconds.)"""
    workers = Workers(shared_url, "tests.backends.refflows:worker", tmp_path)
    with backend.redirected(shared_url):
        made = refflows.counter.create_cron("every-second", "* * * * * *", refflows.Count(upto=3))
        workers.start()
        try:
            runs = refflows.hatchet.runs

            def fired() -> int:
                return sum(1 for view in runs.views() if view.workflow == "ref-counter")

            def completed() -> bool:
                return any(
                    view.workflow == "ref-counter" and view.status is RunStatus.COMPLETED
                    for view in runs.views()
                )

            wait_until(lambda: fired() >= 2, 60)
            wait_until(completed, 60)
            refflows.hatchet.cron.delete(made.metadata.id)
            time.sleep(3.0)  # the worker's next heartbeat (a third of the lease) saw it
            settled = fired()
            time.sleep(3.0)
            assert fired() == settled
        finally:
            workers.stop_all()
