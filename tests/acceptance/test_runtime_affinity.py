"""Mirrors sdks/python/examples/runtime_affinity (worker.py, test_runtime_affinity.py,
trigger.py) of hatchet-dev/hatchet.

The example: a task with no labels of its own, served by workers labelled
``affinity=<label>``; each run is triggered with
``TriggerWorkflowOptions(desired_worker_label=[DesiredWorkerLabel(key="affinity",
value=target, required=True)])`` and its test asserts, 20 times, that the run's
``worker_id`` is the target worker's (here: the worker whose label the task reads, one
worker id per label). Its trigger script does the same in bulk with
``create_bulk_run_item(desired_worker_labels=[...])``."""

import random
from types import ModuleType
from typing import Any

from flowsim import Hatchet


def define(hatchet: Hatchet) -> Any:
    from hatchet_sdk import Context, EmptyModel

    @hatchet.task(name="runtime-affinity-task")
    async def affinity_task(input: EmptyModel, ctx: Context) -> dict[str, Any]:
        return {"worker_id": ctx.worker_id, "affinity": ctx.worker_labels["affinity"]}

    return affinity_task


def _target(label: str) -> list[Any]:
    from hatchet_sdk import DesiredWorkerLabel

    return [DesiredWorkerLabel(key="affinity", value=label, required=True)]


async def test_each_run_lands_on_the_worker_its_trigger_asked_for(
    hatchet_sdk: ModuleType, hatchet: Hatchet
) -> None:
    from hatchet_sdk import TriggerWorkflowOptions

    task = define(hatchet)
    workers = {label: hatchet.worker(f"worker-{label}", slots=5, workflows=[task],
                                     labels={"affinity": label})
               for label in ("a", "b")}  # fmt: skip
    choices = random.Random(7).choices("ab", k=20)
    async with workers["a"], workers["b"]:
        one_by_one = []
        for target in choices:
            options = TriggerWorkflowOptions(desired_worker_label=_target(target))
            one_by_one.append(await task.aio_run(options=options))
        items = [task.create_bulk_run_item(desired_worker_labels=_target(t)) for t in choices]
        in_bulk = await task.aio_run_many(items)
    for results in (one_by_one, in_bulk):
        assert [r["affinity"] for r in results] == choices
        ids = {label: {r["worker_id"] for r in results if r["affinity"] == label} for label in "ab"}
        assert len(ids["a"]) == len(ids["b"]) == 1 and ids["a"] != ids["b"]
