"""Mirrors sdks/python/examples/cancellation (worker.py, test_cancellation.py) of
hatchet-dev/hatchet.

The example: an async task that cancels its own run with ``await ctx.aio_cancel()`` and
then sleeps (it must never return), and a sync task that polls ``ctx.exit_flag`` and stops
when it is set, cancelled from outside with ``hatchet.runs.cancel``. Its e2e test starts the
workflow without waiting for it (``aio_run_no_wait``, which hatchet_sdk 1.43 deprecates; here
``aio_run(wait_for_result=False)``), waits, and asserts the run's status is ``CANCELLED`` and
that it has no output. We assert that for both, and that waiting on a cancelled run returns
nothing (the engine reports a cancelled task without an error) where the sync ``result()``
raises that it was cancelled."""

import asyncio
import threading
import time
from types import ModuleType
from typing import Any

import pytest

from flowsim import Hatchet
from tests.helpers import eventually


async def test_a_task_that_cancels_itself_leaves_a_cancelled_run_without_output(
    hatchet_sdk: ModuleType, hatchet: Hatchet
) -> None:
    from hatchet_sdk import Context, EmptyModel, RunStatus

    cancel_wf = hatchet.workflow(name="CancelExample")

    @cancel_wf.task()
    async def cancel_me(input: EmptyModel, ctx: Context) -> dict[str, str]:
        await asyncio.sleep(0.01)
        await ctx.aio_cancel()
        await asyncio.sleep(10)
        return {"error": "the task should have been cancelled"}

    async with hatchet.worker("cancellation-worker", slots=4, workflows=[cancel_wf]):
        ref = await cancel_wf.aio_run(wait_for_result=False)
        assert await asyncio.wait_for(ref.aio_result(), 5) == {}
        with pytest.raises(ValueError, match="was cancelled"):
            await asyncio.to_thread(ref.result)

    run = hatchet.runs.view(ref.workflow_run_id)
    assert run.status == RunStatus.CANCELLED
    assert hatchet.runs.get_status(ref.workflow_run_id) == RunStatus.CANCELLED
    assert all(task.output is None for task in run.tasks.values())


async def test_a_sync_task_polling_the_exit_flag_is_cancelled_from_outside(
    hatchet_sdk: ModuleType, hatchet: Hatchet
) -> None:
    from hatchet_sdk import Context, EmptyModel, RunStatus

    started = threading.Event()
    saw_flag: list[bool] = []
    flag_wf = hatchet.workflow(name="ExitFlagExample")

    @flag_wf.task()
    def poll_flag(input: EmptyModel, ctx: Context) -> dict[str, Any]:
        started.set()
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            if ctx.exit_flag:
                saw_flag.append(True)
                return {"cancelled": True}  # too late: the run is already CANCELLED
            time.sleep(0.002)
        return {"error": "the task should have been cancelled"}

    async with hatchet.worker("cancellation-worker", slots=4, workflows=[flag_wf]):
        ref = await flag_wf.aio_run(wait_for_result=False)
        await eventually(started.is_set)
        await hatchet.runs.aio_cancel(ref.workflow_run_id)
        assert await asyncio.wait_for(ref.aio_result(), 5) == {}
        await eventually(lambda: saw_flag == [True])

    run = hatchet.runs.view(ref.workflow_run_id)
    assert run.status == RunStatus.CANCELLED
    assert all(task.output is None for task in run.tasks.values())
