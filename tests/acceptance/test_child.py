"""Mirrors sdks/python/examples/child (worker.py, bulk.py, simple-fanout.py) of
hatchet-dev/hatchet.

The example: a one-task child workflow that upper-cases a message into a pydantic output,
run on its own (``run``), in bulk (``aio_run_many`` over ``create_bulk_run_item`` items,
results in item order) and several at once (``asyncio.gather`` of ``aio_run``), and spawned
from a parent task. It has no e2e test file; its scripts print the results, so we assert
those: one result per greeting, in order, each the upper-cased message."""

import asyncio
from types import ModuleType
from typing import Any

from pydantic import BaseModel

from flowsim import Hatchet

GREETINGS = ["Hello, World!", "Hello, Moon!", "Hello, Mars!"]


class Greeting(BaseModel):
    message: str


class Shouted(BaseModel):
    transformed_message: str


def define(hatchet: Hatchet) -> Any:
    from hatchet_sdk import Context

    shout_wf = hatchet.workflow(name="ShoutWorkflow", input_validator=Greeting)

    @shout_wf.task(name="step1")
    def step1(input: Greeting, ctx: Context) -> Shouted:
        return Shouted(transformed_message=input.message.upper())

    return shout_wf


def test_a_child_workflow_runs_alone_and_returns_its_tasks_output(
    hatchet_sdk: ModuleType, hatchet: Hatchet
) -> None:
    shout_wf = define(hatchet)
    with hatchet.worker("test-worker", slots=1, workflows=[shout_wf]):
        result = shout_wf.run(Greeting(message="Hello, World!"))
    assert result == {"step1": {"transformed_message": "HELLO, WORLD!"}}


async def test_bulk_and_gathered_runs_return_results_in_order(
    hatchet_sdk: ModuleType, hatchet: Hatchet
) -> None:
    shout_wf = define(hatchet)
    async with hatchet.worker("test-worker", slots=1, workflows=[shout_wf]):
        bulk = await shout_wf.aio_run_many(
            [shout_wf.create_bulk_run_item(input=Greeting(message=g)) for g in GREETINGS]
        )
        gathered = await asyncio.gather(
            shout_wf.aio_run(Greeting(message=GREETINGS[0])),
            shout_wf.aio_run(Greeting(message=GREETINGS[1])),
        )
    assert [r["step1"]["transformed_message"] for r in bulk] == [g.upper() for g in GREETINGS]
    assert [r["step1"]["transformed_message"] for r in gathered] == [
        "HELLO, WORLD!",
        "HELLO, MOON!",
    ]


def test_a_parent_spawns_the_child_workflows_and_gathers_them(
    hatchet_sdk: ModuleType, hatchet: Hatchet
) -> None:
    from hatchet_sdk import Context, EmptyModel

    shout_wf = define(hatchet)

    @hatchet.task(name="SpawnGreetings")
    async def spawn_greetings(input: EmptyModel, ctx: Context) -> dict[str, Any]:
        results = await asyncio.gather(*(shout_wf.aio_run(Greeting(message=g)) for g in GREETINGS))
        return {"messages": [r["step1"]["transformed_message"] for r in results]}

    with hatchet.worker("test-worker", slots=4, workflows=[shout_wf, spawn_greetings]):
        assert spawn_greetings.run() == {"messages": [g.upper() for g in GREETINGS]}
