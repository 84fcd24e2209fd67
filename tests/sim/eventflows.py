"""Workflows started by events, for the simulator's event arrivals."""

import asyncio

from pydantic import BaseModel

from flowsim import Context, Hatchet

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
