# Fan-out parents over the seed's child workflow, in the two styles users write.
import asyncio
from typing import Any

from pydantic import BaseModel

from flowsim import Context, Hatchet
from tests.seed.child import SimpleInput, child_task

hatchet = Hatchet()


class FanoutInput(BaseModel):
    n: int


@hatchet.task(name="fanout-gather")
async def fanout_gather(input: FanoutInput, ctx: Context) -> dict[str, Any]:
    runs = [child_task.aio_run(SimpleInput(message=f"msg {i}")) for i in range(input.n)]
    return {"results": await asyncio.gather(*runs)}


@hatchet.task(name="fanout-many")
async def fanout_many(input: FanoutInput, ctx: Context) -> dict[str, Any]:
    items = [
        child_task.create_bulk_run_item(input=SimpleInput(message=f"msg {i}"), key=f"child{i}")
        for i in range(input.n)
    ]
    return {"results": await child_task.aio_run_many(items)}
