"""Cancellation as Hatchet does it (``ctx.cancel``/``aio_cancel``, ``hatchet.runs.cancel``),
on every backend: the run ends CANCELLED, nothing cancelled runs on or is retried, slots free
at once, and what was spawned below a cancelled run is cancelled with it."""

import asyncio
import threading
import time
from datetime import timedelta
from typing import Any

import pytest

from flowsim import (
    BulkCancelReplayOpts,
    Context,
    DurableContext,
    EmptyModel,
    FailedTaskRunExceptionGroup,
    Hatchet,
    RunCancelledError,
    RunNotFoundError,
    RunStatus,
    V1TaskStatus,
)
from tests.helpers import eventually


async def test_a_task_cancelling_itself_stops_at_its_next_await_and_is_not_retried(
    hatchet: Hatchet,
) -> None:
    after_cancel: list[str] = []

    @hatchet.task(name="self-cancel", retries=2)
    async def self_cancel(input: EmptyModel, ctx: Context) -> dict[str, str]:
        await asyncio.sleep(0.01)
        await ctx.aio_cancel()
        after_cancel.append(f"flag={ctx.exit_flag}")
        await asyncio.sleep(10)  # cancelled here, as Hatchet cancels the asyncio task
        after_cancel.append("slept")
        return {"error": "Task should have been cancelled"}

    async with hatchet.worker("w", slots=1, workflows=[self_cancel]):
        ref = await self_cancel.aio_run(wait_for_result=False)
        # the engine reports a cancelled task with no error: the async result is empty
        assert await ref.aio_result() == {}
    assert after_cancel == ["flag=True"]
    view = hatchet.runs.view(ref.workflow_run_id)
    assert view.status is RunStatus.CANCELLED
    task = view.tasks["self-cancel"]
    assert (task.status, task.retry_count) == (RunStatus.CANCELLED, 0)
    assert task.error is not None and task.error.exc_type == "CancelledError"
    assert "ctx.cancel()" in task.error.exc
    assert [attempt.outcome for attempt in task.attempts] == ["CANCELLED"]
    with pytest.raises(
        RunCancelledError, match=f"Workflow run {ref.workflow_run_id} was cancelled"
    ):
        await asyncio.to_thread(ref.result)


def test_runs_cancel_sets_a_sync_tasks_exit_flag_and_frees_its_slot(hatchet: Hatchet) -> None:
    started, stopped = threading.Event(), threading.Event()

    @hatchet.task(name="polling", retries=1)
    def polling(input: EmptyModel, ctx: Context) -> dict[str, Any]:
        if started.is_set():
            return {"second": True}
        started.set()
        while not ctx.exit_flag:  # Hatchet's advice for sync tasks: poll the flag
            time.sleep(0.005)
        stopped.set()
        return {"error": "Task should have been cancelled"}

    with hatchet.worker("w", slots=1, workflows=[polling]):
        first = polling.run(wait_for_result=False)
        assert started.wait(20)
        second = polling.run(wait_for_result=False)  # queued behind the one slot
        hatchet.runs.cancel(first.workflow_run_id)
        assert stopped.wait(20)
        assert second.result() == {"second": True}  # the slot was freed
        with pytest.raises(RunCancelledError, match="was cancelled"):
            first.result()
    task = hatchet.runs.view(first.workflow_run_id).tasks["polling"]
    assert task.status is RunStatus.CANCELLED
    assert [attempt.outcome for attempt in task.attempts] == ["CANCELLED"]  # not retried


async def test_a_queued_run_cancelled_never_runs(hatchet: Hatchet) -> None:
    release = asyncio.Event()
    ran: list[str] = []

    @hatchet.task(name="queued")
    async def queued(input: EmptyModel, ctx: Context) -> dict[str, str]:
        ran.append(ctx.workflow_run_id)
        await release.wait()
        return {"ran": ctx.workflow_run_id}

    async with hatchet.worker("w", slots=1, workflows=[queued]):
        first = await queued.aio_run(wait_for_result=False)
        await eventually(lambda: len(ran) == 1, within=20.0)
        waiting = await queued.aio_run(wait_for_result=False)
        await hatchet.runs.aio_cancel(waiting.workflow_run_id)
        release.set()
        assert await first.aio_result() == {"ran": first.workflow_run_id}
        assert await waiting.aio_result() == {}  # cancelled before it ran: nothing completed
    assert ran == [first.workflow_run_id]
    task = hatchet.runs.view(waiting.workflow_run_id).tasks["queued"]
    assert (task.status, task.attempts) == (RunStatus.CANCELLED, ())


async def test_cancelling_a_parent_cancels_its_children_and_grandchildren(
    hatchet: Hatchet,
) -> None:
    grandchild = hatchet.workflow(name="grandchild")
    child = hatchet.workflow(name="child")
    started: list[str] = []

    @grandchild.task()
    async def leaf(input: EmptyModel, ctx: Context) -> dict[str, str]:
        started.append(ctx.workflow_run_id)
        await asyncio.sleep(60)
        return {"error": "should have been cancelled"}

    @child.task()
    async def middle(input: EmptyModel, ctx: Context) -> dict[str, Any]:
        return await grandchild.aio_run()

    @hatchet.task(name="cascade-parent")
    async def parent(input: EmptyModel, ctx: Context) -> dict[str, Any]:
        results = await child.aio_run_many([child.create_bulk_run_item() for _ in range(2)])
        return {"results": results}

    # four slots: the parent, both children and one grandchild run; one grandchild is queued
    async with hatchet.worker("w", slots=4, workflows=[grandchild, child, parent]):
        ref = await parent.aio_run(wait_for_result=False)
        await eventually(lambda: len(hatchet.runs.views()) == 5 and len(started) == 1, within=20.0)
        await hatchet.runs.aio_cancel(ref.workflow_run_id)
        assert await ref.aio_result() == {}
        views = hatchet.runs.views()
        assert [(v.workflow, v.status) for v in views] == [
            ("cascade-parent", RunStatus.CANCELLED),
            ("child", RunStatus.CANCELLED),
            ("child", RunStatus.CANCELLED),
            ("grandchild", RunStatus.CANCELLED),
            ("grandchild", RunStatus.CANCELLED),
        ]
    attempts = sorted(len(v.tasks["leaf"].attempts) for v in views[3:])
    assert attempts == [0, 1]  # the queued grandchild never ran
    assert all(
        attempt.outcome == "CANCELLED"
        for v in views
        for t in v.tasks.values()
        for attempt in t.attempts
    )


def test_cancel_of_an_unknown_run_says_which_id_to_pass(hatchet: Hatchet) -> None:
    with pytest.raises(RunNotFoundError, match=r"no-such-run.*workflow run id"):
        hatchet.runs.cancel("no-such-run")


async def test_a_waiting_durable_task_is_cancelled_and_frees_its_durable_slot(
    hatchet: Hatchet,
) -> None:
    sleeping: list[str] = []

    @hatchet.durable_task(name="durable-sleeper")
    async def durable_sleeper(input: EmptyModel, ctx: DurableContext) -> dict[str, str]:
        sleeping.append(ctx.workflow_run_id)
        await ctx.aio_sleep_for(timedelta(hours=1))
        return {"woke": ctx.workflow_run_id}

    async with hatchet.worker("w", slots=1, durable_slots=1, workflows=[durable_sleeper]):
        first = await durable_sleeper.aio_run(wait_for_result=False)
        await eventually(lambda: len(sleeping) == 1, within=20.0)
        second = await durable_sleeper.aio_run(
            wait_for_result=False
        )  # waits for the one durable slot
        await hatchet.runs.aio_cancel(first.workflow_run_id)
        # the freed slot went to the second
        await eventually(lambda: len(sleeping) == 2, within=20.0)
        await hatchet.runs.aio_cancel(second.workflow_run_id)
        for ref in (first, second):
            assert await ref.aio_result() == {}
    assert [hatchet.runs.get_status(r.workflow_run_id) for r in (first, second)] == [
        RunStatus.CANCELLED
    ] * 2


async def test_bulk_cancel_cancels_every_run_named_and_nothing_when_one_is_unknown(
    hatchet: Hatchet,
) -> None:
    @hatchet.task(name="bulk-cancelled")
    async def bulk_cancelled(input: EmptyModel, ctx: Context) -> dict[str, bool]:
        return {"ran": True}

    queued = [
        await bulk_cancelled.aio_run(wait_for_result=False) for _ in range(3)
    ]  # no worker yet
    ids = [ref.workflow_run_id for ref in queued]
    with pytest.raises(RunNotFoundError, match=r"'no-such-run'.*nothing was cancelled"):
        await hatchet.runs.aio_bulk_cancel(BulkCancelReplayOpts(ids=[ids[0], "no-such-run"]))
    assert {hatchet.runs.get_status(i) for i in ids} == {RunStatus.QUEUED}
    hatchet.runs.bulk_cancel(BulkCancelReplayOpts(ids=ids[:2]))
    async with hatchet.worker("w", slots=1, workflows=[bulk_cancelled]):
        assert await queued[2].aio_result() == {"ran": True}
    assert [hatchet.runs.get_status(i) for i in ids] == [
        RunStatus.CANCELLED, RunStatus.CANCELLED, RunStatus.COMPLETED,
    ]  # fmt: skip
    hatchet.runs.bulk_cancel(BulkCancelReplayOpts(ids=ids))  # ended runs are left alone
    assert hatchet.runs.get_status(ids[2]) is RunStatus.COMPLETED


async def test_a_task_failure_is_raised_though_its_run_was_cancelled_after_it(
    hatchet: Hatchet,
) -> None:
    """hatchet_sdk's ``aio_result`` raises whenever a task's result carries an error, and
    a cancelled task's carries none; its sync ``result()`` groups the errors of the run's
    details, where a cancelled task has none: either way the group holds the failure
    alone, not the cancellation of the task still running."""
    wf = hatchet.workflow(name="fail-then-cancel")

    @wf.task(retries=0)
    async def fail_fast(input: EmptyModel, ctx: Context) -> None:
        raise RuntimeError("boom")

    @wf.task()
    async def slow(input: EmptyModel, ctx: Context) -> dict[str, int]:
        await asyncio.sleep(30)
        return {"ok": 1}

    async with hatchet.worker("w", slots=3, workflows=[wf]):
        ref = await wf.aio_run(wait_for_result=False)
        await eventually(
            lambda: (
                hatchet.runs.get_details(ref.workflow_run_id).task_runs["fail_fast"].status
                == V1TaskStatus.FAILED
            )
        )
        await hatchet.runs.aio_cancel(ref.workflow_run_id)
        with pytest.raises(FailedTaskRunExceptionGroup) as raised:
            await ref.aio_result()
        with pytest.raises(FailedTaskRunExceptionGroup) as raised_sync:
            await asyncio.to_thread(ref.result)
        details = hatchet.runs.get_details(ref.workflow_run_id)
    assert details.status == RunStatus.FAILED  # as Hatchet's run_details example expects
    assert details.task_runs["slow"].status == V1TaskStatus.CANCELLED
    for group in (raised.value, raised_sync.value):
        assert [(e.exc_type, e.exc) for e in group.exceptions] == [("RuntimeError", "boom")]
