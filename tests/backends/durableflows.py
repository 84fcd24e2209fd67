"""A worker process for the durable crash test: a durable parent spawns a child, then
sleeps. Both append a line to a file each time their body runs, so the test (another
process) sees how often each ran and when the sleep began."""

import time
from datetime import timedelta
from pathlib import Path
from typing import Any

from pydantic import BaseModel

from flowsim import Context, DurableContext, Hatchet

hatchet = Hatchet()


class Plan(BaseModel):
    path: str
    sleep: float


def _append(path: str, line: str) -> None:
    with Path(path).open("a") as file:  # tiny and local: not worth a thread hop
        file.write(line + "\n")


@hatchet.task(name="durable-crash-child", input_validator=Plan, execution_timeout=60)
def crash_child(input: Plan, ctx: Context) -> dict[str, str]:
    _append(input.path + ".child", ctx.workflow_run_id)
    return {"child": ctx.workflow_run_id}


@hatchet.durable_task(name="durable-crash-parent", input_validator=Plan, execution_timeout=120)
async def crash_parent(input: Plan, ctx: DurableContext) -> dict[str, Any]:
    child = await crash_child.aio_run(input)
    _append(input.path + ".sleeping", repr(time.time()))
    await ctx.aio_sleep_for(timedelta(seconds=input.sleep))
    return {"child": child, "woke_at": time.time()}


worker = hatchet.worker("durable-crash-worker", slots=2, workflows=[crash_parent, crash_child])
