"""Mirrors sdks/python/examples/retries (worker.py) of hatchet-dev/hatchet.

The example: a task that always fails with ``retries=3``; one that fails while
``ctx.retry_count < 2`` and then succeeds; and one with ``retries=10,
backoff_factor=2.0, backoff_max_seconds=10`` that fails three times ("2s, 4s, 8s, 10s, ...",
says its comment) and then succeeds. It has no e2e test file; we assert what its comments
state: 4 attempts then failure, success on the third attempt, and the backoff waits of
2, 4 and 8 seconds (on the manual clock) before the success on the fourth attempt."""

from types import ModuleType
from typing import Any

import pytest

from flowsim import Hatchet, ManualClock
from flowsim.store.protocol import TaskView
from tests.helpers import eventually, settle


def test_simple_retries_fail_after_four_attempts_or_succeed_on_the_third(
    hatchet_sdk: ModuleType, hatchet: Hatchet
) -> None:
    from hatchet_sdk import Context, EmptyModel, FailedTaskRunExceptionGroup

    always = hatchet.workflow(name="AlwaysFailRetries")
    twice = hatchet.workflow(name="FailTwiceRetries")
    attempts: list[int] = []

    @always.task(retries=3)
    def always_fail(input: EmptyModel, ctx: Context) -> dict[str, str]:
        attempts.append(ctx.attempt_number)
        raise Exception("simple task failed")

    @twice.task(retries=3)
    def fail_twice(input: EmptyModel, ctx: Context) -> dict[str, Any]:
        if ctx.retry_count < 2:
            raise Exception("simple task failed")
        return {"status": "success", "retry_count": ctx.retry_count}

    with hatchet.worker("retry-worker", slots=4, workflows=[always, twice]):
        with pytest.raises(FailedTaskRunExceptionGroup, match="simple task failed"):
            always.run()
        assert twice.run() == {"fail_twice": {"status": "success", "retry_count": 2}}
    assert attempts == [1, 2, 3, 4]


async def test_backoff_waits_two_four_eight_seconds_then_succeeds(
    hatchet_sdk: ModuleType, hatchet: Hatchet, flowsim_clock: ManualClock
) -> None:
    from hatchet_sdk import Context, EmptyModel

    backoff_wf = hatchet.workflow(name="BackoffExample")

    @backoff_wf.task(retries=10, backoff_max_seconds=10, backoff_factor=2.0)
    def backoff_task(input: EmptyModel, ctx: Context) -> dict[str, str]:
        if ctx.retry_count < 3:
            raise Exception("backoff task failed")
        return {"status": "success"}

    async with hatchet.worker("backoff-worker", slots=4, workflows=[backoff_wf]):
        ref = backoff_wf.run(wait_for_result=False)

        def task() -> TaskView:
            return hatchet.runs.view(ref.workflow_run_id).tasks["backoff_task"]

        # the task is sync (a thread): wait for each failed attempt to be stored as such
        for attempt, delay in enumerate((2.0, 4.0, 8.0), start=1):
            await eventually(
                lambda n=attempt: len(task().attempts) == n and task().status == "QUEUED"
            )
            flowsim_clock.advance(delay - 0.001)
            await settle()
            assert len(task().attempts) == attempt  # not before the backoff is over
            flowsim_clock.advance(0.001)
            await eventually(lambda n=attempt: len(task().attempts) == n + 1)
        assert await ref.aio_result() == {"backoff_task": {"status": "success"}}
    assert [a.started_at for a in task().attempts] == pytest.approx([0.0, 2.0, 6.0, 14.0])
