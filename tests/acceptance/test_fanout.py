"""Mirrors sdks/python/examples/fanout (worker.py, test_fanout.py) of hatchet-dev/hatchet.

The example: a parent workflow whose one task spawns ``n`` runs of a two-task child
workflow (the second task reads the first's output through ``ctx.task_output``) with
``aio_run_many`` over ``create_bulk_run_item`` items carrying metadata and a key, and
returns ``{"results": [...]}``. Its e2e test runs the parent with ``n=2`` and asserts
``len(result["spawn"]["results"]) == 2``. We assert that, and the children's outputs in
order and the metadata they received."""

from datetime import timedelta
from types import ModuleType
from typing import Any

from pydantic import BaseModel

from flowsim import Hatchet


class Fan(BaseModel):
    n: int = 100


class Leaf(BaseModel):
    label: str


def test_parent_spawns_n_children_and_collects_their_results(
    hatchet_sdk: ModuleType, hatchet: Hatchet
) -> None:
    from hatchet_sdk import Context, TriggerWorkflowOptions

    fan_parent = hatchet.workflow(name="FanParent", input_validator=Fan)
    fan_child = hatchet.workflow(name="FanChild", input_validator=Leaf)
    seen_metadata: list[dict[str, Any]] = []

    @fan_parent.task(execution_timeout=timedelta(minutes=5))
    async def spawn(input: Fan, ctx: Context) -> dict[str, Any]:
        items = [
            fan_child.create_bulk_run_item(
                input=Leaf(label=str(i)),
                options=TriggerWorkflowOptions(
                    additional_metadata={"origin": "fan"}, key=f"leaf{i}"
                ),
            )
            for i in range(input.n)
        ]
        return {"results": await fan_child.aio_run_many(items)}

    @fan_child.task()
    async def first(input: Leaf, ctx: Context) -> dict[str, str]:
        seen_metadata.append(ctx.additional_metadata)
        return {"status": input.label}

    @fan_child.task(parents=[first])
    async def second(input: Leaf, ctx: Context) -> dict[str, str]:
        return {"status2": ctx.task_output(first)["status"] + "2"}

    with hatchet.worker("fanout-worker", slots=40, workflows=[fan_parent, fan_child]):
        result = fan_parent.run(Fan(n=2))

    assert len(result["spawn"]["results"]) == 2
    assert result["spawn"]["results"] == [
        {"first": {"status": str(i)}, "second": {"status2": f"{i}2"}} for i in range(2)
    ]
    assert all(metadata.get("origin") == "fan" for metadata in seen_metadata)
    assert len(seen_metadata) == 2
