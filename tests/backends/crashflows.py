"""Workflows for the crash tests: a parent fans out to children that take a while, so a
worker killed at a random instant is usually in the middle of some of them."""

import asyncio
import random
from typing import Any

from pydantic import BaseModel

from flowsim import Context, Hatchet

hatchet = Hatchet()


class Fan(BaseModel):
    tag: int
    n: int


class Item(BaseModel):
    tag: int
    index: int


@hatchet.task(name="crash-child", input_validator=Item, execution_timeout=120,
              schedule_timeout=600)  # fmt: skip
async def child(input: Item, ctx: Context) -> dict[str, Any]:
    await asyncio.sleep(random.uniform(0.02, 0.12))
    return {"value": input.tag * 100_000 + input.index, "run": ctx.workflow_run_id}


@hatchet.task(name="crash-parent", input_validator=Fan, execution_timeout=600,
              schedule_timeout=600)  # fmt: skip
async def parent(input: Fan, ctx: Context) -> dict[str, Any]:
    items = [child.create_bulk_run_item(Item(tag=input.tag, index=i)) for i in range(input.n)]
    results = await child.aio_run_many(items)
    return {
        "sum": sum(r["value"] for r in results),
        "children": [r["run"] for r in results],
    }


worker = hatchet.worker("crash-worker", slots=6, workflows=[parent, child])
