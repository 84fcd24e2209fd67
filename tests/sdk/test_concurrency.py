"""``concurrency=`` as hatchet_sdk takes it, on every backend: the forms it accepts, the
errors a bad limit gives (at definition, or when a run is triggered) naming the workflow
and the expression, and what a waiter of a run a strategy cancelled receives."""

import asyncio
import threading
from typing import Any

import pytest
from pydantic import BaseModel, ValidationError

from flowsim import (
    ConcurrencyExpression,
    ConcurrencyLimitStrategy,
    Context,
    EmptyModel,
    Hatchet,
    InvalidInputError,
    RunCancelledError,
    RunStatus,
)
from flowsim.errors import WorkflowDefinitionError
from flowsim.rules import CONCURRENCY_CANCEL_REASON
from tests.helpers import eventually


class Grouped(BaseModel):
    group: str


def _limit(expression: str, strategy: str = "GROUP_ROUND_ROBIN", max_runs: int = 1) -> Any:
    return ConcurrencyExpression(expression=expression, max_runs=max_runs,
                                 limit_strategy=ConcurrencyLimitStrategy(strategy))  # fmt: skip


def test_an_expression_outside_the_modelled_cel_is_refused_at_definition(
    hatchet: Hatchet,
) -> None:
    with pytest.raises(WorkflowDefinitionError, match=r"workflow 'scored'.*input\.score > 3"):
        hatchet.workflow(name="scored", concurrency=_limit("input.score > 3"))
    wf = hatchet.workflow(name="tasked")
    with pytest.raises(WorkflowDefinitionError, match=r"workflow 'tasked' task 'step'.*size\("):

        @wf.task(concurrency=[_limit("size(input.items)")])
        def step(input: EmptyModel, ctx: Context) -> None: ...


def test_max_runs_must_be_positive_as_in_hatchet_sdk(hatchet: Hatchet) -> None:
    with pytest.raises(ValidationError, match="greater than 0"):
        _limit("input.group", max_runs=0)
    with pytest.raises(WorkflowDefinitionError, match="greater than 0"):
        hatchet.workflow(name="none", concurrency=0)


async def test_a_key_a_run_cannot_evaluate_is_refused_when_triggered_and_nothing_runs(
    hatchet: Hatchet,
) -> None:
    wf = hatchet.workflow(name="keyed", concurrency=_limit("additional_metadata.tenant"))

    @wf.task()
    async def step(input: EmptyModel, ctx: Context) -> None: ...

    with pytest.raises(InvalidInputError, match=r"workflow 'keyed'.*additional_metadata\.tenant"):
        await wf.aio_run(wait_for_result=False)
    with pytest.raises(InvalidInputError, match="must be a string"):
        await wf.aio_run(additional_metadata={"tenant": 7}, wait_for_result=False)
    assert hatchet.runs.views() == []


async def test_a_bulk_trigger_with_a_bad_key_past_its_first_batch_creates_nothing(
    hatchet: Hatchet,
) -> None:
    """A bulk trigger is written in batches of 1,000, but every key is checked first."""
    wf = hatchet.workflow(name="keyed-bulk", concurrency=_limit("additional_metadata.tenant"))

    @wf.task()
    async def step(input: EmptyModel, ctx: Context) -> None: ...

    items = [
        wf.create_bulk_run_item(additional_metadata={"tenant": "t" if i != 1_500 else 7})
        for i in range(2_000)
    ]
    with pytest.raises(InvalidInputError, match="must be a string"):
        await wf.aio_run_many(items, wait_for_result=False)
    assert hatchet.runs.views() == []


async def test_an_int_limit_is_n_runs_at_once_and_a_dict_is_an_expression(
    hatchet: Hatchet,
) -> None:
    running: list[int] = []
    most: list[int] = [0]
    release = asyncio.Event()

    async def body() -> None:
        running.append(1)
        most[0] = max(most[0], len(running))
        await release.wait()
        running.pop()

    two = hatchet.workflow(name="two-at-once", concurrency=2)

    @two.task()
    async def step(input: EmptyModel, ctx: Context) -> None:
        await body()

    keyed = hatchet.workflow(name="dict-limit", input_validator=Grouped)

    @keyed.task(concurrency=[{"expression": "input.group", "max_runs": 1,
                              "limit_strategy": "GROUP_ROUND_ROBIN"}])  # fmt: skip
    async def grouped(input: Grouped, ctx: Context) -> None:
        await body()

    async with hatchet.worker("w", slots=10, workflows=[two, keyed]):
        refs = [await two.aio_run(wait_for_result=False) for _ in range(5)]
        refs += [await keyed.aio_run(Grouped(group=g), wait_for_result=False) for g in "AAB"]
        await eventually(lambda: len(running) == 4)  # two of five, then one A and the B
        await asyncio.sleep(0.05)
        assert len(running) == 4
        release.set()
        await asyncio.gather(*(ref.aio_result() for ref in refs))
    assert most[0] == 4


async def test_the_waiters_of_a_run_a_strategy_cancelled_get_what_hatchet_sdk_gives(
    hatchet: Hatchet,
) -> None:
    started = threading.Event()
    wf = hatchet.workflow(
        name="newest-wins", input_validator=Grouped,
        concurrency=_limit("input.group", "CANCEL_IN_PROGRESS"),
    )  # fmt: skip

    @wf.task()
    async def step(input: Grouped, ctx: Context) -> None:
        started.set()
        await asyncio.sleep(30)

    async with hatchet.worker("w", slots=4, workflows=[wf]):
        first = await wf.aio_run(Grouped(group="A"), wait_for_result=False)
        await eventually(started.is_set)
        second = await wf.aio_run(Grouped(group="A"), wait_for_result=False)
        # the engine reports the cancelled task without an error: the async result is empty
        assert await asyncio.wait_for(first.aio_result(), 10) == {}
        error = hatchet.runs.view(first.workflow_run_id).tasks["step"].error
        assert error is not None and error.exc == CONCURRENCY_CANCEL_REASON
        # the sync result() of a cancelled run raises hatchet_sdk's ValueError
        with pytest.raises(RunCancelledError, match="was cancelled"):
            await asyncio.to_thread(first.result)
        assert hatchet.runs.get_status(first.workflow_run_id) == RunStatus.CANCELLED
        await hatchet.runs.aio_cancel(second.workflow_run_id)


async def test_a_run_triggered_from_another_thread_cancels_a_sync_holder_for_good(
    hatchet: Hatchet,
) -> None:
    """The holder is a sync task (its thread cannot be interrupted) and the newcomer is
    triggered with the blocking ``run(wait_for_result=False)`` from a thread: the holder's
    late result is ignored, its run stays CANCELLED, and the newcomer runs."""
    started, finish = threading.Event(), threading.Event()
    wf = hatchet.workflow(
        name="sync-holder", input_validator=Grouped,
        concurrency=_limit("input.group", "CANCEL_IN_PROGRESS"),
    )  # fmt: skip

    @wf.task()
    def step(input: Grouped, ctx: Context) -> dict[str, bool]:
        if not started.is_set():
            started.set()
            finish.wait(10)
        return {"finished": True}

    async with hatchet.worker("w", slots=4, workflows=[wf]):
        first = await wf.aio_run(Grouped(group="A"), wait_for_result=False)
        await eventually(started.is_set)
        second = await asyncio.to_thread(wf.run, Grouped(group="A"), wait_for_result=False)
        assert await asyncio.wait_for(first.aio_result(), 10) == {}
        finish.set()  # the cancelled attempt now returns: too late to count
        assert await asyncio.wait_for(second.aio_result(), 10) == {"step": {"finished": True}}
    assert hatchet.runs.get_status(first.workflow_run_id) == RunStatus.CANCELLED


def _shared(name: str, max_runs: int = 1, expression: str = "input.group") -> Any:
    return ConcurrencyExpression(
        expression=expression,
        max_runs=max_runs,
        limit_strategy=ConcurrencyLimitStrategy.GROUP_ROUND_ROBIN,
        name=name,
        is_tenant_scoped=True,
    )


async def test_a_tenant_scoped_limit_is_shared_by_every_task_declaring_its_name(
    hatchet: Hatchet,
) -> None:
    """Hatchet's shared-limit example: two tasks in two workflows consume one limit of one
    place per group, so their runs of one group never overlap; another group's do."""
    limit = _shared("example-shared-limit")

    @hatchet.task(name="sync-crm", input_validator=Grouped, concurrency=[limit])
    async def sync_crm(input: Grouped, ctx: Context) -> None:
        await asyncio.sleep(0.2)

    @hatchet.task(name="generate-report", input_validator=Grouped, concurrency=[limit])
    async def generate_report(input: Grouped, ctx: Context) -> None:
        await asyncio.sleep(0.2)

    async with hatchet.worker("w", slots=4, workflows=[sync_crm, generate_report]):
        refs = [
            await sync_crm.aio_run(Grouped(group="acme"), wait_for_result=False),
            await generate_report.aio_run(Grouped(group="acme"), wait_for_result=False),
            await generate_report.aio_run(Grouped(group="globex"), wait_for_result=False),
        ]
        for ref in refs:
            await ref.aio_result()

    windows = []
    for ref in refs:
        (task,) = hatchet.runs.view(ref.workflow_run_id).tasks.values()
        (attempt,) = task.attempts
        assert attempt.started_at is not None and attempt.finished_at is not None
        windows.append((attempt.started_at, attempt.finished_at))
    (crm, report, other) = windows
    assert crm[1] <= report[0]  # one place for acme across both workflows
    assert other[0] < crm[1]  # globex had a place of its own meanwhile


async def test_a_shared_limit_defined_two_ways_or_ordered_two_ways_is_refused(
    hatchet: Hatchet,
) -> None:
    @hatchet.task(name="one-place", concurrency=[_shared("api")])
    async def one_place(input: EmptyModel, ctx: Context) -> None: ...

    @hatchet.task(name="two-places", concurrency=[_shared("api", max_runs=2)])
    async def two_places(input: EmptyModel, ctx: Context) -> None: ...

    with pytest.raises(WorkflowDefinitionError, match=r"shared concurrency limit 'api'"):
        async with hatchet.worker("w", slots=1, workflows=[one_place, two_places]):
            pass

    @hatchet.task(name="api-then-db", concurrency=[_shared("api"), _shared("db")])
    async def api_then_db(input: EmptyModel, ctx: Context) -> None: ...

    @hatchet.task(name="db-then-api", concurrency=[_shared("db"), _shared("api")])
    async def db_then_api(input: EmptyModel, ctx: Context) -> None: ...

    async with hatchet.worker("first", slots=1, workflows=[api_then_db]):
        with pytest.raises(WorkflowDefinitionError, match=r"'db' before 'api'.*one order"):
            async with hatchet.worker("second", slots=1, workflows=[db_then_api]):
                pass


class Tiered(BaseModel):
    customer: str
    tier: str


async def test_a_max_runs_expression_gives_each_group_its_own_limit(hatchet: Hatchet) -> None:
    """Hatchet's dynamic limits example, ``input.tier == 'premium' ? 2 : 1``: a premium
    customer runs two at a time, a free one one at a time."""
    running: dict[str, int] = {}
    most: dict[str, int] = {}
    lock = threading.Lock()
    limit = ConcurrencyExpression(
        expression="input.customer",
        max_runs="input.tier == 'premium' ? 2 : 1",
        limit_strategy=ConcurrencyLimitStrategy.GROUP_ROUND_ROBIN,
    )

    @hatchet.task(name="tiered", input_validator=Tiered, concurrency=[limit])
    async def tiered(input: Tiered, ctx: Context) -> None:
        with lock:
            running[input.customer] = running.get(input.customer, 0) + 1
            most[input.customer] = max(most.get(input.customer, 0), running[input.customer])
        await asyncio.sleep(0.1)
        with lock:
            running[input.customer] -= 1

    async with hatchet.worker("w", slots=10, workflows=[tiered]):
        items = [tiered.create_bulk_run_item(Tiered(customer=c, tier=t))
                 for c, t in [("acme", "premium"), ("bob", "free")] for _ in range(4)]  # fmt: skip
        await tiered.aio_run_many(items)
    assert most == {"acme": 2, "bob": 1}


def test_a_max_runs_expression_is_checked_when_defined_and_when_triggered(
    hatchet: Hatchet,
) -> None:
    def limited(max_runs: str) -> Any:
        return ConcurrencyExpression(
            expression="input.customer",
            max_runs=max_runs,
            limit_strategy=ConcurrencyLimitStrategy.GROUP_ROUND_ROBIN,
        )

    with pytest.raises(WorkflowDefinitionError, match=r"max_runs expression 'size\(input"):
        hatchet.workflow(name="sized", concurrency=limited("size(input.seats)"))
    wf = hatchet.workflow(name="seats", concurrency=limited("input.tier == 'x' ? 0 : input.n"))

    @wf.task()
    def book(input: Any, ctx: Context) -> None: ...

    with pytest.raises(InvalidInputError, match=r"gave 0; it must give a positive integer"):
        wf.run({"customer": "a", "tier": "x"}, wait_for_result=False)
    with pytest.raises(InvalidInputError, match=r"cannot be evaluated: no such key: n"):
        wf.run({"customer": "a", "tier": "y"}, wait_for_result=False)
    assert hatchet.runs.views() == []  # nothing was queued
