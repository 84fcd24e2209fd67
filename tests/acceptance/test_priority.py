"""Mirrors sdks/python/examples/priority (worker.py, test_priority.py) of hatchet-dev/hatchet.

The example: ``PriorityWorkflow`` (``default_priority=2``) whose one task sleeps, on a
worker with one slot; its e2e test triggers 30 runs with priorities drawn from low, medium,
high and "default" (behind 40 high-priority dummy runs that keep the worker busy, so all 30
are queued before any starts), waits for all, sorts them by start time and asserts, for
each consecutive pair: start times in priority order (``priority(curr) >= priority(next)``),
one at a time (``curr.finished_at <= next.finished_at``, ``next.finished_at >=
next.started_at``) and each run finishing after it started. A second test does the same for
runs scheduled for one instant (``aio_schedule``). We assert the same on every backend.

Differences, on purpose: the example serialises runs with a concurrency limit of 1 *and* a
one-slot worker; flowsim refuses ``concurrency=`` on this branch, and the one slot alone
gives the same order. Our "dummy" run is one that holds the slot until all 30 are queued
(an event rather than 40 runs and a 3 s sleep). The task sleeps 5 ms, not 1 s. The cron
variant of the test (runs on the next minute) is not mirrored.
"""

import asyncio
import itertools
import random
import time
from datetime import UTC, datetime, timedelta
from types import ModuleType
from typing import Any

from flowsim import Hatchet, RunStatus
from flowsim.store.protocol import RunView
from tests.helpers import eventually

DEFAULT_PRIORITY = 2
SLEEP_TIME = 0.005
N = 30
PRIORITIES = {"low": 1, "medium": 2, "high": 3, "default": DEFAULT_PRIORITY}


def define(hatchet: Hatchet) -> Any:
    from hatchet_sdk import Context, EmptyModel

    priority_workflow = hatchet.workflow(name="PriorityWorkflow", default_priority=DEFAULT_PRIORITY)

    @priority_workflow.task()
    def priority_task(input: EmptyModel, ctx: Context) -> None:
        time.sleep(SLEEP_TIME)

    return priority_workflow


def _priority_of(view: RunView) -> int:
    return PRIORITIES[view.additional_metadata["priority"]]


def assert_run_in_priority_order(views: list[RunView]) -> None:
    """The e2e test's assertions, over the runs sorted by their start time."""
    timed = sorted(
        (
            (attempt.started_at, attempt.finished_at or 0.0, _priority_of(view))
            for view in views
            for attempt in view.tasks["priority_task"].attempts
        ),
        key=lambda entry: entry[0],
    )
    assert len(timed) == N
    for (started, finished, priority), (
        next_started,
        next_finished,
        next_priority,
    ) in itertools.pairwise(timed):
        assert priority >= next_priority  # run start times are in order of priority
        assert finished <= next_finished  # runs proceed one at a time
        assert next_finished >= next_started
        assert finished >= started


def _views(hatchet: Hatchet, run_ids: list[str]) -> list[RunView]:
    return [view for view in hatchet.runs.views() if view.id in set(run_ids)]


def _choices(seed: int) -> list[str]:
    chooser = random.Random(seed)
    return [chooser.choice(list(PRIORITIES)) for _ in range(N)]


async def test_queued_runs_start_in_priority_order_one_at_a_time(
    hatchet_sdk: ModuleType, hatchet: Hatchet
) -> None:
    from hatchet_sdk import Context, EmptyModel, TriggerWorkflowOptions

    priority_workflow = define(hatchet)
    all_queued = asyncio.Event()

    @hatchet.task(name="Dummy", default_priority=3)
    async def dummy(input: EmptyModel, ctx: Context) -> None:
        await all_queued.wait()  # holds the only slot while the test runs queue up

    async with hatchet.worker("priority-worker", slots=1, workflows=[priority_workflow, dummy]):
        blocker = await dummy.aio_run(wait_for_result=False)
        refs = await priority_workflow.aio_run_many(
            [
                priority_workflow.create_bulk_run_item(
                    options=TriggerWorkflowOptions(
                        priority=PRIORITIES[name],
                        additional_metadata={"priority": name, "key": index},
                    )
                )
                for index, name in enumerate(_choices(seed=6))
            ],
            wait_for_result=False,
        )
        all_queued.set()
        await blocker.aio_result()
        await asyncio.gather(*(ref.aio_result() for ref in refs))
    assert_run_in_priority_order(_views(hatchet, [ref.workflow_run_id for ref in refs]))


async def test_runs_scheduled_for_one_instant_start_in_priority_order(
    hatchet_sdk: ModuleType, hatchet: Hatchet
) -> None:
    priority_workflow = define(hatchet)
    run_at = datetime.now(UTC) + timedelta(seconds=1)
    scheduled = [
        await priority_workflow.aio_schedule(
            run_at=run_at,
            additional_metadata={"priority": name, "key": index},
            priority=PRIORITIES[name],
        )
        for index, name in enumerate(_choices(seed=7))
    ]
    ids = [item.workflow_run_id for item in scheduled]
    async with hatchet.worker("priority-worker", slots=1, workflows=[priority_workflow]):
        # the e2e test polls the runs API until every run completed; so do we
        await eventually(
            lambda: all(hatchet.runs.get_status(i) is RunStatus.COMPLETED for i in ids), 30.0
        )
    assert_run_in_priority_order(_views(hatchet, ids))
