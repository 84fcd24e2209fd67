"""Mirrors sdks/python/examples/sticky_workers (worker.py, event.py) of hatchet-dev/hatchet.

The example: ``StickyWorkflow`` (``sticky=StickyStrategy.SOFT``) has two root tasks that
return ``ctx.worker.id()`` and a third, after both, that runs ``StickyChildWorkflow``
(also SOFT) with ``TriggerWorkflowOptions(sticky=True)`` and returns its own worker id.
It has no e2e test; the guide's promise is what we assert: every task of the run, and the
child triggered sticky, runs on the worker that took the first task, even with another
worker free to take them. The HARD variant is held to the same, and with its worker gone a
HARD task waits (Hatchet: "until the original worker becomes available or timeout is
reached"), which one process reports at once, naming the pin.
"""

import asyncio
from types import ModuleType
from typing import Any

import pytest

from flowsim import Hatchet, UnknownWorkflowError


def define(hatchet: Hatchet, strategy: str = "SOFT") -> tuple[Any, Any]:
    from hatchet_sdk import Context, EmptyModel, StickyStrategy, TriggerWorkflowOptions

    sticky = StickyStrategy(strategy)
    sticky_workflow = hatchet.workflow(name="StickyWorkflow", sticky=sticky)

    @sticky_workflow.task()
    def step1a(input: EmptyModel, ctx: Context) -> dict[str, str | None]:
        return {"worker": ctx.worker.id()}

    @sticky_workflow.task()
    def step1b(input: EmptyModel, ctx: Context) -> dict[str, str | None]:
        return {"worker": ctx.worker.id()}

    sticky_child_workflow = hatchet.workflow(name="StickyChildWorkflow", sticky=sticky)

    @sticky_workflow.task(parents=[step1a, step1b])
    async def step2(input: EmptyModel, ctx: Context) -> dict[str, str | None]:
        ref = await sticky_child_workflow.aio_run(
            options=TriggerWorkflowOptions(sticky=True), wait_for_result=False
        )
        child = await ref.aio_result()
        return {"worker": ctx.worker.id(), "child": child["child"]["worker"]}

    @sticky_child_workflow.task()
    def child(input: EmptyModel, ctx: Context) -> dict[str, str | None]:
        return {"worker": ctx.worker.id()}

    return sticky_workflow, sticky_child_workflow


@pytest.mark.parametrize("strategy", ["SOFT", "HARD"])
async def test_every_task_and_the_sticky_child_run_on_the_first_tasks_worker(
    hatchet_sdk: ModuleType, hatchet: Hatchet, strategy: str
) -> None:
    workflows = list(define(hatchet, strategy))
    first = hatchet.worker("sticky-worker", slots=10, workflows=workflows)
    second = hatchet.worker("other-worker", slots=10, workflows=workflows)
    async with first, second:
        results = [await workflows[0].aio_run() for _ in range(3)]
    for result in results:
        pinned = result["step1a"]["worker"]
        assert result["step1b"]["worker"] == pinned
        assert result["step2"] == {"worker": pinned, "child": pinned}


async def test_a_child_triggered_sticky_must_declare_a_strategy(
    hatchet_sdk: ModuleType, hatchet: Hatchet
) -> None:
    from hatchet_sdk import Context, EmptyModel, FailedTaskRunExceptionGroup, TriggerWorkflowOptions

    plain = hatchet.workflow(name="PlainChild")
    plain.task()(lambda input, ctx: None)

    @hatchet.task(name="Spawner")
    async def spawner(input: EmptyModel, ctx: Context) -> None:
        await plain.aio_run(options=TriggerWorkflowOptions(sticky=True))

    async with hatchet.worker("w", slots=2, workflows=[spawner, plain]):
        with pytest.raises(FailedTaskRunExceptionGroup, match="no sticky strategy"):
            await spawner.aio_run()


async def test_hard_sticky_keeps_each_run_on_one_worker_when_load_spreads_runs(
    hatchet_sdk: ModuleType, hatchet: Hatchet
) -> None:
    """Six runs of two roots and a join on two 3-slot workers: without stickiness the
    second run's roots would be split between the workers (3 slots each)."""
    from hatchet_sdk import Context, EmptyModel, StickyStrategy

    together = hatchet.workflow(name="Together", sticky=StickyStrategy.HARD)

    @together.task()
    def left(input: EmptyModel, ctx: Context) -> dict[str, str]:
        return {"worker": ctx.worker_id}

    @together.task()
    def right(input: EmptyModel, ctx: Context) -> dict[str, str]:
        return {"worker": ctx.worker_id}

    @together.task(parents=[left, right])
    def join(input: EmptyModel, ctx: Context) -> dict[str, str]:
        return {"worker": ctx.worker_id}

    one = hatchet.worker("one", slots=3, workflows=[together])
    two = hatchet.worker("two", slots=3, workflows=[together])
    async with one, two:
        results = await together.aio_run_many([together.create_bulk_run_item() for _ in range(6)])
    for result in results:
        assert len({task["worker"] for task in result.values()}) == 1, result
    assert len({result["left"]["worker"] for result in results}) == 2  # the load did spread


async def test_a_hard_sticky_task_whose_worker_is_gone_never_runs_elsewhere(
    hatchet_sdk: ModuleType, hatchet: Hatchet, flowsim_base_url: str
) -> None:
    from hatchet_sdk import Context, EmptyModel, StickyStrategy

    if not flowsim_base_url.startswith("memory"):
        pytest.skip(
            "a shared store cannot know the worker will not come back: the task waits for its "
            "schedule timeout (the contract suite holds every store to that)"
        )
    started, release = asyncio.Event(), asyncio.Event()
    pinned = hatchet.workflow(name="Pinned", sticky=StickyStrategy.HARD)

    @pinned.task()
    async def first(input: EmptyModel, ctx: Context) -> dict[str, str]:
        started.set()
        await release.wait()
        return {"worker": ctx.worker_id}

    @pinned.task(parents=[first])
    def second(input: EmptyModel, ctx: Context) -> dict[str, str]:
        return {"worker": ctx.worker_id}

    gone = hatchet.worker("gone", slots=1, workflows=[pinned])
    stays = hatchet.worker("stays", slots=1, workflows=[pinned])
    async with gone:
        ref = await pinned.aio_run(wait_for_result=False)
        await started.wait()  # the first task runs on "gone": the run is pinned there
        async with stays:
            stopping = asyncio.create_task(gone.aio_stop())  # drains: claims nothing more
            release.set()
            await stopping
            with pytest.raises(UnknownWorkflowError, match="HARD sticky to worker") as info:
                await ref.aio_result()
    assert "stays has no labels" in str(info.value)
    assert hatchet.runs.view(ref.workflow_run_id).tasks["second"].status.value == "QUEUED"
