"""The engine end to end on a durable store: a parent task fans out to six children on a
worker with fewer slots than children, through the public SDK. The SQLite and Postgres
tests run this same scenario, so they differ only in how their store is opened."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from flowsim import Context, EmptyModel, Hatchet


class Item(BaseModel):
    i: int


async def run_parent_and_children(url: str, prefix: str) -> Hatchet:
    """Run the parent to completion on ``url`` (tasks named ``{prefix}-parent`` and
    ``{prefix}-child``), check its result, and return the client for further checks."""
    hatchet = Hatchet(url)

    @hatchet.task(name=f"{prefix}-child", input_validator=Item)
    async def child(input: Item, ctx: Context) -> dict[str, int]:
        return {"double": input.i * 2}

    @hatchet.task(name=f"{prefix}-parent")
    async def parent(input: EmptyModel, ctx: Context) -> dict[str, Any]:
        items = [child.create_bulk_run_item(Item(i=i)) for i in range(6)]
        results = await child.aio_run_many(items)
        return {"doubles": [r["double"] for r in results]}

    async with hatchet.worker(f"{prefix}-worker", slots=3, workflows=[parent, child]):
        result = await parent.aio_run()
    assert result == {"doubles": [0, 2, 4, 6, 8, 10]}
    return hatchet
