"""Scheduled runs and crons on the engine clock (a manual clock here), on every backend.

Hatchet: ``wf.schedule(run_at, input)`` runs the workflow at ``run_at``; ``on_crons=`` and
``wf.create_cron`` run it at every tick of a cron expression, with ``cron_input`` (or the
cron's input) as the run's input.
"""

from datetime import UTC, datetime

import pytest
from pydantic import BaseModel

from flowsim import Context, EmptyModel, Hatchet, RunStatus
from flowsim.clock import ManualClock
from flowsim.errors import (
    CronNotFoundError,
    InvalidInputError,
    RunNotFoundError,
    UnknownWorkflowError,
    UnsupportedFeatureError,
    WorkflowDefinitionError,
)
from tests.helpers import settle


class Job(BaseModel):
    n: int


def at(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, tz=UTC)


async def test_a_scheduled_run_is_claimed_at_its_time_not_before(
    hatchet: Hatchet, flowsim_clock: ManualClock
) -> None:
    @hatchet.task(name="later", input_validator=Job)
    async def later(input: Job, ctx: Context) -> dict[str, int]:
        return {"n": input.n}

    scheduled = later.schedule(at(60.0), Job(n=7), additional_metadata={"k": "v"})
    assert (scheduled.id, scheduled.metadata.id) == (scheduled.workflow_run_id,) * 2
    assert scheduled.trigger_at == at(60.0)
    async with hatchet.worker("w", slots=1, workflows=[later]):
        flowsim_clock.advance(59.999)
        await settle()
        view = hatchet.runs.view(scheduled.id)
        assert (view.status, view.tasks["later"].attempts) == (RunStatus.QUEUED, ())
        flowsim_clock.advance(0.001)
        await settle()
        for _ in range(50):
            view = hatchet.runs.view(scheduled.id)
            if view.status.is_terminal:
                break
            await settle()
    assert view.status is RunStatus.COMPLETED
    assert view.result() == {"later": {"n": 7}}
    assert view.additional_metadata == {"k": "v"}
    assert view.tasks["later"].attempts[0].started_at == 60.0


def test_schedule_rejects_bad_input_and_refuses_what_it_does_not_model(hatchet: Hatchet) -> None:
    @hatchet.task(name="typed", input_validator=Job)
    def typed(input: Job, ctx: Context) -> None:
        return None

    with pytest.raises(InvalidInputError, match="typed"):
        typed.schedule(at(10.0), {"n": "not a number"})
    with pytest.raises(InvalidInputError, match="datetime"):
        typed.schedule(10.0, Job(n=1))  # type: ignore[arg-type]
    with pytest.raises(UnsupportedFeatureError, match="child_key"):
        typed.schedule(at(10.0), Job(n=1), child_key="k")
    with pytest.raises(RunNotFoundError, match="any"):
        hatchet.scheduled.delete("any")
    assert hatchet.runs.views() == []


async def test_deleting_a_schedule_calls_off_its_run_until_the_run_starts(
    hatchet: Hatchet, flowsim_clock: ManualClock
) -> None:
    ran: list[int] = []

    @hatchet.task(name="maybe", input_validator=Job)
    async def maybe(input: Job, ctx: Context) -> dict[str, int]:
        ran.append(input.n)
        return {"n": input.n}

    called_off = maybe.schedule(at(60.0), Job(n=1))
    kept = hatchet.scheduled.create("maybe", at(30.0), {"n": 2})
    async with hatchet.worker("w", slots=1, workflows=[maybe]):
        await hatchet.scheduled.aio_delete(called_off.id)
        flowsim_clock.advance(30.0)
        assert await hatchet.runs.get_run_ref(kept.id).aio_result() == {"maybe": {"n": 2}}
        hatchet.scheduled.delete(kept.id)  # it already ran: left alone
        flowsim_clock.advance(60.0)
        await settle()
    assert ran == [2]
    assert hatchet.runs.view(called_off.id).status is RunStatus.CANCELLED
    assert hatchet.runs.view(kept.id).status is RunStatus.COMPLETED


async def test_on_crons_runs_the_workflow_at_every_tick_with_cron_input(
    hatchet: Hatchet, flowsim_clock: ManualClock
) -> None:
    seen: list[tuple[float, int]] = []
    wf = hatchet.workflow(
        name="every-five", input_validator=Job, on_crons=["*/5 * * * *"], cron_input=Job(n=3)
    )

    @wf.task()
    async def tick(input: Job, ctx: Context) -> None:
        seen.append((flowsim_clock.now(), input.n))

    async with hatchet.worker("w", slots=1, workflows=[wf]):
        for _ in range(3):
            flowsim_clock.advance(300.0)
            for _ in range(20):
                await settle()
    assert seen == [(300.0, 3), (600.0, 3), (900.0, 3)]
    assert len(hatchet.runs.views()) == 3


async def test_create_cron_list_and_delete(hatchet: Hatchet, flowsim_clock: ManualClock) -> None:
    seen: list[int] = []

    @hatchet.task(name="hourly", input_validator=Job)
    async def hourly(input: Job, ctx: Context) -> None:
        seen.append(input.n)

    cron = hourly.create_cron("report", "0 * * * *", Job(n=1))
    assert [c.metadata.id for c in hatchet.cron.list().rows or []] == [cron.metadata.id]
    async with hatchet.worker("w", slots=1, workflows=[hourly]):
        flowsim_clock.advance(3600.0)
        for _ in range(20):
            await settle()
        hatchet.cron.delete(cron.metadata.id)
        flowsim_clock.advance(3600.0)
        for _ in range(20):
            await settle()
    assert seen == [1]
    assert hatchet.cron.list().rows == []
    with pytest.raises(CronNotFoundError, match=cron.metadata.id):
        hatchet.cron.delete(cron.metadata.id)


def test_bad_cron_expressions_and_unknown_workflows_are_named(hatchet: Hatchet) -> None:
    with pytest.raises(WorkflowDefinitionError, match="every minute"):
        hatchet.workflow(name="bad-cron", on_crons=["every minute"])
    with pytest.raises(UnknownWorkflowError, match="nowhere"):
        hatchet.cron.create("nowhere", "c", "* * * * *")
    wf = hatchet.workflow(name="known")

    @wf.task()
    def noop(input: EmptyModel, ctx: Context) -> None:
        return None

    with pytest.raises(WorkflowDefinitionError, match="@daily"):
        wf.create_cron("c", "61 * * * *")
    assert hatchet.scheduled.create("known", at(5.0)).workflow_name == "known"
