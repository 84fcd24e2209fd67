"""Mirrors sdks/python/examples/durable (worker.py, test_durable.py) of hatchet-dev/hatchet.

The example's durable tasks sleep with ``ctx.aio_sleep_for`` (once, or three times in a
row), spawn a standalone child and return its output, and sleep before spawning a DAG
child; others wait for events and ``or_`` groups of conditions. Its e2e test asserts that
a single sleep's runtime is at least the sleep time (``wait_for_sleep_twice``), that three
sleeps take more than three times it (``wait_for_multi_sleep``), that the spawning task
returns ``{"child_output": {"message": "hello from child"}}``, and that the sleep before a
spawn lasts between 1 and 2 seconds (``durable_spawn_dag``). Its ``durable_task`` sleeps
then waits with ``ctx.aio_wait_for("event", UserEventCondition(event_key=EVENT_KEY,
expression="true"))``; ``wait_for_or_group_1``/``_2`` wait for ``or_(SleepCondition,
UserEventCondition)`` with a short and a six times longer sleep; the e2e test pushes the
event ``SLEEP_TIME + 10`` seconds in and asserts ``durable_task``'s status, that group 1
ran about ``SLEEP_TIME``, that both results are keyed ``"CREATE"`` and that the inner key
names the sleep for group 1 and the event for group 2. We assert those on the manual
clock, on every backend. Replay is not modelled."""

import asyncio
from datetime import timedelta
from types import ModuleType
from typing import Any
from uuid import uuid4

from flowsim import Hatchet, ManualClock
from tests.helpers import eventually

SLEEP_TIME = 5
EVENT_KEY = "durable-example:event"


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


def durable_workflow(hatchet: Hatchet, clock: ManualClock, reached: list[str]) -> Any:
    from hatchet_sdk import (
        Context,
        DurableContext,
        EmptyModel,
        SleepCondition,
        UserEventCondition,
        or_,
    )

    wf = hatchet.workflow(name="DurableWorkflow")

    @wf.task()
    async def ephemeral_task(input: EmptyModel, ctx: Context) -> None:
        return None

    @wf.durable_task()
    async def durable_task(input: EmptyModel, ctx: DurableContext) -> dict[str, str]:
        await ctx.aio_sleep_for(duration=timedelta(seconds=SLEEP_TIME))
        reached.append("durable_task")
        await ctx.aio_wait_for("event", UserEventCondition(event_key=EVENT_KEY, expression="true"))
        return {"status": "success"}

    async def wait_for_group(ctx: DurableContext, sleep: int, name: str) -> dict[str, Any]:
        start = clock.now()
        reached.append(name)
        wait_result = await ctx.aio_wait_for(
            uuid4().hex,
            or_(
                SleepCondition(timedelta(seconds=sleep)),
                UserEventCondition(event_key=EVENT_KEY),
            ),
        )
        key = next(iter(wait_result))
        event_id = next(iter(wait_result[key]))
        return {"runtime": int(clock.now() - start), "key": key, "event_id": event_id,
                "data": wait_result[key][event_id]}  # fmt: skip

    @wf.durable_task()
    async def wait_for_or_group_1(input: EmptyModel, ctx: DurableContext) -> dict[str, Any]:
        return await wait_for_group(ctx, SLEEP_TIME, "group_1")

    @wf.durable_task()
    async def wait_for_or_group_2(input: EmptyModel, ctx: DurableContext) -> dict[str, Any]:
        return await wait_for_group(ctx, 6 * SLEEP_TIME, "group_2")

    return wf


async def test_durable(
    hatchet_sdk: ModuleType, hatchet: Hatchet, flowsim_clock: ManualClock
) -> None:
    reached: list[str] = []
    wf = durable_workflow(hatchet, flowsim_clock, reached)
    async with hatchet.worker("durable-worker", workflows=[wf]):
        ref = wf.run_no_wait()
        await eventually(lambda: {"group_1", "group_2"} <= set(reached))
        flowsim_clock.advance(SLEEP_TIME)
        await eventually(lambda: "durable_task" in reached)
        flowsim_clock.advance(10)
        hatchet.event.push(EVENT_KEY, {"test": "test"})
        result = await ref.aio_result()

    assert result["durable_task"]["status"] == "success"
    group_1, group_2 = result["wait_for_or_group_1"], result["wait_for_or_group_2"]
    assert abs(group_1["runtime"] - SLEEP_TIME) < 3
    assert group_1["key"] == group_2["key"] == "CREATE"
    assert "sleep" in group_1["event_id"]
    assert "event" in group_2["event_id"]
    assert group_2["data"] == [{"test": "test"}]  # the matches: the event payload
    assert group_2["runtime"] == SLEEP_TIME + 10
