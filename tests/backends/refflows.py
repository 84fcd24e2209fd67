"""A run created in a worker process and waited on by id in the test process: the parent
starts its child without waiting and returns the child's run id. And a task reporting what
its context says of a run the test process created (the worker knows it from its claim),
and of its worker's lifespan. And a task streaming to a subscriber in the test process, and
one failing its first attempt, for a replay from the test process."""

import asyncio
import os
from collections.abc import AsyncGenerator

from pydantic import BaseModel

from flowsim import Context, EmptyModel, Hatchet
from tests.helpers import trigger_facts

hatchet = Hatchet()


class Count(BaseModel):
    upto: int


@hatchet.task(name="ref-counter", input_validator=Count)
async def counter(input: Count, ctx: Context) -> dict[str, int]:
    await asyncio.sleep(0.5)  # still running when the test process asks for it
    return {"total": sum(range(input.upto + 1))}


@hatchet.task(name="ref-starter")
async def starter(input: EmptyModel, ctx: Context) -> dict[str, str]:
    ref = await counter.aio_run(Count(upto=10), wait_for_result=False)
    return {"child": ref.workflow_run_id}


@hatchet.task(name="ref-facts", on_events=["ref:*"])
async def facts(input: EmptyModel, ctx: Context) -> dict[str, object]:
    return {"priority": ctx.priority, "lifespan": ctx.lifespan, **trigger_facts(ctx)}


#: pings the streamer puts, 50 ms apart: a subscriber that starts listening when it
#: triggers the run hears most of them, however long the worker takes to claim it
PINGS = 40


@hatchet.task(name="ref-streamer")
async def streamer(input: EmptyModel, ctx: Context) -> dict[str, int]:
    for index in range(PINGS):
        await ctx.aio_put_stream(f"ping {index}")
        await asyncio.sleep(0.05)
    await ctx.aio_put_stream("done")
    return {"pings": PINGS}


async def lifespan() -> AsyncGenerator[str, None]:
    print("lifespan started", flush=True)
    yield "made by the worker process's lifespan"
    print("lifespan stopped", flush=True)


@hatchet.task(name="ref-flaky")
async def flaky(input: EmptyModel, ctx: Context) -> dict[str, int]:
    """Fails its first attempt: replayed from the test process, it completes."""
    if ctx.retry_count == 0:
        raise RuntimeError("first attempt")
    return {"retry_count": ctx.retry_count, "pid": os.getpid()}


@hatchet.task(name="ref-fan-in")
async def fan_in(input: EmptyModel, ctx: Context) -> dict[str, int]:
    """Awaits two children, one failing its first attempt: it fails with it, and both
    replayed, it completes (it re-attaches to the children it spawned)."""
    results = await flaky.aio_run_many([flaky.create_bulk_run_item(key=key) for key in "ab"])
    return {"children": len(results)}


guarded = hatchet.workflow(name="ref-guarded")


@guarded.task()
async def risky(input: EmptyModel, ctx: Context) -> dict[str, int]:
    """Fails its first attempt; the on-failure task below then undoes it."""
    if ctx.retry_count == 0:
        raise RuntimeError("first attempt")
    return {"retry_count": ctx.retry_count}


@guarded.on_failure_task()
async def undo(input: EmptyModel, ctx: Context) -> dict[str, int]:
    return {"undone_at_retry": ctx.retry_count}


worker = hatchet.worker("ref-worker", slots=4,
                        workflows=[counter, starter, facts, streamer, flaky, fan_in,
                                   guarded])  # fmt: skip
with_lifespan = hatchet.worker("ref-lifespan-worker", slots=1, workflows=[facts],
                               lifespan=lifespan)  # fmt: skip
