"""Mirrors the condition waits of sdks/python/examples/durable (worker.py, test_durable.py)
of hatchet-dev/hatchet.

``durable_task`` sleeps ``SLEEP_TIME`` then waits with ``ctx.aio_wait_for("event",
UserEventCondition(event_key=EVENT_KEY, expression="true"))`` and returns
``{"status": "success"}``; ``wait_for_or_group_1`` waits for ``or_(SleepCondition(
SLEEP_TIME), UserEventCondition(EVENT_KEY))`` and ``wait_for_or_group_2`` for the same with
a sleep six times longer; each returns its runtime, the key of the wait's result and the
key inside it. The e2e test pushes the event ``SLEEP_TIME + 10`` seconds in and asserts
``durable_task``'s status, that group 1 ran about ``SLEEP_TIME``, that both result keys
are ``"CREATE"``, that group 1's inner key names the sleep and group 2's the event. We
assert the same on the manual clock, on every backend."""

from datetime import timedelta
from types import ModuleType
from typing import Any
from uuid import uuid4

from flowsim import Hatchet, ManualClock
from tests.helpers import eventually

EVENT_KEY = "durable-example:event"
SLEEP_TIME = 5


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


async def test_an_event_failing_the_expression_does_not_end_the_wait(
    hatchet_sdk: ModuleType, hatchet: Hatchet, flowsim_clock: ManualClock
) -> None:
    from hatchet_sdk import DurableContext, EmptyModel, UserEventCondition

    @hatchet.durable_task(name="filtered_wait")
    async def filtered_wait(input: EmptyModel, ctx: DurableContext) -> dict[str, Any]:
        return await ctx.aio_wait_for(
            "user",
            UserEventCondition(event_key="user:update", expression="input.user_id == '1234'"),
        )

    async with hatchet.worker("durable-worker", workflows=[filtered_wait]):
        ref = filtered_wait.run_no_wait()
        await eventually(lambda: bool(hatchet.runs.view(ref.workflow_run_id).tasks))
        await eventually(
            lambda: all(t.attempts for t in hatchet.runs.view(ref.workflow_run_id).tasks.values())
        )
        hatchet.event.push("user:update", {"user_id": "9"})
        hatchet.event.push("user:update", {"user_id": "1234"})
        result = await ref.aio_result()
    assert result == {"CREATE": {"user:update": [{"user_id": "1234"}]}}
