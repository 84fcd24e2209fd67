"""Mirrors sdks/python/examples/affinity_workers (worker.py, trigger.py) of hatchet-dev/hatchet.

The example: ``AffinityWorkflow``'s one task desires ``model == "fancy-ai-model-v2"`` (a
preference, weight 10) and requires ``memory LESS_THAN 256``; it checks ``ctx.worker``'s
labels, upserts ``model`` if it differs, and returns ``ctx.worker.id()``. Its worker is
labelled ``model="fancy-ai-model-v2", memory=512``. The example has no e2e test; its
trigger runs the workflow. We assert what Hatchet's scheduler does with it: the required
label is compared as ``worker_value < 256`` (its ``computeWeight``), so a worker labelled
512 never gets the task, one labelled 128 does, and among eligible workers with free slots
the one matching the preferred model wins. The example's own worker (512) alone can never
run the task: flowsim says so with the label named rather than leaving the caller waiting.
"""

from types import ModuleType
from typing import Any

import pytest

from flowsim import Hatchet, UnknownWorkflowError

MODEL = "fancy-ai-model-v2"


def define(hatchet: Hatchet, schedule_timeout: str = "5m") -> Any:
    from hatchet_sdk import Context, EmptyModel, WorkerLabelComparator
    from hatchet_sdk.labels import DesiredWorkerLabel

    affinity_worker_workflow = hatchet.workflow(name="AffinityWorkflow")

    @affinity_worker_workflow.task(
        desired_worker_labels={
            "model": DesiredWorkerLabel(value=MODEL, weight=10),
            "memory": DesiredWorkerLabel(
                value=256, required=True, comparator=WorkerLabelComparator.LESS_THAN
            ),
        },
        schedule_timeout=schedule_timeout,
    )
    async def step(input: EmptyModel, ctx: Context) -> dict[str, Any]:
        if ctx.worker.labels().get("model") != MODEL:
            ctx.worker.upsert_labels({"model": "unset"})
            # the example evicts the old model and loads the new one here
            ctx.worker.upsert_labels({"model": MODEL})
        return {"worker": ctx.worker.id(), "labels": ctx.worker_labels}

    return affinity_worker_workflow


async def test_the_task_runs_only_where_its_required_label_holds_and_prefers_the_model(
    hatchet_sdk: ModuleType, hatchet: Hatchet
) -> None:
    workflow = define(hatchet)
    big = hatchet.worker("big-memory", slots=10, labels={"model": MODEL, "memory": 512},
                         workflows=[workflow])  # fmt: skip
    other_model = hatchet.worker("other-model", slots=10, labels={"model": "old", "memory": 64},
                                 workflows=[workflow])  # fmt: skip
    right = hatchet.worker("right-model", slots=10, labels={"model": MODEL, "memory": 128},
                           workflows=[workflow])  # fmt: skip
    async with big, other_model, right:
        results = await workflow.aio_run_many([workflow.create_bulk_run_item() for _ in range(5)])
        ids = {w.name: w._runtime.id for w in (big, other_model, right) if w._runtime}
    workers = {r["step"]["worker"] for r in results}
    assert workers == {ids["right-model"]}  # never 512 < 256; 128 matches the model too
    assert all(r["step"]["labels"] == {"model": MODEL, "memory": 128} for r in results)


async def test_a_worker_without_the_preferred_model_loads_it_when_it_is_the_only_one(
    hatchet_sdk: ModuleType, hatchet: Hatchet
) -> None:
    workflow = define(hatchet)
    loader = hatchet.worker("loader", slots=1, labels={"model": "old", "memory": 64},
                            workflows=[workflow])  # fmt: skip
    async with loader:
        result = await workflow.aio_run()
    # the example's upsert: the worker's labels now name the model it loaded
    assert result["step"]["labels"] == {"model": MODEL, "memory": 64}


async def test_with_only_the_examples_worker_the_run_never_starts_and_is_cancelled(
    hatchet_sdk: ModuleType, hatchet: Hatchet, flowsim_base_url: str
) -> None:
    """Hatchet keeps a task no worker satisfies pending until its schedule timeout. One
    process (memory://) knows every worker, so the wait is reported at once, naming the
    label; on a shared store another process may still start a matching worker, so the
    run waits, and its schedule timeout (shortened here) cancels it: ``aio_run`` returns
    no output (a cancelled task carries no error), the stored task says why."""
    workflow = define(hatchet, schedule_timeout="1s")
    examples_worker = hatchet.worker("affinity-worker", slots=10,
                                     labels={"model": MODEL, "memory": 512},
                                     workflows=[workflow])  # fmt: skip
    async with examples_worker:
        if flowsim_base_url.startswith("memory"):
            with pytest.raises(UnknownWorkflowError, match=r"memory < 256 \(required\)") as info:
                await workflow.aio_run()
            assert "affinity-worker has {'model': 'fancy-ai-model-v2', 'memory': 512}" in str(
                info.value
            )
            return
        ref = await workflow.aio_run(wait_for_result=False)
        assert await ref.aio_result() == {}
    (task,) = hatchet.runs.view(ref.workflow_run_id).tasks.values()
    assert task.status == "CANCELLED"
    assert task.error is not None and "schedule timeout" in task.error.exc
