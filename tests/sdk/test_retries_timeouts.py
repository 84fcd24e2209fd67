"""Retries, backoff and timeouts as Hatchet does them, driven by a manual clock: time moves
only when the test says so, and no test sleeps."""

import asyncio
import threading
import time
from datetime import timedelta
from typing import Any

import pytest

from flowsim import (
    Context,
    EmptyModel,
    FailedTaskRunExceptionGroup,
    Hatchet,
    ManualClock,
    NonRetryableException,
    RunCancelledError,
    StaleAttemptError,
)
from flowsim.store.protocol import TaskView
from tests.helpers import settle


async def test_backoff_waits_min_of_max_and_factor_power_n(
    hatchet: Hatchet, flowsim_clock: ManualClock
) -> None:
    @hatchet.task(name="flaky", retries=3, backoff_factor=2.0, backoff_max_seconds=5)
    async def flaky(input: EmptyModel, ctx: Context) -> dict[str, Any]:
        raise ValueError(f"attempt {ctx.attempt_number} of {ctx.max_attempts}")

    async with hatchet.worker("w", slots=1, workflows=[flaky]):
        ref = flaky.run(wait_for_result=False)

        def task() -> TaskView:
            return hatchet.runs.view(ref.workflow_run_id).tasks["flaky"]

        await settle()
        assert len(task().attempts) == 1 and task().status == "QUEUED"
        # retry n waits min(5, 2**n): 2, 4, 5
        for delay in (2.0, 4.0, 5.0):
            flowsim_clock.advance(delay - 0.001)
            await settle()
            before = len(task().attempts)
            flowsim_clock.advance(0.001)
            await settle()
            assert len(task().attempts) == before + 1
        with pytest.raises(FailedTaskRunExceptionGroup) as caught:
            await ref.aio_result()
    assert [a.started_at for a in task().attempts] == pytest.approx([0.0, 2.0, 6.0, 11.0])
    assert task().status == "FAILED"
    [error] = caught.value.exceptions
    assert error.exc_type == "ValueError" and error.exc == "attempt 4 of 4"


async def test_without_backoff_factor_retries_immediately(
    hatchet: Hatchet, flowsim_clock: ManualClock
) -> None:
    @hatchet.task(name="fail-twice", retries=3)
    async def fail_twice(input: EmptyModel, ctx: Context) -> dict[str, Any]:
        if ctx.retry_count < 2:
            raise RuntimeError("not yet")
        return {"attempt": ctx.attempt_number}

    async with hatchet.worker("w", slots=1, workflows=[fail_twice]):
        assert await fail_twice.aio_run() == {"attempt": 3}
    assert flowsim_clock.now() == 0.0


async def test_non_retryable_exception_is_not_retried(hatchet: Hatchet) -> None:
    calls: list[int] = []

    @hatchet.task(name="give-up", retries=5)
    async def give_up(input: EmptyModel, ctx: Context) -> dict[str, Any]:
        calls.append(ctx.retry_count)
        raise NonRetryableException("bad data")

    async with hatchet.worker("w", slots=1, workflows=[give_up]):
        with pytest.raises(FailedTaskRunExceptionGroup, match="bad data"):
            await give_up.aio_run()
    assert calls == [0]


async def test_execution_timeout_cancels_and_counts_as_a_failed_attempt(
    hatchet: Hatchet, flowsim_clock: ManualClock
) -> None:
    cancelled: list[int] = []

    @hatchet.task(name="hang", execution_timeout=timedelta(seconds=5), retries=1)
    async def hang(input: EmptyModel, ctx: Context) -> dict[str, Any]:
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            cancelled.append(ctx.retry_count)
            raise
        return {}

    async with hatchet.worker("w", slots=1, workflows=[hang]):
        ref = hang.run(wait_for_result=False)

        def task() -> TaskView:
            return hatchet.runs.view(ref.workflow_run_id).tasks["hang"]

        await settle()
        flowsim_clock.advance(4.9)
        await settle()
        assert task().status == "RUNNING" and len(task().attempts) == 1
        flowsim_clock.advance(0.1)
        await settle()
        first = task().attempts[0]
        assert len(task().attempts) == 2 and first.error is not None
        assert "Task exceeded timeout of 5s" in first.error
        flowsim_clock.advance(5)
        with pytest.raises(FailedTaskRunExceptionGroup, match="Task exceeded timeout of 5s"):
            await ref.aio_result()
    assert cancelled == [0, 1]
    assert [a.started_at for a in task().attempts] == [0.0, 5.0]


@pytest.mark.parametrize("ends", ["returns", "raises"])
async def test_an_async_body_that_ends_after_its_timeout_timed_out(
    hatchet: Hatchet, flowsim_clock: ManualClock, ends: str
) -> None:
    """A blocking call inside ``async def`` (here the clock moves 6 s inside the body, as
    it would during one) ends the body past its 5 s timeout before the loop can run the
    timer. Hatchet's server times the attempt out at 5 s and drops what the worker sends
    later; so does flowsim: a timeout, retried, not the late result or error."""

    @hatchet.task(name="overrun", execution_timeout="5s", retries=1)
    async def overrun(input: EmptyModel, ctx: Context) -> dict[str, Any]:
        if ctx.retry_count == 0:
            flowsim_clock.advance(6)
            if ends == "raises":
                raise ValueError("late failure")
            return {"late": True}
        return {"retry": True}

    async with hatchet.worker("w", slots=1, workflows=[overrun]):
        ref = overrun.run(wait_for_result=False)
        assert await ref.aio_result() == {"retry": True}
    attempts = hatchet.runs.view(ref.workflow_run_id).tasks["overrun"].attempts
    assert [a.outcome for a in attempts] == ["FAILED", "COMPLETED"]
    assert attempts[0].error is not None and "Task exceeded timeout of 5s" in attempts[0].error


async def test_a_timed_out_attempt_cannot_spawn_so_the_retry_numbers_its_children_from_zero(
    hatchet: Hatchet, flowsim_clock: ManualClock
) -> None:
    refused: list[str] = []

    @hatchet.task(name="kid")
    async def kid(input: EmptyModel, ctx: Context) -> dict[str, Any]:
        return {"kid": True}

    @hatchet.task(name="swallows-cancel", execution_timeout="5s", retries=1)
    async def parent(input: EmptyModel, ctx: Context) -> dict[str, Any]:
        if ctx.retry_count == 0:
            try:
                await asyncio.Event().wait()
            except asyncio.CancelledError:
                try:  # user code that swallows its cancellation and carries on spawning
                    await kid.aio_run(wait_for_result=False)
                except StaleAttemptError as error:
                    refused.append(error.task_run_id)
                raise
        return await kid.aio_run()

    async with hatchet.worker("w", slots=2, workflows=[parent, kid]):
        ref = parent.run(wait_for_result=False)
        await settle()
        flowsim_clock.advance(5)
        assert await ref.aio_result() == {"kid": True}
    parent_task = hatchet.runs.view(ref.workflow_run_id).tasks["swallows-cancel"]
    assert refused == [parent_task.id]
    children = [run for run in hatchet.runs.views() if run.workflow == "kid"]
    assert [child.child_index for child in children] == [0]


def test_sync_task_sees_exit_flag_on_timeout_and_its_late_result_is_ignored(
    hatchet: Hatchet, flowsim_clock: ManualClock
) -> None:
    started = threading.Event()
    saw_exit_flag = threading.Event()

    @hatchet.task(name="loop", execution_timeout="2s")
    def loop(input: EmptyModel, ctx: Context) -> dict[str, Any]:
        started.set()
        deadline = time.monotonic() + 5
        while not ctx.exit_flag and time.monotonic() < deadline:
            time.sleep(0.001)
        saw_exit_flag.set()
        return {"late": True}

    with hatchet.worker("w", slots=1, workflows=[loop]):
        ref = loop.run(wait_for_result=False)
        assert started.wait(5)
        flowsim_clock.advance(2)
        with pytest.raises(FailedTaskRunExceptionGroup, match="Task exceeded timeout of 2s"):
            ref.result()
        assert saw_exit_flag.wait(5)
    run = hatchet.runs.view(ref.workflow_run_id)
    assert run.status == "FAILED" and run.tasks["loop"].output is None


async def test_schedule_timeout_cancels_a_run_that_never_got_a_slot(
    hatchet: Hatchet, flowsim_clock: ManualClock
) -> None:
    release = asyncio.Event()

    @hatchet.task(name="blocker")
    async def blocker(input: EmptyModel, ctx: Context) -> dict[str, Any]:
        await release.wait()
        return {"done": True}

    @hatchet.task(name="starved", schedule_timeout=timedelta(seconds=10))
    async def starved(input: EmptyModel, ctx: Context) -> dict[str, Any]:
        return {"ran": True}

    async with hatchet.worker("w", slots=1, workflows=[blocker, starved]):
        blocking = blocker.run(wait_for_result=False)
        await settle()
        ref = starved.run(wait_for_result=False)
        await settle()
        flowsim_clock.advance(10)
        try:
            # a cancelled run reports no error on the async path: nothing completed
            assert await ref.aio_result() == {}
        finally:
            release.set()  # the worker drains on leaving, even if the assertion failed
        assert await blocking.aio_result() == {"done": True}
    view = hatchet.runs.view(ref.workflow_run_id)
    assert view.status == "CANCELLED"
    error = view.tasks["starved"].error
    assert error is not None and "schedule timeout of 10s" in error.exc


def test_schedule_timeout_applies_with_no_worker_running(
    hatchet: Hatchet, flowsim_clock: ManualClock
) -> None:
    @hatchet.task(name="unserved", schedule_timeout="10s")
    def unserved(input: EmptyModel, ctx: Context) -> dict[str, Any]:
        return {"ran": True}

    ref = unserved.run(wait_for_result=False)
    flowsim_clock.advance(9.9)
    assert hatchet.runs.view(ref.workflow_run_id).status == "QUEUED"
    flowsim_clock.advance(0.1)
    assert hatchet.runs.view(ref.workflow_run_id).status == "CANCELLED"
    with (
        hatchet.worker("late", slots=1, workflows=[unserved]),
        pytest.raises(RunCancelledError, match="was cancelled"),
    ):
        ref.result()
