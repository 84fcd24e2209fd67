"""Mirrors sdks/python/examples/durable (worker.py, test_durable.py) of hatchet-dev/hatchet.

The example's durable tasks sleep with ``ctx.aio_sleep_for`` (once, or three times in a
row), spawn a standalone child and return its output, and sleep before spawning a DAG
child; others wait for events and ``or_`` groups of conditions. Its e2e test asserts that
a single sleep's runtime is at least the sleep time (``wait_for_sleep_twice``), that three
sleeps take more than three times it (``wait_for_multi_sleep``), that the spawning task
returns ``{"child_output": {"message": "hello from child"}}``, and that the sleep before a
spawn lasts between 1 and 2 seconds (``durable_spawn_dag``). We assert those on the manual
clock. Its condition waits (``aio_wait_for`` with ``UserEventCondition`` and ``or_``) are
in tests/acceptance/test_durable_event.py; replay is not modelled."""

import asyncio
from datetime import timedelta
from types import ModuleType
from typing import Any

from flowsim import Hatchet, ManualClock

SLEEP_TIME = 5


async def drive(clock: ManualClock, ref: Any, step: float = 0.25, within: float = 5.0) -> Any:
    """Move the manual clock in small steps until the run finishes, and return its result.
    A durable sleep starts whenever the task reaches it, on any backend; the steps bound how
    far past its deadline the clock can be when the sleeper wakes."""

    async def result() -> Any:
        return await ref.aio_result()

    waiting = asyncio.ensure_future(result())
    try:
        async with asyncio.timeout(within):
            while not waiting.done():
                clock.advance(step)
                await asyncio.sleep(0.01)
    finally:
        if not waiting.done():
            waiting.cancel()
    return waiting.result()


async def test_durable_sleeps_last_at_least_their_duration(
    hatchet_sdk: ModuleType, hatchet: Hatchet, flowsim_clock: ManualClock
) -> None:
    from hatchet_sdk import DurableContext, EmptyModel

    @hatchet.durable_task(name="sleep_once")
    async def sleep_once(input: EmptyModel, ctx: DurableContext) -> dict[str, float]:
        start = flowsim_clock.now()
        await ctx.aio_sleep_for(timedelta(seconds=SLEEP_TIME))
        return {"runtime": flowsim_clock.now() - start}

    @hatchet.durable_task(name="sleep_thrice")
    async def sleep_thrice(input: EmptyModel, ctx: DurableContext) -> dict[str, float]:
        start = flowsim_clock.now()
        for _ in range(3):
            await ctx.aio_sleep_for(timedelta(seconds=SLEEP_TIME))
        return {"runtime": flowsim_clock.now() - start}

    async with hatchet.worker("durable-worker", workflows=[sleep_once, sleep_thrice]):
        once = await drive(flowsim_clock, sleep_once.run_no_wait())
        thrice = await drive(flowsim_clock, sleep_thrice.run_no_wait())

    assert SLEEP_TIME <= once["runtime"] < SLEEP_TIME + 3
    assert thrice["runtime"] >= 3 * SLEEP_TIME


async def test_a_durable_task_spawns_a_child_and_returns_its_output(
    hatchet_sdk: ModuleType, hatchet: Hatchet
) -> None:
    from hatchet_sdk import Context, DurableContext, EmptyModel

    @hatchet.task(name="greeting_child")
    def greeting_child(input: EmptyModel, ctx: Context) -> dict[str, str]:
        return {"message": "hello from child"}

    @hatchet.durable_task(name="durable_parent")
    async def durable_parent(input: EmptyModel, ctx: DurableContext) -> dict[str, Any]:
        return {"child_output": await greeting_child.aio_run()}

    # one task slot: the durable parent waits in its durable slot, not in the child's
    async with hatchet.worker(
        "durable-worker", slots=1, workflows=[greeting_child, durable_parent]
    ):
        result = await asyncio.wait_for(durable_parent.aio_run(), 5)
    assert result["child_output"] == {"message": "hello from child"}


async def test_a_durable_task_sleeps_then_spawns_a_dag(
    hatchet_sdk: ModuleType, hatchet: Hatchet, flowsim_clock: ManualClock
) -> None:
    from hatchet_sdk import Context, DurableContext, EmptyModel

    dag_child = hatchet.workflow(name="DurableDagChild")

    @dag_child.task()
    async def child_one(input: EmptyModel, ctx: Context) -> dict[str, str]:
        return {"result": "child1"}

    @dag_child.task()
    async def child_two(input: EmptyModel, ctx: Context) -> dict[str, str]:
        return {"result": "child2"}

    @hatchet.durable_task(name="sleep_then_spawn")
    async def sleep_then_spawn(input: EmptyModel, ctx: DurableContext) -> dict[str, Any]:
        start = flowsim_clock.now()
        await ctx.aio_sleep_for(timedelta(seconds=1))
        slept = flowsim_clock.now() - start
        return {"sleep_duration": slept, "spawn_result": await dag_child.aio_run()}

    async with hatchet.worker("durable-worker", workflows=[dag_child, sleep_then_spawn]):
        result = await drive(flowsim_clock, sleep_then_spawn.run_no_wait(), step=0.1)
    assert 1 <= result["sleep_duration"] <= 2
    assert result["spawn_result"] == {
        "child_one": {"result": "child1"},
        "child_two": {"result": "child2"},
    }
