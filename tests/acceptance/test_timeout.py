"""Mirrors sdks/python/examples/timeout (worker.py, test_timeout.py) of hatchet-dev/hatchet.

The example: a sync task with ``execution_timeout=5s`` (and ``schedule_timeout=10m``) that
sleeps for 30 s, and a sync task with ``execution_timeout=4s`` that calls
``ctx.refresh_timeout(10s)`` and then sleeps for 5 s. Its e2e test asserts the first run's
result raises an error matching ``Task exceeded timeout|TIMED OUT`` and the second's result
is ``{"refresh_task": {"status": "success"}}``. Time here is the manual clock: the sleeps
are waits that end when the test says, or when the task's ``exit_flag`` is set.

The example also gives its workflow ``task_defaults=TaskDefaults(execution_timeout=2m)``,
which its own task overrides with 5 s; a task of that workflow that sets no timeout gets
the 2 minutes (a test the example does not have). The schedule timeout, which the example
sets but its test does not reach, is tested on a task that never gets a slot."""

import asyncio
import threading
import time
from datetime import timedelta
from types import ModuleType
from typing import Any

import pytest

from flowsim import Hatchet, ManualClock
from tests.helpers import settle


def test_execution_timeout_fails_the_run_with_task_exceeded_timeout(
    hatchet_sdk: ModuleType, hatchet: Hatchet, flowsim_clock: ManualClock
) -> None:
    from hatchet_sdk import Context, EmptyModel, TaskDefaults

    started = threading.Event()
    timeout_wf = hatchet.workflow(
        name="TimeoutExample",
        task_defaults=TaskDefaults(execution_timeout=timedelta(minutes=2)),
    )

    @timeout_wf.task(execution_timeout=timedelta(seconds=5), schedule_timeout=timedelta(minutes=10))
    def timeout_task(input: EmptyModel, ctx: Context) -> dict[str, str]:
        started.set()
        return _sleep_until_timed_out(ctx)  # stands for the example's 30 s sleep

    with hatchet.worker("timeout-worker", slots=4, workflows=[timeout_wf]):
        ref = timeout_wf.run(wait_for_result=False)
        assert started.wait(5)
        flowsim_clock.advance(5)
        with pytest.raises(Exception, match=r"(Task exceeded timeout|TIMED OUT)"):
            ref.result()
    assert hatchet.runs.view(ref.workflow_run_id).status == "FAILED"


def test_refresh_timeout_lets_the_task_finish(
    hatchet_sdk: ModuleType, hatchet: Hatchet, flowsim_clock: ManualClock
) -> None:
    from hatchet_sdk import Context, EmptyModel

    refreshed = threading.Event()
    slept = threading.Event()
    refresh_wf = hatchet.workflow(name="RefreshTimeoutExample")

    @refresh_wf.task(execution_timeout=timedelta(seconds=4))
    def refresh_task(input: EmptyModel, ctx: Context) -> dict[str, str]:
        ctx.refresh_timeout(timedelta(seconds=10))
        refreshed.set()
        assert slept.wait(5)  # the example's 5 s sleep: 5 s of manual clock
        return {"status": "success"}

    with hatchet.worker("timeout-worker", slots=4, workflows=[refresh_wf]):
        ref = refresh_wf.run(wait_for_result=False)
        assert refreshed.wait(5)
        flowsim_clock.advance(5)
        slept.set()
        result = ref.result()
    assert result["refresh_task"]["status"] == "success"


async def test_schedule_timeout_cancels_a_run_that_never_got_a_slot(
    hatchet_sdk: ModuleType, hatchet: Hatchet, flowsim_clock: ManualClock
) -> None:
    from hatchet_sdk import Context, EmptyModel

    release = asyncio.Event()

    # longer than the wait: Hatchet's default execution timeout (60 s) would free the slot
    @hatchet.task(name="hog", execution_timeout=timedelta(hours=1))
    async def hog(input: EmptyModel, ctx: Context) -> dict[str, Any]:
        await release.wait()
        return {}

    @hatchet.task(
        name="waits", execution_timeout=timedelta(seconds=5), schedule_timeout=timedelta(minutes=10)
    )
    async def waits(input: EmptyModel, ctx: Context) -> dict[str, str]:
        return {"status": "success"}

    async with hatchet.worker("timeout-worker", slots=1, workflows=[hog, waits]):
        hogging = hog.run(wait_for_result=False)
        await settle()
        ref = waits.run(wait_for_result=False)
        await settle()
        try:
            flowsim_clock.advance(599)
            await settle()
            assert hatchet.runs.view(ref.workflow_run_id).tasks["waits"].status == "QUEUED"
            flowsim_clock.advance(1)
            # cancelled: the engine reports it without an error, nothing completed
            assert await ref.aio_result() == {}
        finally:
            release.set()
        await hogging.aio_result()
    view = hatchet.runs.view(ref.workflow_run_id)
    assert view.status == "CANCELLED"
    error = view.tasks["waits"].error
    assert error is not None and "schedule timeout of 10m" in error.exc


def test_a_task_that_sets_no_timeout_gets_the_workflows_default_of_two_minutes(
    hatchet_sdk: ModuleType, hatchet: Hatchet, flowsim_clock: ManualClock
) -> None:
    from hatchet_sdk import Context, EmptyModel, TaskDefaults

    started = threading.Event()
    timeout_wf = hatchet.workflow(
        name="TimeoutDefaults",
        task_defaults=TaskDefaults(execution_timeout=timedelta(minutes=2)),
    )

    @timeout_wf.task()
    def slow_task(input: EmptyModel, ctx: Context) -> dict[str, str]:
        started.set()
        return _sleep_until_timed_out(ctx)

    def status() -> str:
        return str(hatchet.runs.view(ref.workflow_run_id).status)

    def minute() -> None:
        """A minute in 5 s steps, each given time to be seen: on a durable backend the
        worker's heartbeats renew its 30 s lease as the clock moves (one jump past the
        lease would lose the attempt and start another, with a deadline of its own)."""
        for _ in range(12):
            flowsim_clock.advance(5)
            time.sleep(0.05)

    with hatchet.worker("timeout-worker", slots=4, workflows=[timeout_wf]):
        ref = timeout_wf.run(wait_for_result=False)
        assert started.wait(5)
        minute()  # past Hatchet's own default of 60 s: still running
        assert status() == "RUNNING"
        minute()
        with pytest.raises(Exception, match=r"(Task exceeded timeout|TIMED OUT)"):
            ref.result()
    (attempt,) = hatchet.runs.view(ref.workflow_run_id).tasks["slow_task"].attempts
    assert attempt.finished_at == 120.0


def _sleep_until_timed_out(ctx: Any) -> dict[str, str]:
    """A long sync sleep that ends when the task is timed out (its exit flag), 5 s at most."""
    deadline = time.monotonic() + 5
    while not ctx.exit_flag and time.monotonic() < deadline:
        time.sleep(0.001)
    return {"status": "success"}
