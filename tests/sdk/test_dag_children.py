"""DAGs, child runs, return shapes and input validation, as hatchet_sdk behaves."""

import asyncio
import threading
from typing import Any

import pytest
from pydantic import BaseModel

from flowsim import (
    Context,
    EmptyModel,
    FailedTaskRunExceptionGroup,
    Hatchet,
    InvalidInputError,
    RunCancelledError,
)


class Numbers(BaseModel):
    a: int
    b: int


class Sum(BaseModel):
    total: int


def make_dag(hatchet: Hatchet, fail_step1: bool = False) -> Any:
    dag = hatchet.workflow(name="dag", input_validator=Numbers)
    order: list[str] = []

    @dag.task()
    def step1(input: Numbers, ctx: Context) -> dict[str, int]:
        order.append("step1")
        if fail_step1:
            raise ValueError("step1 failed")
        return {"value": input.a}

    @dag.task()
    async def step2(input: Numbers, ctx: Context) -> dict[str, int]:
        order.append("step2")
        return {"value": input.b}

    @dag.task(parents=[step1, step2])
    async def step3(input: Numbers, ctx: Context) -> Sum:
        order.append("step3")
        return Sum(total=ctx.task_output(step1)["value"] + ctx.task_output(step2)["value"])

    @dag.task(parents=[step1, step3])
    def step4(input: Numbers, ctx: Context) -> dict[str, Any]:
        order.append("step4")
        total = ctx.task_output(step3)
        assert isinstance(total, Sum)  # typed by step3's return annotation
        return {"step4": total.total * 10}

    return dag, order


def test_dag_runs_in_dependency_order_and_passes_outputs(hatchet: Hatchet) -> None:
    dag, order = make_dag(hatchet)
    with hatchet.worker("w", slots=4, workflows=[dag]):
        result = dag.run(Numbers(a=2, b=3))
    assert result == {
        "step1": {"value": 2},
        "step2": {"value": 3},
        "step3": {"total": 5},
        "step4": {"step4": 50},
    }
    assert order.index("step3") > max(order.index("step1"), order.index("step2"))
    assert order.index("step4") > order.index("step3")


def test_a_failed_dag_task_cancels_its_descendants_but_not_siblings(hatchet: Hatchet) -> None:
    dag, order = make_dag(hatchet, fail_step1=True)
    with hatchet.worker("w", slots=4, workflows=[dag]):
        ref = dag.run(Numbers(a=2, b=3), wait_for_result=False)
        with pytest.raises(FailedTaskRunExceptionGroup) as caught:
            ref.result()
    assert [e.exc for e in caught.value.exceptions] == ["step1 failed"]
    assert str(caught.value).startswith(f"Workflow run {ref.workflow_run_id} failed.")
    run = hatchet.runs.view(ref.workflow_run_id)
    assert run.statuses() == {
        "step1": "FAILED",
        "step2": "COMPLETED",
        "step3": "CANCELLED",
        "step4": "CANCELLED",
    }
    assert "step3" not in order and "step4" not in order


def test_standalone_returns_typed_output_and_refs_and_many_keep_order(hatchet: Hatchet) -> None:
    @hatchet.task(name="add", input_validator=Numbers)
    async def add(input: Numbers, ctx: Context) -> Sum:
        await asyncio.sleep(0)
        return Sum(total=input.a + input.b)

    with hatchet.worker("w", slots=3, workflows=[add]):
        assert add.run(Numbers(a=1, b=2)) == Sum(total=3)
        ref = add.run(Numbers(a=5, b=5), wait_for_result=False)
        assert ref.result() == Sum(total=10)
        assert add.run({"a": 1, "b": 1}, wait_for_result=False).result() == Sum(total=2)
        items = [add.create_bulk_run_item(input=Numbers(a=i, b=i)) for i in range(20)]
        assert add.run_many(items) == [Sum(total=2 * i) for i in range(20)]


async def test_aio_run_many_with_return_exceptions_keeps_failures_in_place(
    hatchet: Hatchet,
) -> None:
    @hatchet.task(name="maybe", input_validator=Numbers)
    async def maybe(input: Numbers, ctx: Context) -> dict[str, str]:
        if input.a % 2 == 0:
            raise ValueError(f"error in task with index {input.a}")
        return {"message": "this is a successful task."}

    async with hatchet.worker("w", slots=4, workflows=[maybe]):
        items = [maybe.create_bulk_run_item(input=Numbers(a=i, b=0)) for i in range(10)]
        results = await maybe.aio_run_many(items, return_exceptions=True)
        with pytest.raises(FailedTaskRunExceptionGroup):
            await maybe.aio_run_many(items)
    for i, result in enumerate(results):
        if i % 2 == 0:
            assert isinstance(result, FailedTaskRunExceptionGroup)
            assert f"error in task with index {i}" in str(result)
        else:
            assert result == {"message": "this is a successful task."}


def test_a_failed_child_raises_in_the_awaiting_parent(hatchet: Hatchet) -> None:
    @hatchet.task(name="child")
    def child(input: EmptyModel, ctx: Context) -> dict[str, str]:
        raise KeyError("missing")

    @hatchet.task(name="parent")
    async def parent(input: EmptyModel, ctx: Context) -> dict[str, Any]:
        try:
            await child.aio_run()
        except FailedTaskRunExceptionGroup as group:
            return {"caught": [(e.exc_type, e.exc) for e in group.exceptions]}
        return {"caught": []}

    with hatchet.worker("w", slots=2, workflows=[child, parent]):
        assert parent.run() == {"caught": [["KeyError", "'missing'"]]}


def test_sync_tasks_run_off_the_event_loop_and_can_spawn_children(hatchet: Hatchet) -> None:
    seen: dict[str, str] = {}

    @hatchet.task(name="leaf")
    async def leaf(input: EmptyModel, ctx: Context) -> dict[str, str]:
        seen["leaf"] = threading.current_thread().name
        return {"leaf": "ok"}

    @hatchet.task(name="sync-parent")
    def sync_parent(input: EmptyModel, ctx: Context) -> dict[str, Any]:
        seen["parent"] = threading.current_thread().name
        return {"child": leaf.run()}

    with hatchet.worker("w", slots=2, workflows=[leaf, sync_parent]):
        assert sync_parent.run() == {"child": {"leaf": "ok"}}
    assert seen["parent"].startswith("flowsim-w")
    assert seen["leaf"].startswith("flowsim-engine")


def test_retried_parent_reattaches_to_its_children(hatchet: Hatchet) -> None:
    """Hatchet's child_keys example: keyed children spawned again on a retry are reused,
    so 3 distinct keys over two attempts make 3 children, not 5."""
    attempts: list[int] = []

    @hatchet.task(name="kid")
    async def kid(input: EmptyModel, ctx: Context) -> dict[str, str]:
        return {"key": ctx.child_key or ""}

    @hatchet.task(name="keyed-parent", retries=1)
    async def keyed_parent(input: EmptyModel, ctx: Context) -> dict[str, Any]:
        attempts.append(ctx.retry_count)
        keys = ["child-1", "child-2"] if ctx.retry_count == 0 else ["child-2", "child-3", "child-1"]
        results = await kid.aio_run_many([kid.create_bulk_run_item(child_key=k) for k in keys])
        if ctx.retry_count == 0:
            raise RuntimeError("first attempt fails after spawning")
        return {"keys": [r["key"] for r in results]}

    with hatchet.worker("w", slots=4, workflows=[kid, keyed_parent]):
        assert keyed_parent.run() == {"keys": ["child-2", "child-3", "child-1"]}
    assert attempts == [0, 1]
    assert len(hatchet.runs.views()) == 4


def test_metadata_propagates_from_parent_to_children(hatchet: Hatchet) -> None:
    @hatchet.task(name="meta-child")
    async def meta_child(input: EmptyModel, ctx: Context) -> dict[str, Any]:
        return {"meta": ctx.additional_metadata, "parent": ctx.parent_workflow_run_id}

    @hatchet.task(name="meta-parent")
    async def meta_parent(input: EmptyModel, ctx: Context) -> dict[str, Any]:
        child = await meta_child.aio_run(additional_metadata={"child": "yes"})
        return {"child": child, "me": ctx.workflow_run_id}

    with hatchet.worker("w", slots=2, workflows=[meta_child, meta_parent]):
        result = meta_parent.run(additional_metadata={"trace": "abc"})
    assert result["child"]["meta"] == {"trace": "abc", "child": "yes"}
    assert result["child"]["parent"] == result["me"]


def test_invalid_input_names_the_field_and_workflow_and_queues_nothing(hatchet: Hatchet) -> None:
    wf = hatchet.workflow(name="needs-numbers", input_validator=Numbers)

    @wf.task()
    def only(input: Numbers, ctx: Context) -> None:
        return None

    with pytest.raises(InvalidInputError) as caught:
        wf.run({"a": 1, "c": "x"}, wait_for_result=False)
    message = str(caught.value)
    assert "'needs-numbers'" in message and "field 'b'" in message
    with pytest.raises(ValueError, match="field 'a'"):  # also a ValueError, as in pydantic
        wf.run({"a": "not a number", "b": 2}, wait_for_result=False)
    assert hatchet.runs.views() == []


def test_sync_result_of_a_cancelled_run_raises_value_error(hatchet: Hatchet) -> None:
    @hatchet.task(name="never", schedule_timeout="1s")
    def never(input: EmptyModel, ctx: Context) -> None:
        return None

    ref = never.run(wait_for_result=False)
    engine = hatchet.engine
    with engine._lock:  # what the schedule-timeout sweep does when the deadline passes
        engine.store.expire_schedule_timeouts(engine.clock.now() + 2)
    with pytest.raises(
        RunCancelledError, match=f"Workflow run {ref.workflow_run_id} was cancelled"
    ):
        ref.result()


async def test_every_slot_has_a_thread_for_sync_tasks(hatchet: Hatchet) -> None:
    """70 sync parents blocked in child.run() plus their sync children need 80 threads on an
    80-slot worker; a smaller thread pool would strand the children (Hatchet sizes the
    pool at ``slots``)."""

    @hatchet.task(name="sync-kid")
    def sync_kid(input: EmptyModel, ctx: Context) -> dict[str, int]:
        return {"kid": 1}

    @hatchet.task(name="sync-dad")
    def sync_dad(input: EmptyModel, ctx: Context) -> dict[str, Any]:
        return sync_kid.run()

    async with hatchet.worker("w", slots=80, workflows=[sync_kid, sync_dad]):
        items = [sync_dad.create_bulk_run_item() for _ in range(70)]
        results = await asyncio.wait_for(sync_dad.aio_run_many(items), timeout=20)
    assert results == [{"kid": 1}] * 70


async def test_aio_run_many_raises_for_the_run_that_failed_first(hatchet: Hatchet) -> None:
    gate = asyncio.Event()

    @hatchet.task(name="slow-or-bad", input_validator=Numbers)
    async def slow_or_bad(input: Numbers, ctx: Context) -> dict[str, int]:
        if input.a == 0:
            await gate.wait()  # run 0 is still running when run 1 fails
            return {"a": 0}
        raise ValueError("run 1 is bad")

    async with hatchet.worker("w", slots=2, workflows=[slow_or_bad]):
        items = [slow_or_bad.create_bulk_run_item(input=Numbers(a=i, b=0)) for i in range(2)]
        with pytest.raises(FailedTaskRunExceptionGroup) as caught:
            await slow_or_bad.aio_run_many(items)
        gate.set()
    assert [e.exc for e in caught.value.exceptions] == ["run 1 is bad"]


def test_two_workflows_with_one_name_are_refused_and_never_crash_dispatch(
    hatchet: Hatchet,
) -> None:
    from flowsim import WorkflowDefinitionError

    first = hatchet.workflow(name="same")
    second = hatchet.workflow(name="same")

    @first.task()
    def one(input: EmptyModel, ctx: Context) -> dict[str, int]:
        return {"one": 1}

    @second.task()
    def two(input: EmptyModel, ctx: Context) -> dict[str, int]:
        return {"two": 2}

    with pytest.raises(WorkflowDefinitionError, match="two different workflows are named 'same'"):
        hatchet.worker("w", workflows=[first, second])
    with (
        hatchet.worker("w", slots=1, workflows=[first]),
        pytest.raises(FailedTaskRunExceptionGroup) as caught,
    ):
        second.run()
    [error] = caught.value.exceptions
    assert error.exc_type == "WorkflowDefinitionError" and "different definition" in error.exc
