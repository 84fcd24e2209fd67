"""A worker process for the cross-process conditions tests: a DAG task held by an event
condition and a durable task waiting for an event, both satisfied by events pushed from
the test's own process."""

from typing import Any

from pydantic import BaseModel

from flowsim import Context, DurableContext, EmptyModel, Hatchet
from flowsim.sdk.conditions import UserEventCondition

hatchet = Hatchet()


class Opened(BaseModel):
    by: str


gated = hatchet.workflow(name="gated")


@gated.task()
def start(input: EmptyModel, ctx: Context) -> dict[str, int]:
    return {"n": 1}


@gated.task(
    parents=[start],
    wait_for=[UserEventCondition(event_key="gate:open", expression="input.by == 'test'")],
)
def target(input: EmptyModel, ctx: Context) -> dict[str, str]:
    return {"ran": "yes"}


@hatchet.durable_task(name="durable-gate", execution_timeout=120)
async def durable_gate(input: EmptyModel, ctx: DurableContext) -> dict[str, Any]:
    return await ctx.aio_wait_for("gate", UserEventCondition(event_key="gate:durable"))


worker = hatchet.worker("condition-worker", workflows=[gated, durable_gate])
