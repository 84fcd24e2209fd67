"""Mirrors sdks/python/examples/waits (worker.py, test_waits.py) of hatchet-dev/hatchet.

Its ``DAGWaitingWorkflow`` is the conditions example's big DAG without
``skip_with_multiple_parents`` and ``wait_for_or_groups`` (built by the same function,
``tests.acceptance.test_conditions.big_dag``): a task waiting 10 s after ``start``, one
waiting for a minute or an event, one skipped by an event before its 30 s sleep, two
branches skipped on opposite parent expressions, and ``sum`` over what ran. The e2e test
waits 15 s, pushes ``skip_on_event:skip`` and ``wait_for_event:start``, and asserts the
skipped output, that a branch was skipped and the sum; we assert the same on the manual
clock, on every backend."""

import asyncio
from types import ModuleType

from flowsim import Hatchet, ManualClock
from tests.acceptance.test_conditions import big_dag, completed


async def test_waits(hatchet_sdk: ModuleType, hatchet: Hatchet, flowsim_clock: ManualClock) -> None:
    wf = big_dag(hatchet, name="DAGWaitingWorkflow", extras=False)
    async with hatchet.worker("dag-worker", workflows=[wf]):
        ref = wf.run(wait_for_result=False)
        await completed(hatchet, ref.workflow_run_id, "start")
        flowsim_clock.advance(15)
        await completed(hatchet, ref.workflow_run_id, "wait_for_sleep")
        hatchet.event.push("skip_on_event:skip", {})
        hatchet.event.push("wait_for_event:start", {})
        result = await asyncio.wait_for(ref.aio_result(), 10)

    assert set(result) == {"start", "wait_for_sleep", "wait_for_event", "skip_on_event",
                           "left_branch", "right_branch", "sum"}  # fmt: skip
    assert result["skip_on_event"] == {"skipped": True}
    left, right = result["left_branch"], result["right_branch"]
    assert left.get("skipped") is True or right.get("skipped") is True
    branch = left.get("random_number") or right.get("random_number")
    assert result["sum"]["sum"] == (
        result["start"]["random_number"]
        + result["wait_for_event"]["random_number"]
        + result["wait_for_sleep"]["random_number"]
        + branch
    )
