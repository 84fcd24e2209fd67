"""The seed's workflows, as its users wrote them: a parent task that fans out to two runs
of a child workflow with asyncio.gather and waits for them while holding its slot."""

import asyncio
from typing import Any

from pydantic import BaseModel

from flowsim import Context, EmptyModel, Hatchet

hatchet = Hatchet()


class SimpleInput(BaseModel):
    message: str


child_task = hatchet.workflow(name="first-task", input_validator=SimpleInput)


@child_task.task(name="step1")
def step1(input: SimpleInput, ctx: Context) -> dict[str, str]:
    return {"transformed_message": input.message.upper()}


@hatchet.task(name="parent")
async def parent(input: EmptyModel, ctx: Context) -> dict[str, Any]:
    result1 = child_task.aio_run(SimpleInput(message="Hello, World!"))
    result2 = child_task.aio_run(SimpleInput(message="Hello, Moon!"))
    results = await asyncio.gather(result1, result2)
    return {"results": results}
