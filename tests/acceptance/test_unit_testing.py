"""Mirrors sdks/python/examples/unit_testing (workflows.py, test_unit.py) of
hatchet-dev/hatchet.

The example: twelve tasks (sync and async; plain and durable; standalone, in a one-level
workflow, and downstream of a parent in a DAG) that return their input, metadata and retry
count, each unit-tested with ``mock_run`` / ``aio_mock_run`` (picked by
``is_async_function``) given input, metadata, a lifespan, a retry count and the parent's
output, and nothing else: no engine, no worker. Its test asserts that every task returns the
expected output. Its test module annotates with ``Task[UnitTestInput, UnitTestOutput]``,
evaluated when the function is defined, which flowsim's one-parameter ``Task`` takes too.
The sync durable tasks (deprecated in hatchet_sdk, still run there) also run on a worker."""

import warnings
from types import ModuleType
from typing import Any

import pytest
from pydantic import BaseModel

from flowsim import Hatchet


class UnitTestInput(BaseModel):
    key: str
    number: int


class UnitTestOutput(UnitTestInput):
    additional_metadata: dict[str, str]
    retry_count: int


class Lifespan(BaseModel):
    mock_db_url: str


NAMES = [
    "sync_standalone", "async_standalone", "durable_sync_standalone",
    "durable_async_standalone", "sync_simple_workflow", "async_simple_workflow",
    "durable_sync_simple_workflow", "durable_async_simple_workflow", "sync_complex_workflow",
    "async_complex_workflow", "durable_sync_complex_workflow", "durable_async_complex_workflow",
]  # fmt: skip


def define(hatchet: Hatchet) -> dict[str, Any]:
    """The example's twelve tasks by name, and ``start`` (the DAG's parent)."""
    from hatchet_sdk import Context, DurableContext

    def echo(input: UnitTestInput, ctx: Context) -> UnitTestOutput:
        return UnitTestOutput(
            key=input.key, number=input.number,
            additional_metadata=ctx.additional_metadata, retry_count=ctx.retry_count,
        )  # fmt: skip

    async def aio_echo(input: UnitTestInput, ctx: Context) -> UnitTestOutput:
        return echo(input, ctx)

    tasks: dict[str, Any] = {}
    with warnings.catch_warnings():  # sync durable tasks: deprecated, as in hatchet_sdk
        warnings.simplefilter("ignore", DeprecationWarning)
        for kind, fn in (("sync", echo), ("async", aio_echo)):
            task = hatchet.task(name=f"{kind}_standalone", input_validator=UnitTestInput)
            durable = hatchet.durable_task(
                name=f"durable_{kind}_standalone", input_validator=UnitTestInput
            )
            tasks[f"{kind}_standalone"] = task(fn)
            tasks[f"durable_{kind}_standalone"] = durable(fn)

        simple = hatchet.workflow(name="simple-unit-test-workflow", input_validator=UnitTestInput)
        for kind, fn in (("sync", echo), ("async", aio_echo)):
            tasks[f"{kind}_simple_workflow"] = simple.task(name=f"{kind}_simple_workflow")(fn)
            tasks[f"durable_{kind}_simple_workflow"] = simple.durable_task(
                name=f"durable_{kind}_simple_workflow"
            )(fn)

        complex_ = hatchet.workflow(
            name="complex-unit-test-workflow", input_validator=UnitTestInput
        )
        start = complex_.task(name="start")(aio_echo)

        def parents_output(input: UnitTestInput, ctx: DurableContext) -> UnitTestOutput:
            output: UnitTestOutput = ctx.task_output(start)
            return output

        async def aio_parents_output(input: UnitTestInput, ctx: DurableContext) -> UnitTestOutput:
            return parents_output(input, ctx)

        for kind, fn in (("sync", parents_output), ("async", aio_parents_output)):
            name = f"{kind}_complex_workflow"
            tasks[name] = complex_.task(name=name, parents=[start])(fn)
            tasks[f"durable_{name}"] = complex_.durable_task(
                name=f"durable_{name}", parents=[start]
            )(fn)
    tasks["start"] = start
    return tasks


@pytest.mark.parametrize("name", NAMES)
async def test_every_task_returns_what_its_mocked_run_was_given(
    hatchet_sdk: ModuleType, hatchet: Hatchet, name: str
) -> None:
    from hatchet_sdk import Task

    tasks = define(hatchet)

    # the example's signature, evaluated now: hatchet_sdk's two type parameters
    async def run_mocked(func: Task[UnitTestInput, UnitTestOutput]) -> UnitTestOutput:
        with warnings.catch_warnings():  # Task.is_async_function is deprecated there too
            warnings.simplefilter("ignore", DeprecationWarning)
            is_async = func.is_async_function
        arguments: dict[str, Any] = {
            "input": UnitTestInput(key="test_key", number=42),
            "additional_metadata": {"meta_key": "meta_value"},
            "lifespan": Lifespan(mock_db_url="sqlite:///:memory:"),
            "retry_count": 1,
            "parent_outputs": {tasks["start"].name: expected.model_dump()},
        }
        if is_async:
            result: UnitTestOutput = await func.aio_mock_run(**arguments)
        else:
            result = func.mock_run(**arguments)
        return result

    expected = UnitTestOutput(
        key="test_key", number=42, additional_metadata={"meta_key": "meta_value"}, retry_count=1
    )
    assert await run_mocked(tasks[name]) == expected


async def test_the_sync_durable_tasks_run_on_a_worker_too(
    hatchet_sdk: ModuleType, hatchet: Hatchet
) -> None:
    tasks = define(hatchet)
    standalone = tasks["durable_sync_standalone"]
    workflow = tasks["durable_sync_complex_workflow"].workflow
    async with hatchet.worker("unit", slots=2, durable_slots=2, workflows=[standalone, workflow]):
        alone = await standalone.aio_run(
            UnitTestInput(key="k", number=1),
            options=hatchet_sdk.TriggerWorkflowOptions(additional_metadata={"m": "v"}),
        )
        dag = await workflow.aio_run(UnitTestInput(key="k", number=2))
    assert alone == UnitTestOutput(key="k", number=1, additional_metadata={"m": "v"}, retry_count=0)
    start = {"key": "k", "number": 2, "additional_metadata": {}, "retry_count": 0}
    assert dag == {
        "start": start, "sync_complex_workflow": start, "async_complex_workflow": start,
        "durable_sync_complex_workflow": start, "durable_async_complex_workflow": start,
    }  # fmt: skip
