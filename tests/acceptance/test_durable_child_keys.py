"""Mirrors sdks/python/examples/bug_tests/durable_child_key_duplicate_child (worker.py,
test_durable_child_key_duped_child.py) of hatchet-dev/hatchet.

The example: a durable task spawns a child three times; each spawn's ``child_key`` is the
same unless the scenario makes the second or the third unique. Its tests wait for the
parent, list its children with ``hatchet.runs.aio_list(parent_task_external_id=<the
parent's workflow run id>)`` and assert one child when every key is the same, two when
one key is unique, all COMPLETED and distinct."""

import uuid
from types import ModuleType
from typing import Any, Literal

import pytest
from pydantic import BaseModel

from flowsim import Hatchet


class Input(BaseModel):
    scenario: Literal["third_unique", "second_unique", "all_duped"]


def define(hatchet: Hatchet) -> tuple[Any, Any]:
    from hatchet_sdk import Context, DurableContext, EmptyModel

    @hatchet.task()
    async def child_child_key_bug(_i: EmptyModel, ctx: Context) -> dict[str, str]:
        return {"id": ctx.workflow_run_id}

    @hatchet.durable_task(input_validator=Input)
    async def durable_parent_child_key_bug(input: Input, ctx: DurableContext) -> dict[str, str]:
        for i in range(1, 4):
            child_key = ctx.workflow_run_id + "-child"
            if input.scenario == "third_unique" and i == 3:
                child_key += str(uuid.uuid4())
            if input.scenario == "second_unique" and i == 2:
                child_key += str(uuid.uuid4())
            await child_child_key_bug.aio_run(child_key=child_key)
        return {"result": "Hello, world!"}

    return child_child_key_bug, durable_parent_child_key_bug


@pytest.mark.parametrize(
    ("scenario", "children"), [("all_duped", 1), ("second_unique", 2), ("third_unique", 2)]
)
async def test_a_repeated_child_key_spawns_one_child(
    hatchet_sdk: ModuleType, hatchet: Hatchet, scenario: str, children: int
) -> None:
    from hatchet_sdk import V1TaskStatus

    child, parent = define(hatchet)
    async with hatchet.worker("child-key-worker", workflows=[child, parent]):
        res = await parent.aio_run(input=Input(scenario=scenario), wait_for_result=False)
        run_id = res.workflow_run_id
        await res.aio_result()

    runs = await hatchet.runs.aio_list(parent_task_external_id=run_id)
    assert len(runs.rows) == children
    assert all(run.status == V1TaskStatus.COMPLETED for run in runs.rows)
    assert len({run.workflow_run_external_id for run in runs.rows}) == children
