"""Mirrors sdks/python/examples/durable_event (worker.py, test_durable_event.py) of
hatchet-dev/hatchet.

``DurableEventTask`` waits with ``ctx.aio_wait_for("event", UserEventCondition(
event_key="user:update"))`` and returns what it got; ``DurableEventWithFilterTask`` waits
for the same event with ``expression="input.user_id == '1234'"``, and the mismatch task
for ``user_id == '9999'``. The e2e test pushes the event a few seconds in and asserts the
result ``{"CREATE": {"user:update": [payload]}}`` with the payload's fields; for the
mismatch, that an event failing the expression does not end the wait and the later
matching one does. We assert those on the manual clock, on every backend."""

import asyncio
from types import ModuleType
from typing import Any

from flowsim import Hatchet
from flowsim.rules import RunStatus
from tests.helpers import eventually, settle

EVENT_KEY = "user:update"


def durable_event_tasks(hatchet: Hatchet) -> dict[str, Any]:
    from hatchet_sdk import DurableContext, EmptyModel, UserEventCondition

    @hatchet.durable_task(name="DurableEventTask")
    async def durable_event_task(input: EmptyModel, ctx: DurableContext) -> dict[str, Any]:
        return await ctx.aio_wait_for("event", UserEventCondition(event_key=EVENT_KEY))

    @hatchet.durable_task(name="DurableEventWithFilterTask")
    async def with_filter(input: EmptyModel, ctx: DurableContext) -> dict[str, Any]:
        return await ctx.aio_wait_for(
            "event", UserEventCondition(event_key=EVENT_KEY, expression="input.user_id == '1234'")
        )

    @hatchet.durable_task(name="DurableEventFilterMismatchTask")
    async def mismatch(input: EmptyModel, ctx: DurableContext) -> dict[str, Any]:
        return await ctx.aio_wait_for(
            "event", UserEventCondition(event_key=EVENT_KEY, expression="input.user_id == '9999'")
        )

    return {"plain": durable_event_task, "filter": with_filter, "mismatch": mismatch}


async def waiting(hatchet: Hatchet, ref: Any) -> None:
    """Until the task is waiting: claimed, then its body runs (in a Task of its own, from
    the loop's next turn) up to ``aio_wait_for``, which opens the wait before suspending.
    An event pushed before that is not the one it waits for, as in Hatchet."""
    await eventually(
        lambda: any(t.attempts for t in hatchet.runs.view(ref.workflow_run_id).tasks.values())
    )
    await settle()


async def run_with_events(hatchet: Hatchet, task: Any, *payloads: dict[str, str]) -> Any:
    tasks = durable_event_tasks(hatchet)
    async with hatchet.worker("durable-event-worker", workflows=list(tasks.values())):
        ref = tasks[task].run(wait_for_result=False)
        await waiting(hatchet, ref)
        for payload in payloads:
            hatchet.event.push(EVENT_KEY, payload)
        return await asyncio.wait_for(ref.aio_result(), 10)


async def test_durable_event_wait(hatchet_sdk: ModuleType, hatchet: Hatchet) -> None:
    result = await run_with_events(hatchet, "plain", {"user_id": "1234", "data": "test"})
    assert isinstance(result, dict)
    assert "CREATE" in result
    event_payloads = result["CREATE"][EVENT_KEY]
    assert len(event_payloads) == 1
    assert event_payloads[0]["user_id"] == "1234"
    assert event_payloads[0]["data"] == "test"


async def test_durable_event_filter_match(hatchet_sdk: ModuleType, hatchet: Hatchet) -> None:
    result = await run_with_events(hatchet, "filter", {"user_id": "1234"})
    assert "CREATE" in result
    assert EVENT_KEY in result["CREATE"]
    assert result["CREATE"][EVENT_KEY][0]["user_id"] == "1234"


async def test_durable_event_filter_mismatch(hatchet_sdk: ModuleType, hatchet: Hatchet) -> None:
    result = await run_with_events(hatchet, "mismatch", {"user_id": "1234"}, {"user_id": "9999"})
    assert result == {"CREATE": {EVENT_KEY: [{"user_id": "9999"}]}}


async def test_an_event_pushed_before_the_wait_began_is_not_seen(
    hatchet_sdk: ModuleType, hatchet: Hatchet
) -> None:
    tasks = durable_event_tasks(hatchet)
    hatchet.event.push(EVENT_KEY, {"user_id": "1234"})
    async with hatchet.worker("durable-event-worker", workflows=list(tasks.values())):
        ref = tasks["plain"].run(wait_for_result=False)
        await waiting(hatchet, ref)
        await settle()
        assert hatchet.runs.get_status(ref.workflow_run_id) is RunStatus.RUNNING
        hatchet.event.push(EVENT_KEY, {"user_id": "late"})
        result = await asyncio.wait_for(ref.aio_result(), 10)
    assert result == {"CREATE": {EVENT_KEY: [{"user_id": "late"}]}}


async def test_aio_wait_for_event_returns_the_validated_payload(
    hatchet_sdk: ModuleType, hatchet: Hatchet
) -> None:
    """hatchet_sdk's shorthand (not in the example): the matching event's payload, as a
    model when a ``payload_validator`` is given."""
    from hatchet_sdk import DurableContext, EmptyModel
    from pydantic import BaseModel

    class Update(BaseModel):
        user_id: str

    @hatchet.durable_task(name="shorthand")
    async def shorthand(input: EmptyModel, ctx: DurableContext) -> dict[str, Any]:
        update = await ctx.aio_wait_for_event(
            EVENT_KEY, "input.user_id != 'x'", payload_validator=Update
        )
        return {"user_id": update.user_id, "is_model": isinstance(update, Update)}

    async with hatchet.worker("durable-event-worker", workflows=[shorthand]):
        ref = shorthand.run(wait_for_result=False)
        await waiting(hatchet, ref)
        hatchet.event.push(EVENT_KEY, {"user_id": "x"})
        hatchet.event.push(EVENT_KEY, {"user_id": "42"})
        result = await asyncio.wait_for(ref.aio_result(), 10)
    assert result == {"user_id": "42", "is_model": True}
