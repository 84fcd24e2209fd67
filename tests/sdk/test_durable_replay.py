"""A durable task's event log on every backend: memos, the clock read through a memo,
what is logged per call, and the wait's eviction by a pinned or evictable policy."""

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pydantic import BaseModel

from flowsim import (
    DurableContext,
    EmptyModel,
    EvictionPolicy,
    FailedTaskRunExceptionGroup,
    Hatchet,
    ManualClock,
    RunStatus,
)
from flowsim.store.durable_log import StepKind


class Memoized(BaseModel):
    value: str


async def test_a_memo_is_computed_once_and_replayed_after_a_retry(hatchet: Hatchet) -> None:
    calls: list[str] = []

    async def compute(message: str) -> Memoized:
        calls.append(message)
        return Memoized(value=message.upper())

    @hatchet.durable_task(name="memo_task", retries=1)
    async def memo_task(input: EmptyModel, ctx: DurableContext) -> dict[str, Any]:
        memo = await ctx._aio_memo(compute, Memoized, "hello")
        if ctx.retry_count == 0:
            raise RuntimeError("replay me")
        return {"value": memo.value, "attempt": ctx.attempt_number}

    async with hatchet.worker("durable-worker", workflows=[memo_task]):
        result = await asyncio.wait_for(memo_task.aio_run(), 10)
    assert result == {"value": "HELLO", "attempt": 2}
    assert calls == ["hello"]


async def test_a_memo_with_other_arguments_at_a_logged_position_is_non_determinism(
    hatchet: Hatchet,
) -> None:
    async def compute(message: str) -> Memoized:
        return Memoized(value=message)

    @hatchet.durable_task(name="fickle_memo", retries=1)
    async def fickle_memo(input: EmptyModel, ctx: DurableContext) -> dict[str, Any]:
        await ctx._aio_memo(compute, Memoized, f"attempt {ctx.attempt_number}")
        raise RuntimeError("replay me")

    async with hatchet.worker("durable-worker", workflows=[fickle_memo]):
        with pytest.raises(FailedTaskRunExceptionGroup) as caught:
            await asyncio.wait_for(fickle_memo.aio_run(), 10)
    [error] = caught.value.exceptions
    assert error.exc_type == "NonDeterminismError"
    assert "position 0" in error.exc and "memo args" in error.exc


async def test_aio_now_is_the_same_on_every_replay(
    hatchet: Hatchet, flowsim_clock: ManualClock
) -> None:
    seen: list[float] = []

    @hatchet.durable_task(name="clock_reader", retries=1)
    async def clock_reader(input: EmptyModel, ctx: DurableContext) -> dict[str, float]:
        now = (await ctx.aio_now()).timestamp()
        seen.append(now)
        if ctx.retry_count == 0:
            flowsim_clock.advance(30)
            raise RuntimeError("replay me")
        return {"now": now}

    async with hatchet.worker("durable-worker", workflows=[clock_reader]):
        result = await asyncio.wait_for(clock_reader.aio_run(), 10)
    assert seen == [0.0, 0.0] and result == {"now": 0.0}


async def test_each_durable_call_is_logged_at_its_position(
    hatchet: Hatchet, flowsim_clock: ManualClock
) -> None:
    @hatchet.task(name="logged_child")
    async def logged_child(input: EmptyModel, ctx: Any) -> dict[str, str]:
        return {"ok": "yes"}

    @hatchet.durable_task(name="logged_parent")
    async def logged_parent(input: EmptyModel, ctx: DurableContext) -> dict[str, Any]:
        await ctx.aio_sleep_for(timedelta(seconds=2))
        await logged_child.aio_run_many(
            [logged_child.create_bulk_run_item(), logged_child.create_bulk_run_item(key="k")]
        )
        return {"task_run": ctx.task_run_id}

    async with hatchet.worker("durable-worker", workflows=[logged_child, logged_parent]):
        ref = logged_parent.run(wait_for_result=False)
        await asyncio.sleep(0.05)
        flowsim_clock.advance(2)
        result = await asyncio.wait_for(ref.aio_result(), 10)
    steps = hatchet.engine.step_store.durable_steps(result["task_run"])
    assert [(s.position, s.kind, s.key) for s in steps] == [
        (0, StepKind.SLEEP, "2s"),
        (1, StepKind.SPAWN, "logged_child"),
        (2, StepKind.SPAWN, "logged_child"),
    ]
    assert steps[0].data == {"wake_at": pytest.approx(2.0, abs=0.05)}
    children = [v.id for v in hatchet.runs.views() if v.workflow == "logged_child"]
    assert sorted(s.data["run_id"] for s in steps[1:]) == sorted(children)


def test_an_eviction_policy_must_be_an_eviction_policy_or_none(hatchet: Hatchet) -> None:
    from flowsim import ConfigurationError

    async def body(input: EmptyModel, ctx: DurableContext) -> None:
        return None

    with pytest.raises(ConfigurationError, match="eviction_policy must be an EvictionPolicy"):
        hatchet.durable_task(name="bad", eviction_policy={"ttl": 5})(body)  # type: ignore[arg-type]
    pinned = hatchet.durable_task(name="pinned", eviction_policy=None)(body)
    default = hatchet.durable_task(name="default")(body)
    ttl = EvictionPolicy(ttl=timedelta(minutes=15), allow_capacity_eviction=True, priority=0)
    assert pinned.tasks[0].eviction is None
    assert default.tasks[0].eviction == ttl.rule()


async def test_a_worker_shutting_down_evicts_its_waiting_durable_tasks(
    hatchet: Hatchet, flowsim_clock: ManualClock
) -> None:
    """As hatchet_sdk on a graceful shutdown: the drain does not wait out the sleep (even
    of a never-evicted task); another worker restores the run, which wakes on time."""

    @hatchet.durable_task(name="long_nap", eviction_policy=None)
    async def long_nap(input: EmptyModel, ctx: DurableContext) -> dict[str, float]:
        await ctx.aio_sleep_for(timedelta(minutes=10))
        return {"woke_at": flowsim_clock.now()}

    async with hatchet.worker("first", workflows=[long_nap]):
        ref = long_nap.run(wait_for_result=False)
        await asyncio.sleep(0.05)
        flowsim_clock.advance(60)
    task = hatchet.runs.view(ref.workflow_run_id).tasks["long_nap"]
    assert [a.outcome for a in task.attempts] == ["EVICTED"]
    assert task.attempts[0].error == "Worker shutdown while waiting on sleep(600s)"
    async with hatchet.worker("second", workflows=[long_nap]):
        flowsim_clock.advance(540)
        result = await asyncio.wait_for(ref.aio_result(), 10)
    assert result == {"woke_at": 600.0}  # a standalone ref returns the task output


async def test_sleep_until_sleeps_to_the_instant_on_every_replay(
    hatchet: Hatchet, flowsim_clock: ManualClock
) -> None:
    """``aio_sleep_until`` reads the clock through a memo, so a replay after the clock
    moved on sleeps to the same instant (and one past it returns at once)."""

    @hatchet.durable_task(name="alarm", retries=1, execution_timeout=timedelta(hours=1))
    async def alarm(input: EmptyModel, ctx: DurableContext) -> dict[str, Any]:
        slept = await ctx.aio_sleep_until(datetime(1970, 1, 1, 0, 1, tzinfo=UTC), label="alarm")
        if ctx.retry_count == 0:
            flowsim_clock.advance(15)
            raise RuntimeError("replay me")
        past = await ctx.aio_sleep_until(datetime(1970, 1, 1))  # naive: taken as UTC
        return {"slept": slept, "past": past, "woke_at": flowsim_clock.now()}

    async with hatchet.worker("durable-worker", workflows=[alarm]):
        ref = alarm.run(wait_for_result=False)
        await asyncio.sleep(0.05)
        flowsim_clock.advance(59)
        await asyncio.sleep(0.05)
        assert hatchet.runs.get_status(ref.workflow_run_id) is RunStatus.RUNNING
        flowsim_clock.advance(1)
        result = await asyncio.wait_for(ref.aio_result(), 10)
    # the replay (at t=75) finds the sleep logged to t=60: over, so it returns at once
    assert result == {
        "slept": {"sleep_duration_seconds": 60.0},
        "past": {"sleep_duration_seconds": 0.0},
        "woke_at": 75.0,
    }
