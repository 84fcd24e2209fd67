"""Small apps written into a test's tmp_path, one shape of problem each."""

from pathlib import Path

HEADER = """\
import asyncio
from pydantic import BaseModel
from flowsim import Context, DurableContext, EmptyModel, Hatchet

hatchet = Hatchet()


class Msg(BaseModel):
    message: str = "hi"


child = hatchet.workflow(name="child", input_validator=Msg)


@child.task()
def step1(input: Msg, ctx: Context) -> dict[str, str]:
    return {"message": input.message.upper()}
"""

#: the seed's shape with a declared worker: a parent awaiting two children on one worker
SEED_WITH_WORKER = (
    HEADER
    + """

@hatchet.task(name="parent")
async def parent(input: EmptyModel, ctx: Context) -> dict:
    results = await asyncio.gather(child.aio_run(Msg()), child.aio_run(Msg()))
    return {"results": results}


worker = hatchet.worker("test-worker", slots={slots}, workflows=[child, parent])
"""
)

#: the parent's worker does not register the child
UNREGISTERED_CHILD = (
    HEADER
    + """

@hatchet.task(name="parent")
async def parent(input: EmptyModel, ctx: Context) -> dict:
    return {"result": await child.aio_run(Msg())}


worker = hatchet.worker("parents-only", slots=4, workflows=[parent])
"""
)

#: ping spawns pong spawns ping; and a workflow that spawns itself
SPAWN_CYCLE = """\
from flowsim import Context, EmptyModel, Hatchet

hatchet = Hatchet()


@hatchet.task(name="ping")
async def ping(input: EmptyModel, ctx: Context) -> dict:
    return await pong.aio_run()


@hatchet.task(name="pong")
async def pong(input: EmptyModel, ctx: Context) -> dict:
    return await ping.aio_run()


@hatchet.task(name="echo")
async def echo(input: EmptyModel, ctx: Context) -> dict:
    return await echo.aio_run()
"""

#: spawns the code shows but no default run reaches (a branch), spawns only a run shows
#: (through a dict), and a spawn through a helper function
HIDDEN_SPAWNS = (
    HEADER
    + """

class Flags(BaseModel):
    deep: bool = False


other = hatchet.workflow(name="other")


@other.task()
def other_step(input: EmptyModel, ctx: Context) -> dict:
    return {"ok": 1}


REGISTRY = {"child": child}


def start_other():
    return other.aio_run()


@hatchet.task(name="branchy", input_validator=Flags)
async def branchy(input: Flags, ctx: Context) -> dict:
    if input.deep:
        await child.aio_run(Msg())
    return {}


@hatchet.task(name="dynamic")
async def dynamic(input: EmptyModel, ctx: Context) -> dict:
    return await REGISTRY["child"].aio_run(Msg())


@hatchet.task(name="helped")
async def helped(input: EmptyModel, ctx: Context) -> dict:
    return await start_other()
"""
)

#: a durable parent, and a parent that starts children without waiting for them
NON_HOLDING = (
    HEADER
    + """

@hatchet.durable_task(name="durable-parent")
async def durable_parent(input: EmptyModel, ctx: DurableContext) -> dict:
    return {"r": await child.aio_run(Msg())}


@hatchet.task(name="fire-and-forget")
async def fire_and_forget(input: EmptyModel, ctx: Context) -> dict:
    await child.aio_run(Msg(), wait_for_result=False)
    return {}
"""
)


def write(tmp_path: Path, name: str, source: str) -> Path:
    path = tmp_path / f"{name}.py"
    path.write_text(source)
    return path
