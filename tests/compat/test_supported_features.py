"""Supported rows of docs/hatchet-compatibility.md that had no test of their own: each one
written as a Hatchet user writes it, with the Hatchet names taken from hatchet_sdk through
the alias, and time driven by the manual clock where it matters."""

import asyncio
from datetime import timedelta
from types import ModuleType
from typing import Any

import pytest

from flowsim import Hatchet, ManualClock, SlotDeadlockError
from tests.helpers import settle


async def test_slot_cost_takes_that_many_slots(hatchet_sdk: ModuleType, hatchet: Hatchet) -> None:
    from hatchet_sdk import Context, EmptyModel

    running: list[str] = []
    release = asyncio.Event()

    @hatchet.task(name="heavy", slot_cost=2)
    async def heavy(input: EmptyModel, ctx: Context) -> dict[str, bool]:
        running.append(ctx.workflow_run_id)
        await release.wait()
        return {"ok": True}

    async with hatchet.worker("w", slots=3, workflows=[heavy]):
        refs = [heavy.run(wait_for_result=False) for _ in range(2)]
        try:
            await settle()
            assert len(running) == 1  # 2 of 3 slots taken: the second needs 2 and waits
        finally:
            release.set()  # lets the worker drain even when the assertion failed
        assert [await ref.aio_result() for ref in refs] == [{"ok": True}, {"ok": True}]
    assert len(running) == 2


@pytest.mark.parametrize("releases", [True, False])
async def test_release_slot_lets_a_child_take_the_parents_slot(
    hatchet_sdk: ModuleType, hatchet: Hatchet, releases: bool
) -> None:
    from hatchet_sdk import Context, EmptyModel

    @hatchet.task(name="child")
    async def child(input: EmptyModel, ctx: Context) -> dict[str, str]:
        return {"from": "child"}

    @hatchet.task(name="parent")
    async def parent(input: EmptyModel, ctx: Context) -> dict[str, Any]:
        if releases:
            await ctx.aio_release_slot()
        return await child.aio_run()

    async with hatchet.worker("w", slots=1, workflows=[child, parent]):
        if releases:
            assert await asyncio.wait_for(parent.aio_run(), 5) == {"from": "child"}
        else:
            with pytest.raises(SlotDeadlockError):
                await asyncio.wait_for(parent.aio_run(), 5)


@pytest.mark.parametrize("refreshes", [True, False])
async def test_refresh_timeout_lets_a_task_outlive_its_execution_timeout(
    hatchet_sdk: ModuleType, hatchet: Hatchet, flowsim_clock: ManualClock, refreshes: bool
) -> None:
    from hatchet_sdk import Context, EmptyModel, FailedTaskRunExceptionGroup

    release = asyncio.Event()

    @hatchet.task(name="slow", execution_timeout=timedelta(seconds=5))
    async def slow(input: EmptyModel, ctx: Context) -> dict[str, str]:
        if refreshes:
            ctx.refresh_timeout(timedelta(seconds=10))
        await release.wait()
        return {"status": "success"}

    async with hatchet.worker("w", slots=1, workflows=[slow]):
        ref = slow.run(wait_for_result=False)
        try:
            await settle()
            flowsim_clock.advance(6)
            await settle()
        finally:
            release.set()
        if refreshes:
            assert await ref.aio_result() == {"status": "success"}
        else:
            with pytest.raises(FailedTaskRunExceptionGroup, match="Task exceeded timeout of 5s"):
                await ref.aio_result()


async def test_durable_sleep_waits_on_the_engine_clock(
    hatchet_sdk: ModuleType, hatchet: Hatchet, flowsim_clock: ManualClock
) -> None:
    from hatchet_sdk import DurableContext, EmptyModel

    @hatchet.durable_task(name="nap", execution_timeout=timedelta(hours=2))
    async def nap(input: EmptyModel, ctx: DurableContext) -> dict[str, Any]:
        await ctx.aio_sleep_for(timedelta(hours=1))
        return {"woke_at": flowsim_clock.now()}

    async with hatchet.worker("w", workflows=[nap]):
        ref = nap.run(wait_for_result=False)
        try:
            await settle()
            flowsim_clock.advance(3599)
            await settle()
            assert ref.status == "RUNNING"
        finally:
            flowsim_clock.advance(1)  # wakes the sleeper, so the worker drains whatever happened
        assert await ref.aio_result() == {"woke_at": 3600.0}


def test_worker_labels_are_accepted_and_visible_to_tasks(
    hatchet_sdk: ModuleType, hatchet: Hatchet
) -> None:
    from hatchet_sdk import Context, EmptyModel

    @hatchet.task(name="where")
    def where(input: EmptyModel, ctx: Context) -> dict[str, Any]:
        return {"labels": ctx.worker_labels}

    with hatchet.worker(
        "gpu-worker", slots=1, labels={"gpu": "a100", "memory": 80}, workflows=[where]
    ):
        assert where.run() == {"labels": {"gpu": "a100", "memory": 80}}


async def test_hatchets_cancellation_example_runs_unchanged(
    hatchet_sdk: ModuleType, hatchet: Hatchet
) -> None:
    """Hatchet's examples/cancellation: a task cancels itself with ``ctx.aio_cancel()`` and
    its test waits for the run to be CANCELLED; the sync task polling ``ctx.exit_flag`` is
    cancelled through ``hatchet.runs.cancel``. Awaiting either result returns no output
    (a cancelled task is reported without an error)."""
    import time

    from hatchet_sdk import Context, EmptyModel, RunStatus

    cancellation_workflow = hatchet.workflow(name="CancelWorkflow")

    @cancellation_workflow.task()
    async def self_cancel(input: EmptyModel, ctx: Context) -> dict[str, str]:
        await asyncio.sleep(0.01)
        await ctx.aio_cancel()
        await asyncio.sleep(10)
        return {"error": "Task should have been cancelled"}

    checked = hatchet.workflow(name="CheckFlag")

    @checked.task()
    def check_flag(input: EmptyModel, ctx: Context) -> dict[str, str]:
        for _ in range(2000):
            time.sleep(0.005)
            if ctx.exit_flag:
                raise ValueError("Task has been cancelled")
        return {"error": "Task should have been cancelled"}

    async with hatchet.worker("w", slots=2, workflows=[cancellation_workflow, checked]):
        ref = await cancellation_workflow.aio_run(wait_for_result=False)
        flagged = await checked.aio_run(wait_for_result=False)
        await asyncio.sleep(0.05)
        await hatchet.runs.aio_cancel(flagged.workflow_run_id)
        for run in (ref, flagged):
            assert await run.aio_result() == {}
    assert hatchet.runs.get_status(ref.workflow_run_id) == RunStatus.CANCELLED
    assert hatchet.runs.get_status(flagged.workflow_run_id) == RunStatus.CANCELLED


async def test_the_deprecated_aio_task_output_reads_an_async_parent_only(
    hatchet_sdk: ModuleType, hatchet: Hatchet
) -> None:
    from hatchet_sdk import Context, EmptyModel

    dag = hatchet.workflow(name="old-spelling")

    @dag.task()
    async def fetch(input: EmptyModel, ctx: Context) -> dict[str, int]:
        return {"n": 3}

    @dag.task()
    def tally(input: EmptyModel, ctx: Context) -> dict[str, int]:
        return {"n": 4}

    @dag.task(parents=[fetch, tally])
    async def use(input: EmptyModel, ctx: Context) -> dict[str, Any]:
        with pytest.warns(DeprecationWarning, match="use `task_output` instead"):
            fetched = ctx.aio_task_output(fetch)
        with (
            pytest.warns(DeprecationWarning),
            pytest.raises(ValueError, match="'tally' is not an async function"),
        ):
            ctx.aio_task_output(tally)
        return {"fetched": fetched}

    async with hatchet.worker("w", slots=2, workflows=[dag]):
        result = await dag.aio_run()
    assert result["use"] == {"fetched": {"n": 3}}


async def test_hatchets_streaming_example_runs_unchanged_but_for_its_sleeps(
    hatchet_sdk: ModuleType, hatchet: Hatchet
) -> None:
    """Hatchet's streaming guide: the task sleeps "to avoid race conditions" (chunks put
    before the subscriber listens are not delivered), then streams the text in chunks; the
    consumer subscribes by run id and joins what it hears. Sleeps shortened from 2 s and
    0.2 s."""
    from hatchet_sdk import Context, EmptyModel

    text = "Happy families are all alike; every unhappy family is unhappy in its own way."
    chunks = [text[i : i + 10] for i in range(0, len(text), 10)]

    @hatchet.task()
    async def stream_task(input: EmptyModel, ctx: Context) -> None:
        await asyncio.sleep(0.5)
        for chunk in chunks:
            await ctx.aio_put_stream(chunk)
            await asyncio.sleep(0.01)

    async with hatchet.worker("w", slots=1, workflows=[stream_task]):
        ref = await stream_task.aio_run(wait_for_result=False)
        heard = [c async for c in hatchet.runs.subscribe_to_stream(ref.workflow_run_id)]
    assert "".join(heard) == text


async def test_dependency_injection_as_hatchet_users_write_it(
    hatchet_sdk: ModuleType, hatchet: Hatchet
) -> None:
    from typing import Annotated

    from hatchet_sdk import Context, Depends, EmptyModel
    from hatchet_sdk.exceptions import InvalidDependencyError
    from hatchet_sdk.runnables.task import Depends as DependsFromTask

    assert DependsFromTask is Depends and issubclass(InvalidDependencyError, ValueError)

    async def async_dep(input: EmptyModel, ctx: Context) -> str:
        return "async"

    def sync_dep(input: EmptyModel, ctx: Context) -> str:
        return "sync"

    @hatchet.task(name="di")
    async def di(
        input: EmptyModel,
        ctx: Context,
        a: Annotated[str, Depends(async_dep)],
        s: Annotated[str, Depends(sync_dep)],
    ) -> dict[str, str]:
        return {"a": a, "s": s}

    async with hatchet.worker("w", slots=1, workflows=[di]):
        assert await di.aio_run() == {"a": "async", "s": "sync"}


async def test_tests_poll_get_status_with_the_rest_clients_status_enum(
    hatchet_sdk: ModuleType, hatchet: Hatchet
) -> None:
    """Hatchet users' tests import V1TaskStatus from the REST client's models (or the
    package root) and poll ``hatchet.runs.aio_get_status`` until the run is terminal."""
    from hatchet_sdk import Context, EmptyModel, RunStatus
    from hatchet_sdk import V1TaskStatus as FromRoot
    from hatchet_sdk.clients.rest import V1TaskStatus as FromRest
    from hatchet_sdk.clients.rest.models.v1_task_status import V1TaskStatus

    assert V1TaskStatus is FromRoot is FromRest
    assert V1TaskStatus.from_json('"FAILED"') is V1TaskStatus.FAILED

    @hatchet.task(name="polled", retries=0)
    async def polled(input: EmptyModel, ctx: Context) -> dict[str, str]:
        if ctx.additional_metadata.get("fail"):
            raise RuntimeError("asked to fail")
        return {"ok": "yes"}

    async def poll(run_id: str) -> Any:
        for _ in range(500):
            status = await hatchet.runs.aio_get_status(run_id)
            if status in (V1TaskStatus.COMPLETED, V1TaskStatus.FAILED, V1TaskStatus.CANCELLED):
                return status
            await asyncio.sleep(0.01)
        raise AssertionError(f"run {run_id} still {status} after 5 s")

    async with hatchet.worker("w", slots=2, workflows=[polled]):
        done = await polled.aio_run(wait_for_result=False)
        failed = await polled.aio_run(additional_metadata={"fail": True}, wait_for_result=False)
        assert await poll(done.workflow_run_id) is V1TaskStatus.COMPLETED
        assert await poll(failed.workflow_run_id) is V1TaskStatus.FAILED
    status = hatchet.runs.get_status(done.workflow_run_id)
    assert isinstance(status, V1TaskStatus) and status == RunStatus.COMPLETED == "COMPLETED"


async def test_the_namespace_is_empty_so_names_prefixed_with_it_are_the_names(
    hatchet_sdk: ModuleType, hatchet: Hatchet
) -> None:
    """Hatchet's dag_operator_task_named_like_workflow example names a task
    ``hatchet.namespace + WORKFLOW_NAME``; a client without a namespace prefixes nothing."""
    from hatchet_sdk import Context, EmptyModel

    assert hatchet.namespace == ""
    dag = hatchet.workflow(name="task-named-like-workflow")

    @dag.task(name=hatchet.namespace + "task-named-like-workflow")
    async def first_step(input: EmptyModel, ctx: Context) -> dict[str, int]:
        return {"step": 1}

    @dag.task(parents=[first_step])
    async def second_step(input: EmptyModel, ctx: Context) -> dict[str, int]:
        return {"step": ctx.task_output(first_step)["step"] + 1}

    async with hatchet.worker("w", slots=2, workflows=[dag]):
        assert await dag.aio_run() == {
            "task-named-like-workflow": {"step": 1},
            "second_step": {"step": 2},
        }


async def test_an_unannotated_tasks_output_comes_back_as_hatchets_empty_model(
    hatchet_sdk: ModuleType, hatchet: Hatchet
) -> None:
    """hatchet_sdk validates the output of a task without a return annotation (or with
    ``-> None``) with ``EmptyModel``: a standalone run returns one, and so does
    ``ctx.task_output`` for such a parent, whose keys are then attributes, not items."""
    from hatchet_sdk import Context, EmptyModel

    @hatchet.task(name="bare")
    async def bare(input: EmptyModel, ctx: Context):
        return {"n": 1}

    dag = hatchet.workflow(name="bare-dag")

    @dag.task()
    async def unannotated(input: EmptyModel, ctx: Context):
        return {"n": 1}

    @dag.task()
    async def annotated(input: EmptyModel, ctx: Context) -> dict[str, int]:
        return {"n": 2}

    @dag.task(parents=[unannotated, annotated])
    async def reader(input: EmptyModel, ctx: Context) -> dict[str, Any]:
        parent = ctx.task_output(unannotated)
        with pytest.raises(TypeError, match="not subscriptable"):
            parent["n"]
        return {"attribute": parent.n, "item": ctx.task_output(annotated)["n"]}

    async with hatchet.worker("w", slots=4, workflows=[bare, dag]):
        output = await bare.aio_run()
        assert isinstance(output, EmptyModel) and output.n == 1
        result = await dag.aio_run()
    assert result["reader"] == {"attribute": 1, "item": 2}
    assert result["unannotated"] == {"n": 1}  # a workflow's result is the stored JSON


async def test_hatchets_get_run_test_reads_the_rest_details(
    hatchet_sdk: ModuleType, hatchet: Hatchet
) -> None:
    """Hatchet's ``test_get_run`` (sdks/python/tests/test_rest_api.py) and its eviction
    test's event types, imported from the REST client's models."""
    from hatchet_sdk import Context, EmptyModel
    from hatchet_sdk.clients.rest.models.v1_task_event_type import V1TaskEventType
    from hatchet_sdk.clients.rest.models.v1_workflow_run_details import V1WorkflowRunDetails

    dag_workflow = hatchet.workflow(name="DAGWorkflow")

    @dag_workflow.task()
    def step1(input: EmptyModel, ctx: Context) -> dict[str, int]:
        return {"random_number": 4}

    @dag_workflow.task()
    def step2(input: EmptyModel, ctx: Context) -> dict[str, int]:
        return {"random_number": 2}

    @dag_workflow.task(parents=[step1, step2])
    async def step3(input: EmptyModel, ctx: Context) -> dict[str, int]:
        return {"sum": ctx.task_output(step1)["random_number"] + 2}

    @dag_workflow.task(parents=[step1, step3])
    async def step4(input: EmptyModel, ctx: Context) -> dict[str, str]:
        return {"step4": "step4"}

    async with hatchet.worker("w", slots=4, workflows=[dag_workflow]):
        dag_ref = await dag_workflow.aio_run(wait_for_result=False)
        await dag_ref.aio_result()

    run = await hatchet.runs.aio_get(dag_ref.workflow_run_id)
    assert isinstance(run, V1WorkflowRunDetails)
    assert dag_workflow.name in run.run.display_name  # Hatchet's test reads config.name
    assert run.run.status.value == "COMPLETED"
    assert len(run.shape) == 4
    assert {t.name for t in dag_workflow.tasks} == {t.task_name for t in run.shape}
    assert {e.event_type for e in run.task_events} >= {
        V1TaskEventType.QUEUED,
        V1TaskEventType.STARTED,
        V1TaskEventType.FINISHED,
    }
