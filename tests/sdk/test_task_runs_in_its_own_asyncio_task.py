"""Each task attempt runs in an asyncio Task of its own, from its first line, as on a
Hatchet worker (hatchet_sdk's runner starts every action with ``asyncio.create_task``).

Code that asks for the current Task works in a task body then: ``asyncio.timeout()``,
``asyncio.TaskGroup``, ``asyncio.current_task()``. Hatchet's ``child_keys`` example wraps
a child's run in ``asyncio.timeout(3)``. The body's first step once ran inline in the
dispatcher: outside any Task when a sync call triggered it, or inside the caller's Task,
so a timeout in a child cancelled its parent or the test itself.
"""

from __future__ import annotations

import asyncio
import sys
import time
from datetime import timedelta

import pytest

from flowsim import Context, EmptyModel, Hatchet
from tests.helpers import settle


def test_a_task_body_sees_its_own_current_task_from_its_first_line(hatchet: Hatchet) -> None:
    """Triggered from sync code, where no Task runs around the dispatcher."""
    seen: list[bool] = []

    @hatchet.task(name="own-task")
    async def task(input: EmptyModel, ctx: Context) -> dict[str, bool]:
        seen.append(asyncio.current_task() is not None)
        async with asyncio.timeout(5):  # needs a current Task
            await asyncio.sleep(0)
        return {"ok": True}

    with hatchet.worker("own-task-worker", slots=2, workflows=[task]):
        assert task.run() == {"ok": True}
    assert seen == [True]


async def test_a_timeout_in_a_child_fails_the_child_not_the_parent_or_the_caller(
    hatchet: Hatchet,
) -> None:
    @hatchet.task(name="slow-child", retries=0)
    async def child(input: EmptyModel, ctx: Context) -> dict[str, str]:
        async with asyncio.timeout(0.05):
            await asyncio.sleep(5)
        return {"never": "here"}

    @hatchet.task(name="patient-parent", retries=0)
    async def parent(input: EmptyModel, ctx: Context) -> dict[str, str]:
        try:
            await child.aio_run()
        except Exception as exc:  # the child's failure, as hatchet_sdk raises it
            return {"child": type(exc).__name__, "error": str(exc)}
        return {"child": "completed"}

    caller = asyncio.current_task()
    async with hatchet.worker("timeouts", slots=4, workflows=[parent, child]):
        result = await parent.aio_run()
    assert caller is not None and not caller.cancelling()  # the test's own Task untouched
    assert result["child"] == "FailedTaskRunExceptionGroup", result
    assert "TimeoutError" in result["error"], result


async def test_a_task_group_in_a_task_body_runs_its_tasks(hatchet: Hatchet) -> None:
    @hatchet.task(name="grouped")
    async def grouped(input: EmptyModel, ctx: Context) -> dict[str, list[int]]:
        async def square(i: int) -> int:
            await asyncio.sleep(0)
            return i * i

        async with asyncio.TaskGroup() as group:
            tasks = [group.create_task(square(i)) for i in range(4)]
        return {"squares": [t.result() for t in tasks]}

    async with hatchet.worker("grouped-worker", slots=2, workflows=[grouped]):
        assert await grouped.aio_run() == {"squares": [0, 1, 4, 9]}


async def test_a_task_cancelling_itself_before_its_first_await_is_cancelled(
    hatchet: Hatchet,
) -> None:
    """``await ctx.aio_cancel()`` as the body's first await: the cancel reaches a Task that
    is running, not one still to be made (after a first await it is
    ``tests/acceptance/test_cancellation.py``'s case)."""

    @hatchet.task(name="self-cancel-at-once")
    async def task(input: EmptyModel, ctx: Context) -> dict[str, str]:
        await ctx.aio_cancel()
        await asyncio.sleep(5)
        return {"not": "reached"}

    async with hatchet.worker("self-cancel", slots=1, workflows=[task]):
        ref = await task.aio_run(wait_for_result=False)
        assert await asyncio.wait_for(ref.aio_result(), 10) == {}
    assert hatchet.runs.get_status(ref.workflow_run_id).value == "CANCELLED"


async def test_an_attempt_cancelled_from_outside_before_its_first_step_records_the_stop(
    hatchet: Hatchet,
) -> None:
    """What a shutdown cancelling every task of the loop does to an attempt claimed but not
    yet started: its body never runs, so the engine records the stop itself (retryable, as
    for a body stopped mid-way), frees the slot and lets the worker drain at once."""

    @hatchet.task(name="victim", retries=0, execution_timeout=timedelta(seconds=30))
    async def victim(input: EmptyModel, ctx: Context) -> dict[str, str]:
        await asyncio.sleep(30)
        return {"not": "reached"}

    async with hatchet.worker("victims", slots=2, workflows=[victim]):
        (runtime,) = hatchet.engine.workers()
        ref = await victim.aio_run(wait_for_result=False)
        (attempt,) = runtime.holders.values()  # claimed at the trigger, not started
        assert attempt.task is not None
        attempt.task.cancel()
        await asyncio.sleep(0.05)
        assert runtime.holders == {} and attempt.task not in runtime.tasks
        started = time.monotonic()
    assert time.monotonic() - started < 5  # the drain did not wait for the timeout
    (task,) = hatchet.runs.view(ref.workflow_run_id).tasks.values()
    assert task.error is not None and task.error.exc_type == "CancelledError"


@pytest.mark.skipif(sys.version_info < (3, 12), reason="asyncio.eager_task_factory is 3.12+")
async def test_an_eager_task_factory_on_the_users_loop_changes_nothing(hatchet: Hatchet) -> None:
    """The engine makes each attempt's Task itself: a loop whose task factory starts tasks
    eagerly would run a body before its attempt knew its Task."""
    loop = asyncio.get_running_loop()
    loop.set_task_factory(asyncio.eager_task_factory)  # type: ignore[attr-defined]
    try:

        @hatchet.task(name="quick-eager")
        async def quick(input: EmptyModel, ctx: Context) -> dict[str, bool]:
            return {"ok": True}

        @hatchet.task(name="cancel-eager")
        async def cancels(input: EmptyModel, ctx: Context) -> dict[str, str]:
            await ctx.aio_cancel()
            await asyncio.sleep(5)
            return {"not": "reached"}

        async with hatchet.worker("eager", slots=4, workflows=[quick, cancels]):
            (runtime,) = hatchet.engine.workers()
            for _ in range(5):
                assert await quick.aio_run() == {"ok": True}
            ref = await cancels.aio_run(wait_for_result=False)
            assert await asyncio.wait_for(ref.aio_result(), 10) == {}
            await settle()  # the cancelled body's Task ends
            assert runtime.tasks == set()
    finally:
        loop.set_task_factory(None)
