"""Mirrors sdks/python/examples/conditions (worker.py, test_conditions.py) of hatchet-dev/hatchet.

The example's big DAG ``TaskConditionWorkflow``: ``start`` returns a random number;
``wait_for_sleep`` waits 10 s after it; ``skip_with_multiple_parents`` is skipped by a
parent condition on ``start``; ``skip_on_event`` waits 30 s unless the event
``skip_on_event:skip`` skips it first; ``left_branch``/``right_branch`` skip on opposite
expressions of ``wait_for_sleep``'s output; ``wait_for_event`` waits for ``or_(1 minute,
event wait_for_event:start)``; ``wait_for_or_groups`` waits for two OR groups; ``sum`` adds
what ran, reading ``ctx.was_skipped``. Smaller workflows cancel on a parent expression, an
event, a sleep or an OR group (their downstream task is cancelled too), skip on a sleep
unless an event comes first, skip on an OR group of parent conditions, and wait for an
event alone. The e2e test asserts the skipped outputs ``{"skipped": True}``, that exactly
one branch ran, the sum, the CANCELLED run statuses and the targets' outputs; we assert
the same on the manual clock (the example's real seconds cost none here), on every
backend."""

import asyncio
import random
from datetime import timedelta
from types import ModuleType
from typing import Any

import pytest
from pydantic import BaseModel

from flowsim import Hatchet, ManualClock
from flowsim.rules import RunStatus
from tests.helpers import eventually


class StepOutput(BaseModel):
    random_number: int


class RandomSum(BaseModel):
    sum: int


def status_of(hatchet: Hatchet, run_id: str, task: str) -> RunStatus | None:
    view = hatchet.runs.view(run_id)
    found = view.tasks.get(task)
    return found.status if found is not None else None


async def completed(hatchet: Hatchet, run_id: str, task: str) -> None:
    """Wait until ``task`` completed: its children's conditions are registered then."""
    await eventually(lambda: status_of(hatchet, run_id, task) is RunStatus.COMPLETED)


def big_dag(hatchet: Hatchet, name: str = "TaskConditionWorkflow", extras: bool = True) -> Any:
    """The example's DAG; without ``extras`` (``skip_with_multiple_parents``,
    ``wait_for_or_groups``) it is the waits example's ``DAGWaitingWorkflow``."""
    from hatchet_sdk import (
        Context,
        EmptyModel,
        ParentCondition,
        SleepCondition,
        UserEventCondition,
        or_,
    )

    wf = hatchet.workflow(name=name)

    @wf.task()
    def start(input: EmptyModel, ctx: Context) -> StepOutput:
        return StepOutput(random_number=random.randint(1, 100))

    @wf.task(parents=[start], wait_for=[SleepCondition(timedelta(seconds=10))])
    def wait_for_sleep(input: EmptyModel, ctx: Context) -> StepOutput:
        return StepOutput(random_number=random.randint(1, 100))

    @wf.task(
        parents=[start],
        wait_for=[SleepCondition(timedelta(seconds=30))],
        skip_if=[UserEventCondition(event_key="skip_on_event:skip")],
    )
    def skip_on_event(input: EmptyModel, ctx: Context) -> StepOutput:
        return StepOutput(random_number=random.randint(1, 100))

    @wf.task(
        parents=[wait_for_sleep],
        skip_if=[ParentCondition(parent=wait_for_sleep, expression="output.random_number > 50")],
    )
    def left_branch(input: EmptyModel, ctx: Context) -> StepOutput:
        return StepOutput(random_number=random.randint(1, 100))

    @wf.task(
        parents=[wait_for_sleep],
        skip_if=[ParentCondition(parent=wait_for_sleep, expression="output.random_number <= 50")],
    )
    def right_branch(input: EmptyModel, ctx: Context) -> StepOutput:
        return StepOutput(random_number=random.randint(1, 100))

    @wf.task(
        parents=[start],
        wait_for=[
            or_(
                SleepCondition(duration=timedelta(minutes=1)),
                UserEventCondition(event_key="wait_for_event:start"),
            )
        ],
    )
    def wait_for_event(input: EmptyModel, ctx: Context) -> StepOutput:
        return StepOutput(random_number=random.randint(1, 100))

    if extras:

        @wf.task(
            parents=[start, wait_for_sleep],
            skip_if=[ParentCondition(parent=start, expression="output.random_number > 0")],
        )
        def skip_with_multiple_parents(input: EmptyModel, ctx: Context) -> StepOutput:
            return StepOutput(random_number=random.randint(1, 100))

        @wf.task(
            parents=[start],
            wait_for=[
                or_(
                    ParentCondition(parent=start, expression="output.random_number > 50"),
                    SleepCondition(duration=timedelta(seconds=30)),
                ),
                or_(
                    ParentCondition(parent=start, expression="output.random_number > 50"),
                    UserEventCondition(event_key="payment:processed"),
                ),
            ],
        )
        def wait_for_or_groups(input: EmptyModel, ctx: Context) -> StepOutput:
            return StepOutput(random_number=random.randint(1, 100))

    @wf.task(
        parents=[start, wait_for_sleep, wait_for_event, skip_on_event, left_branch,
                 right_branch],
    )  # fmt: skip
    def sum(input: EmptyModel, ctx: Context) -> RandomSum:
        one = ctx.task_output(start).random_number
        two = ctx.task_output(wait_for_event).random_number
        three = ctx.task_output(wait_for_sleep).random_number
        four = 0 if ctx.was_skipped(skip_on_event) else ctx.task_output(skip_on_event).random_number
        five = 0 if ctx.was_skipped(left_branch) else ctx.task_output(left_branch).random_number
        six = 0 if ctx.was_skipped(right_branch) else ctx.task_output(right_branch).random_number
        return RandomSum(sum=one + two + three + four + five + six)

    return wf


async def test_waits(hatchet_sdk: ModuleType, hatchet: Hatchet, flowsim_clock: ManualClock) -> None:
    wf = big_dag(hatchet)
    async with hatchet.worker("dag-worker", workflows=[wf]):
        ref = wf.run(wait_for_result=False)
        await completed(hatchet, ref.workflow_run_id, "start")
        # nothing waiting on a sleep has run yet: the clock has not moved
        assert status_of(hatchet, ref.workflow_run_id, "wait_for_sleep") is RunStatus.QUEUED
        flowsim_clock.advance(15)
        await completed(hatchet, ref.workflow_run_id, "wait_for_sleep")
        hatchet.event.push("skip_on_event:skip", {})
        hatchet.event.push("wait_for_event:start", {})
        hatchet.event.push("payment:processed", {})
        flowsim_clock.advance(30)  # wait_for_or_groups' sleep, if its parent test failed
        result = await asyncio.wait_for(ref.aio_result(), 10)

    assert result["skip_on_event"] == {"skipped": True}
    left, right = result["left_branch"], result["right_branch"]
    assert (left.get("skipped") is True) != (right.get("skipped") is True)
    assert result["skip_with_multiple_parents"].get("skipped") is True
    branch = left.get("random_number") or right.get("random_number")
    assert result["sum"]["sum"] == (
        result["start"]["random_number"]
        + result["wait_for_event"]["random_number"]
        + result["wait_for_sleep"]["random_number"]
        + branch
    )
    assert hatchet.runs.get_status(ref.workflow_run_id) is RunStatus.COMPLETED


async def test_an_event_pushed_before_the_wait_began_is_not_seen(
    hatchet_sdk: ModuleType, hatchet: Hatchet, flowsim_clock: ManualClock
) -> None:
    """The example's comment: conditions are registered when the parents completed; an
    unmatched event is dropped. Here the event comes first; the one-minute sleep decides."""
    wf = big_dag(hatchet)
    async with hatchet.worker("dag-worker", workflows=[wf]):
        hatchet.event.push("wait_for_event:start", {})
        ref = wf.run(wait_for_result=False)
        await completed(hatchet, ref.workflow_run_id, "start")
        flowsim_clock.advance(59)
        await completed(hatchet, ref.workflow_run_id, "wait_for_sleep")
        assert status_of(hatchet, ref.workflow_run_id, "wait_for_event") is RunStatus.QUEUED
        hatchet.event.push("payment:processed", {})
        flowsim_clock.advance(1)
        result = await asyncio.wait_for(ref.aio_result(), 10)
    # the 30 s sleep elapsed before any skip event: skip_on_event ran
    assert "random_number" in result["skip_on_event"]
    assert "random_number" in result["wait_for_event"]


def gated(hatchet: Hatchet, name: str, prefix: str, **conditions: Any) -> Any:
    """The cancel_if example's small DAGs: ``<prefix>_start``, then ``<prefix>_target``
    gated by ``conditions`` (wait_for=, cancel_if=), then ``<prefix>_downstream``."""
    from hatchet_sdk import Context, EmptyModel

    wf = hatchet.workflow(name=name)

    @wf.task(name=f"{prefix}_start")
    def start(input: EmptyModel, ctx: Context) -> StepOutput:
        return StepOutput(random_number=1)

    @wf.task(name=f"{prefix}_target", parents=[start], **conditions)
    def target(input: EmptyModel, ctx: Context) -> StepOutput:
        return StepOutput(random_number=2)

    @wf.task(name=f"{prefix}_downstream", parents=[target])
    def downstream(input: EmptyModel, ctx: Context) -> StepOutput:
        return StepOutput(random_number=3)

    return wf


def cancel_workflows(hatchet: Hatchet) -> dict[str, Any]:
    from hatchet_sdk import (
        Context,
        EmptyModel,
        ParentCondition,
        SleepCondition,
        UserEventCondition,
        or_,
    )

    made: dict[str, Any] = {}

    cancel_if = hatchet.workflow(name="CancelIfWorkflow")

    @cancel_if.task()
    async def start_cancel_if(input: EmptyModel, ctx: Context) -> StepOutput:
        return StepOutput(random_number=2)

    @cancel_if.task(
        parents=[start_cancel_if],
        cancel_if=[ParentCondition(parent=start_cancel_if, expression="output.random_number > 1")],
    )
    async def cancel_if_task(input: EmptyModel, ctx: Context) -> StepOutput:
        return StepOutput(random_number=3)  # should not run

    @cancel_if.task(parents=[cancel_if_task])
    async def downstream_skip(input: EmptyModel, ctx: Context) -> StepOutput:
        return StepOutput(random_number=3)  # should not run

    made["parent"] = cancel_if

    made["event"] = gated(
        hatchet,
        "CancelIfEventWorkflow",
        "cie",
        wait_for=[SleepCondition(timedelta(seconds=30))],
        cancel_if=[UserEventCondition(event_key="cancel_if_event:abort")],
    )
    made["sleep"] = gated(
        hatchet,
        "CancelIfSleepWorkflow",
        "cis",
        wait_for=[UserEventCondition(event_key="cancel_if_sleep:proceed")],
        cancel_if=[SleepCondition(timedelta(seconds=8))],
    )
    made["or"] = gated(
        hatchet,
        "CancelIfOrGroupWorkflow",
        "cio",
        wait_for=[UserEventCondition(event_key="cancel_if_or:proceed")],
        cancel_if=[
            or_(
                UserEventCondition(event_key="cancel_if_or:abort"),
                SleepCondition(timedelta(seconds=8)),
            )
        ],
    )
    return made


async def finish(ref: Any, first: str) -> None:
    """Hatchet's tests await the cancelled run's result, then assert its status: a
    cancelled task's result carries no error, so the result holds the output of the task
    that completed before the cancellation, and nothing else."""
    result = await asyncio.wait_for(ref.aio_result(), 10)
    assert list(result) == [first]


@pytest.mark.parametrize("case", ["parent", "event", "sleep", "or"])
async def test_cancel_if(
    hatchet_sdk: ModuleType, hatchet: Hatchet, flowsim_clock: ManualClock, case: str
) -> None:
    workflows = cancel_workflows(hatchet)
    wf = workflows[case]
    first = next(iter(wf.spec.tasks))
    async with hatchet.worker("dag-worker", workflows=list(workflows.values())):
        ref = wf.run(wait_for_result=False)
        await completed(hatchet, ref.workflow_run_id, first)
        if case == "event":
            flowsim_clock.advance(3)
            hatchet.event.push("cancel_if_event:abort", {})
        elif case in ("sleep", "or"):
            flowsim_clock.advance(8)
        await finish(ref, first)
    view = hatchet.runs.view(ref.workflow_run_id)
    assert view.status is RunStatus.CANCELLED
    target, downstream = list(wf.spec.tasks)[1:]
    assert view.tasks[target].status is RunStatus.CANCELLED
    error = view.tasks[target].error
    assert error is not None and "cancel_if" in error.exc  # the stored reason names it
    assert view.tasks[downstream].status is RunStatus.CANCELLED
    assert not view.tasks[target].attempts  # it never ran


def skip_workflows(hatchet: Hatchet) -> tuple[Any, Any, Any]:
    from hatchet_sdk import (
        Context,
        EmptyModel,
        ParentCondition,
        SleepCondition,
        UserEventCondition,
        or_,
    )

    sis = hatchet.workflow(name="SkipIfSleepWorkflow")

    @sis.task()
    def sis_start(input: EmptyModel, ctx: Context) -> StepOutput:
        return StepOutput(random_number=1)

    @sis.task(
        parents=[sis_start],
        wait_for=[UserEventCondition(event_key="skip_if_sleep:proceed")],
        skip_if=[SleepCondition(timedelta(seconds=8))],
    )
    def sis_target(input: EmptyModel, ctx: Context) -> StepOutput:
        return StepOutput(random_number=2)

    sio = hatchet.workflow(name="SkipIfOrGroupWorkflow")

    @sio.task()
    def sio_start(input: EmptyModel, ctx: Context) -> StepOutput:
        return StepOutput(random_number=random.randint(1, 100))

    @sio.task(
        parents=[sio_start],
        skip_if=[
            or_(
                ParentCondition(parent=sio_start, expression="output.random_number >= 1"),
                ParentCondition(parent=sio_start, expression="output.random_number > 1000"),
            )
        ],
    )
    def sio_target(input: EmptyModel, ctx: Context) -> StepOutput:
        return StepOutput(random_number=2)

    wfe = hatchet.workflow(name="WaitForEventOnlyWorkflow")

    @wfe.task()
    def wfe_start(input: EmptyModel, ctx: Context) -> StepOutput:
        return StepOutput(random_number=1)

    @wfe.task(
        parents=[wfe_start],
        wait_for=[UserEventCondition(event_key="wait_for_event_only:go")],
    )
    def wfe_target(input: EmptyModel, ctx: Context) -> StepOutput:
        return StepOutput(random_number=5)

    return sis, sio, wfe


async def test_skip_if_sleep_skips_when_sleep_wins(
    hatchet_sdk: ModuleType, hatchet: Hatchet, flowsim_clock: ManualClock
) -> None:
    sis, sio, wfe = skip_workflows(hatchet)
    async with hatchet.worker("dag-worker", workflows=[sis, sio, wfe]):
        ref = sis.run(wait_for_result=False)
        await completed(hatchet, ref.workflow_run_id, "sis_start")
        flowsim_clock.advance(8)
        result = await asyncio.wait_for(ref.aio_result(), 10)
    assert result["sis_target"] == {"skipped": True}
    assert hatchet.runs.get_status(ref.workflow_run_id) is RunStatus.COMPLETED


async def test_skip_if_sleep_runs_when_event_wins(
    hatchet_sdk: ModuleType, hatchet: Hatchet, flowsim_clock: ManualClock
) -> None:
    sis, sio, wfe = skip_workflows(hatchet)
    async with hatchet.worker("dag-worker", workflows=[sis, sio, wfe]):
        ref = sis.run(wait_for_result=False)
        await completed(hatchet, ref.workflow_run_id, "sis_start")
        flowsim_clock.advance(3)
        await hatchet.event.aio_push("skip_if_sleep:proceed", {})
        result = await asyncio.wait_for(ref.aio_result(), 10)
    assert result["sis_target"].get("skipped") is not True
    assert result["sis_target"]["random_number"] == 2


async def test_skip_if_or_group_parent(hatchet_sdk: ModuleType, hatchet: Hatchet) -> None:
    sis, sio, wfe = skip_workflows(hatchet)
    async with hatchet.worker("dag-worker", workflows=[sis, sio, wfe]):
        result = await sio.aio_run()
    assert result["sio_target"] == {"skipped": True}


async def test_wait_for_user_event(
    hatchet_sdk: ModuleType, hatchet: Hatchet, flowsim_clock: ManualClock
) -> None:
    sis, sio, wfe = skip_workflows(hatchet)
    async with hatchet.worker("dag-worker", workflows=[sis, sio, wfe]):
        ref = wfe.run(wait_for_result=False)
        await completed(hatchet, ref.workflow_run_id, "wfe_start")
        flowsim_clock.advance(3600)  # no sleep here: time alone changes nothing
        hatchet.event.push("wait_for_event_only:other", {})
        assert status_of(hatchet, ref.workflow_run_id, "wfe_target") is RunStatus.QUEUED
        await hatchet.event.aio_push("wait_for_event_only:go", {})
        result = await asyncio.wait_for(ref.aio_result(), 10)
    assert result["wfe_target"]["random_number"] == 5
