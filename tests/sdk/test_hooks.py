"""Workflows' on-failure and on-success tasks, as Hatchet runs them (on every backend).

Hatchet queues the on-failure task when any task of the run fails and skips it otherwise;
the run still ends FAILED and ``run()`` raises the original failure. The on-success task is
a DAG task whose parents are the workflow's leaves (hatchet_sdk ``Workflow.to_proto``).
"""

import asyncio
from typing import Any

import pytest

from flowsim import (
    ConcurrencyExpression,
    ConcurrencyLimitStrategy,
    Context,
    EmptyModel,
    FailedTaskRunExceptionGroup,
    Hatchet,
    RunStatus,
    WorkflowDefinitionError,
)


def failing_workflow(hatchet: Hatchet, fail: bool, seen: dict[str, Any]) -> Any:
    wf = hatchet.workflow(name="with-on-failure")

    @wf.task()
    def step1(input: EmptyModel, ctx: Context) -> dict[str, str]:
        if fail:
            raise ValueError("step1 failed")
        return {"step1": "ok"}

    @wf.task()
    def step2(input: EmptyModel, ctx: Context) -> dict[str, str]:
        return {"step2": "ok"}

    @wf.task(parents=[step1])
    def after(input: EmptyModel, ctx: Context) -> dict[str, str]:
        return {"after": "ok"}

    @wf.on_failure_task()
    def cleanup(input: EmptyModel, ctx: Context) -> dict[str, Any]:
        seen["errors"] = ctx.task_run_errors
        seen["step1"] = ctx.get_task_run_error(step1)
        seen["step2"] = ctx.get_task_run_error(step2)
        seen["text"] = ctx.fetch_task_run_error(step1)
        seen["name"] = ctx.task_name
        return {"cleaned": True}

    return wf


def test_on_failure_task_runs_after_a_failure_and_the_run_still_fails(hatchet: Hatchet) -> None:
    seen: dict[str, Any] = {}
    wf = failing_workflow(hatchet, True, seen)
    with hatchet.worker("w", slots=2, workflows=[wf]):
        ref = wf.run(wait_for_result=False)
        with pytest.raises(FailedTaskRunExceptionGroup) as caught:
            ref.result()
    assert [e.exc for e in caught.value.exceptions] == ["step1 failed"]
    assert seen["name"] == "cleanup-on-failure"
    assert list(seen["errors"]) == ["step1"]
    assert "ValueError: step1 failed" in seen["errors"]["step1"]
    assert seen["step1"].exc == "step1 failed"
    assert seen["step2"] is None
    assert seen["text"] == str(seen["step1"])
    view = hatchet.runs.view(ref.workflow_run_id)
    assert view.status is RunStatus.FAILED
    assert view.statuses() == {
        "step1": RunStatus.FAILED,
        "step2": RunStatus.COMPLETED,
        "after": RunStatus.CANCELLED,
        "cleanup-on-failure": RunStatus.COMPLETED,
    }
    assert view.tasks["cleanup-on-failure"].output == {"cleaned": True}


def test_on_failure_task_does_not_run_when_nothing_fails(hatchet: Hatchet) -> None:
    seen: dict[str, Any] = {}
    wf = failing_workflow(hatchet, False, seen)
    with hatchet.worker("w", slots=2, workflows=[wf]):
        result = wf.run()
    assert result == {"step1": {"step1": "ok"}, "step2": {"step2": "ok"}, "after": {"after": "ok"}}
    assert seen == {}


def test_a_failing_on_failure_task_is_retried_and_the_run_fails(hatchet: Hatchet) -> None:
    wf = hatchet.workflow(name="failing-handler")
    attempts: list[int] = []

    @wf.task()
    def only(input: EmptyModel, ctx: Context) -> None:
        raise RuntimeError("boom")

    @wf.on_failure_task(retries=1)
    def handler(input: EmptyModel, ctx: Context) -> None:
        attempts.append(ctx.attempt_number)
        raise RuntimeError("handler broke too")

    with hatchet.worker("w", slots=1, workflows=[wf]):
        ref = wf.run(wait_for_result=False)
        with pytest.raises(FailedTaskRunExceptionGroup) as caught:
            ref.result()
    assert attempts == [1, 2]
    assert sorted(e.exc for e in caught.value.exceptions) == ["boom", "handler broke too"]


def success_workflow(hatchet: Hatchet, fail: bool, seen: dict[str, Any]) -> Any:
    wf = hatchet.workflow(name="with-on-success")

    @wf.task()
    def first(input: EmptyModel, ctx: Context) -> dict[str, int]:
        return {"n": 1}

    @wf.on_success_task()
    def report(input: EmptyModel, ctx: Context) -> dict[str, Any]:
        seen["leaves"] = (ctx.task_output(second), ctx.task_output(independent))
        return {"reported": True}

    @wf.task(parents=[first])
    def second(input: EmptyModel, ctx: Context) -> dict[str, int]:
        return {"n": ctx.task_output(first)["n"] + 1}

    @wf.task()
    def independent(input: EmptyModel, ctx: Context) -> dict[str, int]:
        if fail:
            raise ValueError("independent failed")
        return {"n": 10}

    return wf


def test_on_success_task_runs_after_every_leaf_completes(hatchet: Hatchet) -> None:
    seen: dict[str, Any] = {}
    wf = success_workflow(hatchet, False, seen)
    with hatchet.worker("w", slots=2, workflows=[wf]):
        result = wf.run()
    assert result["report-on-success"] == {"reported": True}
    assert seen["leaves"] == ({"n": 2}, {"n": 10})


def test_on_success_task_is_cancelled_when_a_task_fails(hatchet: Hatchet) -> None:
    seen: dict[str, Any] = {}
    wf = success_workflow(hatchet, True, seen)
    with hatchet.worker("w", slots=2, workflows=[wf]):
        ref = wf.run(wait_for_result=False)
        with pytest.raises(FailedTaskRunExceptionGroup):
            ref.result()
    view = hatchet.runs.view(ref.workflow_run_id)
    assert view.status is RunStatus.FAILED
    assert view.tasks["report-on-success"].status is RunStatus.CANCELLED
    assert seen == {}


def test_one_on_failure_task_per_workflow_and_unknown_options_are_type_errors(
    hatchet: Hatchet,
) -> None:
    wf = hatchet.workflow(name="twice")

    @wf.on_failure_task()
    def first(input: EmptyModel, ctx: Context) -> None:
        return None

    with pytest.raises(WorkflowDefinitionError, match="only one"):
        wf.on_failure_task(name="second")
    with pytest.raises(TypeError, match="idempotency"):
        wf.on_success_task(idempotency=object())  # type: ignore[call-arg]


def test_an_on_failure_task_with_a_concurrency_limit_runs_one_at_a_time(hatchet: Hatchet) -> None:
    """``concurrency=`` on an on-failure task limits it like any task's: two failed runs
    each get their cleanup, and the two cleanups never overlap."""
    wf = hatchet.workflow(name="limited-cleanup")
    running: list[int] = []
    overlaps: list[int] = []

    @wf.task()
    async def step(input: EmptyModel, ctx: Context) -> None:
        raise ValueError("step failed")

    @wf.on_failure_task(
        concurrency=ConcurrencyExpression(expression="'all'", max_runs=1,
                                          limit_strategy=ConcurrencyLimitStrategy.GROUP_ROUND_ROBIN)
    )  # fmt: skip
    async def cleanup(input: EmptyModel, ctx: Context) -> dict[str, bool]:
        running.append(1)
        overlaps.append(len(running))
        await asyncio.sleep(0.05)
        running.pop()
        return {"cleaned": True}

    with hatchet.worker("w", slots=4, workflows=[wf]):
        refs = [wf.run(wait_for_result=False), wf.run(wait_for_result=False)]
        for ref in refs:
            with pytest.raises(FailedTaskRunExceptionGroup):
                ref.result()
    assert overlaps == [1, 1]
    for ref in refs:
        statuses = hatchet.runs.view(ref.workflow_run_id).statuses()
        assert statuses == {"step": RunStatus.FAILED, "cleanup-on-failure": RunStatus.COMPLETED}
