"""Concurrency limits in virtual time: the simulator runs the real engine on the in-memory
store, so a limit throttles a simulated workload exactly as it throttles a real one."""

import asyncio
import uuid
from typing import Any

from pydantic import BaseModel

from flowsim import (
    ConcurrencyExpression,
    ConcurrencyLimitStrategy,
    Context,
    Hatchet,
)
from flowsim.rules import CONCURRENCY_CANCEL_REASON
from flowsim.sim import VirtualTimeLoop, run_virtual, virtual_backend


class Grouped(BaseModel):
    group: str


def _per_group(max_runs: int, strategy: ConcurrencyLimitStrategy) -> ConcurrencyExpression:
    return ConcurrencyExpression(expression="input.group", max_runs=max_runs,
                                 limit_strategy=strategy)  # fmt: skip


def _throttled(max_runs: int | None) -> tuple[float, list[float]]:
    """40 ten-second runs in four groups on a 100-slot worker, optionally limited to
    ``max_runs`` per group: the makespan and each run's wait in the queue."""

    async def main(loop: VirtualTimeLoop) -> tuple[float, list[float]]:
        hatchet = Hatchet(virtual_backend(loop, f"sim-{uuid.uuid4().hex}"))
        limit = (
            None
            if max_runs is None
            else _per_group(max_runs, ConcurrencyLimitStrategy.GROUP_ROUND_ROBIN)
        )
        wf = hatchet.workflow(name="throttled", input_validator=Grouped, concurrency=limit)

        @wf.task()
        async def work(input: Grouped, ctx: Context) -> None:
            await asyncio.sleep(10)

        async with hatchet.worker("w", slots=100, workflows=[wf]):
            items = [wf.create_bulk_run_item(Grouped(group=g)) for g in "ABCD" * 10]
            await wf.aio_run_many(items)
        waits = [
            attempt.started_at - attempt.queued_at
            for run in hatchet.runs.views()
            for attempt in run.tasks["work"].attempts
        ]
        return loop.time(), waits

    return run_virtual(main)


def test_a_concurrency_limit_throttles_throughput_in_virtual_time() -> None:
    free_makespan, free_waits = _throttled(None)
    makespan, waits = _throttled(2)
    assert (free_makespan, max(free_waits)) == (10.0, 0.0)
    # two places per group, ten runs per group: five rounds of ten seconds
    assert makespan == 50.0
    assert sorted(waits) == sorted([0.0, 10.0, 20.0, 30.0, 40.0] * 8)


def test_round_robin_admission_alternates_groups_when_slots_are_short() -> None:
    """A's four runs were triggered before B's; two places per group, two worker slots.
    Runs admitted as places free join the queue behind those already queued, so the
    groups take turns instead of A running all four first."""

    async def main(loop: VirtualTimeLoop) -> list[tuple[float, str]]:
        hatchet = Hatchet(virtual_backend(loop, f"sim-{uuid.uuid4().hex}"))
        limit = _per_group(2, ConcurrencyLimitStrategy.GROUP_ROUND_ROBIN)
        wf = hatchet.workflow(name="turns", input_validator=Grouped, concurrency=limit)
        starts: list[tuple[float, str]] = []

        @wf.task()
        async def work(input: Grouped, ctx: Context) -> None:
            starts.append((loop.time(), input.group))
            await asyncio.sleep(10)

        async with hatchet.worker("w", slots=2, workflows=[wf]):
            await wf.aio_run_many([wf.create_bulk_run_item(Grouped(group=g)) for g in "AAAABBBB"])
        return starts

    starts = run_virtual(main)
    assert [t for t, _ in starts] == [0.0, 0.0, 10.0, 10.0, 20.0, 20.0, 30.0, 30.0]
    assert "".join(group for _, group in starts) == "AABBAABB"


def test_cancel_in_progress_in_virtual_time_keeps_the_newest_run() -> None:
    """A run every 5 s of one group, each needing 12 s: every newcomer cancels the run in
    progress, so only the last one completes, 12 s after it started."""

    async def main(loop: VirtualTimeLoop) -> tuple[float, list[Any]]:
        hatchet = Hatchet(virtual_backend(loop, f"sim-{uuid.uuid4().hex}"))
        limit = _per_group(1, ConcurrencyLimitStrategy.CANCEL_IN_PROGRESS)
        wf = hatchet.workflow(name="newest", input_validator=Grouped, concurrency=limit)

        @wf.task()
        async def work(input: Grouped, ctx: Context) -> dict[str, bool]:
            await asyncio.sleep(12)
            return {"done": True}

        results: list[Any] = []
        async with hatchet.worker("w", slots=10, workflows=[wf]):
            refs = []
            for _ in range(4):
                refs.append(await wf.aio_run(Grouped(group="A"), wait_for_result=False))
                await asyncio.sleep(5)
            for ref in refs:
                await ref.aio_result()  # a cancelled run's returns nothing, as in hatchet_sdk
                view = hatchet.runs.view(ref.workflow_run_id)
                error = view.tasks["work"].error
                results.append(view.result() if error is None else error.exc)
        return loop.time(), results

    finished, results = run_virtual(main)
    assert finished == 15.0 + 12.0
    assert results == [CONCURRENCY_CANCEL_REASON] * 3 + [{"work": {"done": True}}]


def test_a_debounced_group_runs_the_first_and_the_latest_arrival_in_virtual_time() -> None:
    """CANCEL_QUEUED_EXCEPT_NEWEST with one place: a ten-second run, then an arrival every
    second while it runs; only the last of them is still waiting when it ends, and it
    starts at that virtual instant. Every other arrival was cancelled when the next came."""

    async def main(loop: VirtualTimeLoop) -> tuple[list[str], float]:
        hatchet = Hatchet(virtual_backend(loop, f"sim-{uuid.uuid4().hex}"))
        limit = _per_group(1, ConcurrencyLimitStrategy.CANCEL_QUEUED_EXCEPT_NEWEST)
        wf = hatchet.workflow(name="debounced", input_validator=Grouped, concurrency=limit)

        @wf.task()
        async def rebuild(input: Grouped, ctx: Context) -> None:
            await asyncio.sleep(10)

        async with hatchet.worker("w", slots=10, workflows=[wf]):
            refs = [await wf.aio_run(Grouped(group="index"), wait_for_result=False)]
            for _ in range(5):
                await asyncio.sleep(1)
                refs.append(await wf.aio_run(Grouped(group="index"), wait_for_result=False))
            outcomes = []
            for ref in refs:
                await ref.aio_result()  # a cancelled run's returns nothing, as in hatchet_sdk
                (task,) = hatchet.runs.view(ref.workflow_run_id).tasks.values()
                if task.error is None:
                    outcomes.append("done")
                else:
                    assert task.error.exc == CONCURRENCY_CANCEL_REASON
                    outcomes.append("cancelled")
        (last,) = hatchet.runs.view(refs[-1].workflow_run_id).tasks["rebuild"].attempts
        assert last.started_at is not None
        return outcomes, last.started_at - hatchet.runs.view(refs[0].workflow_run_id).created_at

    outcomes, started_after = run_virtual(main)
    assert outcomes == ["done", "cancelled", "cancelled", "cancelled", "cancelled", "done"]
    assert started_after == 10.0
