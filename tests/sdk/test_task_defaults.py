"""``hatchet.workflow(..., task_defaults=TaskDefaults(...))``: a task option left at its
parameter default takes the workflow's value (hatchet_sdk 1.43's rule, including its quirk
that an option written out at the default value counts as left); ``task`` and
``durable_task`` take them, the on-failure and on-success tasks do not; a bad value is a
``WorkflowDefinitionError`` naming the field."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from flowsim import (
    Context,
    DurableContext,
    EmptyModel,
    FailedTaskRunExceptionGroup,
    Hatchet,
    TaskDefaults,
    WorkflowDefinitionError,
)
from flowsim.sdk.types import Priority

DEFAULTS = TaskDefaults(
    schedule_timeout=timedelta(minutes=1),
    execution_timeout=timedelta(seconds=30),
    retries=2,
    backoff_factor=2.0,
    backoff_max_seconds=10,
)


def test_tasks_that_set_nothing_take_every_default_and_set_options_win(hatchet: Hatchet) -> None:
    wf = hatchet.workflow(name="defaults", task_defaults=DEFAULTS)

    @wf.task()
    def plain(input: EmptyModel, ctx: Context) -> None: ...

    @wf.task(retries=5, execution_timeout=timedelta(seconds=3), backoff_factor=1.5)
    def own(input: EmptyModel, ctx: Context) -> None: ...

    @wf.durable_task()
    async def durable(input: EmptyModel, ctx: DurableContext) -> None: ...

    for task in (plain, durable):
        spec = task.spec
        assert (spec.schedule_timeout, spec.execution_timeout) == (60.0, 30.0)
        assert (spec.retries, spec.backoff_factor, spec.backoff_max_seconds) == (2, 2.0, 10)
    spec = own.spec
    assert (spec.retries, spec.execution_timeout, spec.backoff_factor) == (5, 3.0, 1.5)
    assert (spec.schedule_timeout, spec.backoff_max_seconds) == (60.0, 10)  # not set: defaults


def test_an_option_written_out_at_its_parameter_default_takes_the_workflows_as_in_hatchet_sdk(
    hatchet: Hatchet,
) -> None:
    wf = hatchet.workflow(name="quirk", task_defaults=TaskDefaults(retries=3))

    @wf.task(retries=0, execution_timeout=timedelta(seconds=60))
    def written_out(input: EmptyModel, ctx: Context) -> None: ...

    assert (written_out.spec.retries, written_out.spec.execution_timeout) == (3, 60.0)


def test_hooks_keep_their_own_options(hatchet: Hatchet) -> None:
    wf = hatchet.workflow(name="hooked", task_defaults=DEFAULTS)

    @wf.task()
    def work(input: EmptyModel, ctx: Context) -> None: ...

    @wf.on_failure_task()
    def failed(input: EmptyModel, ctx: Context) -> None: ...

    @wf.on_success_task()
    def succeeded(input: EmptyModel, ctx: Context) -> None: ...

    for hook in (failed, succeeded):
        assert (hook.spec.retries, hook.spec.execution_timeout) == (0, 60.0)


async def test_the_default_retries_are_the_ones_a_run_gets(hatchet: Hatchet) -> None:
    attempts: list[int] = []
    wf = hatchet.workflow(name="retried", task_defaults=TaskDefaults(retries=2))

    @wf.task()
    async def flaky(input: EmptyModel, ctx: Context) -> dict[str, int]:
        attempts.append(ctx.retry_count)
        if ctx.retry_count < 2:
            raise RuntimeError(f"attempt {ctx.retry_count} fails")
        return {"attempts": len(attempts)}

    @wf.task(parents=[flaky], retries=1)
    async def always_fails(input: EmptyModel, ctx: Context) -> None:
        attempts.append(100 + ctx.retry_count)
        raise RuntimeError("never")

    async with hatchet.worker("w", slots=2, workflows=[wf]):
        with pytest.raises(FailedTaskRunExceptionGroup, match="never"):
            await wf.aio_run()
    assert attempts == [0, 1, 2, 100, 101]


@pytest.mark.parametrize(
    ("given", "named"),
    [
        ({"priority": 4}, "priority"),
        ({"retries": "many"}, "retries"),
        ({"retry": 3}, "retry"),
    ],
)
def test_a_bad_task_defaults_is_refused_naming_the_field(
    hatchet: Hatchet, given: Any, named: str
) -> None:
    with pytest.raises(WorkflowDefinitionError, match=rf"workflow 'bad'.*{named}") as caught:
        hatchet.workflow(name="bad", task_defaults=given)
    assert "TaskDefaults(" in str(caught.value)


def test_task_defaults_come_from_a_mapping_and_priority_is_checked_but_applies_to_nothing(
    hatchet: Hatchet,
) -> None:
    wf = hatchet.workflow(name="mapped", task_defaults={"retries": 1, "priority": Priority.HIGH})

    @wf.task()
    def work(input: EmptyModel, ctx: Context) -> None: ...

    assert work.spec.retries == 1
    assert wf.task_defaults.priority == Priority.HIGH


def test_a_standalone_task_takes_no_task_defaults_as_in_hatchet_sdk(hatchet: Hatchet) -> None:
    with pytest.raises(TypeError, match="task_defaults"):
        hatchet.task(name="alone", task_defaults=DEFAULTS)  # type: ignore[call-arg]
