"""The shop's workflows, written against hatchet_sdk exactly as they run in production.

``checkout`` is a plain (non-durable) task: it holds its worker slot for its whole run,
including while it awaits its ``reserve-item`` children. That is fine on a worker with
slots to spare, and a deadlock on a worker with one slot.
"""

import asyncio
from typing import Any

from hatchet_sdk import Context, EmptyModel, Hatchet
from pydantic import BaseModel, Field

from shop import payments

hatchet = Hatchet()


class Item(BaseModel):
    sku: str


class Order(BaseModel):
    #: how many line items the cart holds; each is reserved by its own child run
    items: int = Field(default=2, ge=0, le=50)


reserve_item = hatchet.workflow(name="reserve-item", input_validator=Item)


@reserve_item.task(name="reserve")
def reserve(input: Item, ctx: Context) -> dict[str, str]:
    return {"reserved": input.sku}


@hatchet.task(name="charge-card", retries=3, backoff_factor=2.0, backoff_max_seconds=10)
async def charge_card(input: EmptyModel, ctx: Context) -> dict[str, Any]:
    return {"receipt": await payments.charge(), "attempt": ctx.attempt_number}


@hatchet.task(name="checkout", input_validator=Order)
async def checkout(input: Order, ctx: Context) -> dict[str, Any]:
    if input.items == 0:
        return {"reserved": [], "payment": None}
    reservations = [reserve_item.aio_run(Item(sku=f"sku-{n}")) for n in range(input.items)]
    reserved = await asyncio.gather(*reservations)
    payment = await charge_card.aio_run()
    return {"reserved": reserved, "payment": payment}
