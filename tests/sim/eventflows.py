"""Workflows started by events, or waiting for them, for the simulator's event arrivals."""

import asyncio
from datetime import timedelta
from typing import Any

from pydantic import BaseModel

from flowsim import Context, DefaultFilter, Hatchet, SleepCondition, UserEventCondition, or_

hatchet = Hatchet()


class Order(BaseModel):
    id: int


@hatchet.task(name="ship", input_validator=Order, on_events=["order:paid"])
async def ship(input: Order, ctx: Context) -> dict[str, int]:
    await asyncio.sleep(10)
    return {"shipped": input.id}


@hatchet.task(name="audit", input_validator=Order, on_events=["order:*"])
async def audit(input: Order, ctx: Context) -> dict[str, int]:
    await asyncio.sleep(1)
    return {"audited": input.id}


approval = hatchet.workflow(name="approval")


@approval.task()
async def request(input: Order, ctx: Context) -> dict[str, int]:
    return {"requested": 1}


@approval.task(
    parents=[request],
    wait_for=[
        or_(
            SleepCondition(timedelta(hours=1)),
            UserEventCondition("approval:granted", expression="input.id == 7"),
        )
    ],
)
async def approve(input: Order, ctx: Context) -> dict[str, int]:
    return {"approved": input.id}


@hatchet.task(
    name="vip",
    input_validator=Order,
    on_events=["order:paid"],
    default_filters=[
        DefaultFilter(expression="input.id > 100", scope="shop", payload={"tier": "gold"})
    ],
)
async def vip(input: Order, ctx: Context) -> dict[str, Any]:
    return {"filter": ctx.filter_payload}
