"""Mirrors sdks/python/examples/durable (worker.py, test_durable.py) of hatchet-dev/hatchet.

The example's durable tasks sleep with ``ctx.aio_sleep_for`` (once, or three times in a
row), spawn a standalone child and return its output, and sleep before spawning a DAG
child; others wait for events and ``or_`` groups of conditions. Its e2e test asserts that
a single sleep's runtime is at least the sleep time (``wait_for_sleep_twice``), that three
sleeps take more than three times it (``wait_for_multi_sleep``), that the spawning task
returns ``{"child_output": {"message": "hello from child"}}``, and that the sleep before a
spawn lasts between 1 and 2 seconds (``durable_spawn_dag``). We assert those on the manual
clock. Waiting on conditions (``aio_wait_for``, ``UserEventCondition``, ``or_``) and replay
are not modelled: the example's condition waits are asserted to be refused by name."""

import asyncio
from datetime import timedelta
from types import ModuleType
from typing import Any

import pytest

from flowsim import Hatchet, ManualClock, UnsupportedFeatureError

SLEEP_TIME = 5


async def drive(clock: ManualClock, ref: Any, step: float = 0.25, within: float = 5.0) -> Any:
    """Move the manual clock in small steps until the run finishes, and return its result.
    A durable sleep starts whenever the task reaches it, on any backend; the steps bound how
    far past its deadline the clock can be when the sleeper wakes."""

    async def result() -> Any:
        return await ref.aio_result()

    waiting = asyncio.ensure_future(result())
    try:
        async with asyncio.timeout(within):
            while not waiting.done():
                clock.advance(step)
                await asyncio.sleep(0.01)
    finally:
        if not waiting.done():
            waiting.cancel()
    return waiting.result()


async def test_durable_sleeps_last_at_least_their_duration(
    hatchet_sdk: ModuleType, hatchet: Hatchet, flowsim_clock: ManualClock
) -> None:
    from hatchet_sdk import DurableContext, EmptyModel

    @hatchet.durable_task(name="sleep_once")
    async def sleep_once(input: EmptyModel, ctx: DurableContext) -> dict[str, float]:
        start = flowsim_clock.now()
        await ctx.aio_sleep_for(timedelta(seconds=SLEEP_TIME))
        return {"runtime": flowsim_clock.now() - start}

    @hatchet.durable_task(name="sleep_thrice")
    async def sleep_thrice(input: EmptyModel, ctx: DurableContext) -> dict[str, float]:
        start = flowsim_clock.now()
        for _ in range(3):
            await ctx.aio_sleep_for(timedelta(seconds=SLEEP_TIME))
        return {"runtime": flowsim_clock.now() - start}

    async with hatchet.worker("durable-worker", workflows=[sleep_once, sleep_thrice]):
        once = await drive(flowsim_clock, sleep_once.run_no_wait())
        thrice = await drive(flowsim_clock, sleep_thrice.run_no_wait())

    assert SLEEP_TIME <= once["runtime"] < SLEEP_TIME + 3
    assert thrice["runtime"] >= 3 * SLEEP_TIME


async def test_a_durable_task_spawns_a_child_and_returns_its_output(
    hatchet_sdk: ModuleType, hatchet: Hatchet
) -> None:
    from hatchet_sdk import Context, DurableContext, EmptyModel

    @hatchet.task(name="greeting_child")
    def greeting_child(input: EmptyModel, ctx: Context) -> dict[str, str]:
        return {"message": "hello from child"}

    @hatchet.durable_task(name="durable_parent")
    async def durable_parent(input: EmptyModel, ctx: DurableContext) -> dict[str, Any]:
        return {"child_output": await greeting_child.aio_run()}

    # one task slot: the durable parent waits in its durable slot, not in the child's
    async with hatchet.worker(
        "durable-worker", slots=1, workflows=[greeting_child, durable_parent]
    ):
        result = await asyncio.wait_for(durable_parent.aio_run(), 5)
    assert result["child_output"] == {"message": "hello from child"}


async def test_a_durable_task_sleeps_then_spawns_a_dag(
    hatchet_sdk: ModuleType, hatchet: Hatchet, flowsim_clock: ManualClock
) -> None:
    from hatchet_sdk import Context, DurableContext, EmptyModel

    dag_child = hatchet.workflow(name="DurableDagChild")

    @dag_child.task()
    async def child_one(input: EmptyModel, ctx: Context) -> dict[str, str]:
        return {"result": "child1"}

    @dag_child.task()
    async def child_two(input: EmptyModel, ctx: Context) -> dict[str, str]:
        return {"result": "child2"}

    @hatchet.durable_task(name="sleep_then_spawn")
    async def sleep_then_spawn(input: EmptyModel, ctx: DurableContext) -> dict[str, Any]:
        start = flowsim_clock.now()
        await ctx.aio_sleep_for(timedelta(seconds=1))
        slept = flowsim_clock.now() - start
        return {"sleep_duration": slept, "spawn_result": await dag_child.aio_run()}

    async with hatchet.worker("durable-worker", workflows=[dag_child, sleep_then_spawn]):
        result = await drive(flowsim_clock, sleep_then_spawn.run_no_wait(), step=0.1)
    assert 1 <= result["sleep_duration"] <= 2
    assert result["spawn_result"] == {
        "child_one": {"result": "child1"},
        "child_two": {"result": "child2"},
    }


async def test_the_examples_condition_waits_are_refused_by_name(
    hatchet_sdk: ModuleType, hatchet: Hatchet
) -> None:
    from hatchet_sdk import DurableContext, EmptyModel, FailedTaskRunExceptionGroup

    for name in ("UserEventCondition", "SleepCondition", "or_"):
        with pytest.raises(UnsupportedFeatureError, match=name):
            exec(f"from hatchet_sdk import {name}", {})

    @hatchet.durable_task(name="waits_for_event")
    async def waits_for_event(input: EmptyModel, ctx: DurableContext) -> dict[str, str]:
        await ctx.aio_wait_for("event", object())
        return {"status": "success"}

    async with hatchet.worker("durable-worker", workflows=[waits_for_event]):
        with pytest.raises(FailedTaskRunExceptionGroup) as caught:
            await asyncio.wait_for(waits_for_event.aio_run(), 5)
    [error] = caught.value.exceptions
    assert error.exc_type == "UnsupportedFeatureError" and "aio_wait_for" in error.exc


# ---------------------------------------------------------------- replay (event log)


async def test_a_retried_durable_task_replays_its_sleep_and_its_child(
    hatchet_sdk: ModuleType, hatchet: Hatchet, flowsim_clock: ManualClock
) -> None:
    from hatchet_sdk import Context, DurableContext, EmptyModel

    @hatchet.task(name="replayed_child")
    def replayed_child(input: EmptyModel, ctx: Context) -> dict[str, str]:
        return {"message": "hello from child"}

    @hatchet.durable_task(name="durable_replay", retries=1)
    async def durable_replay(input: EmptyModel, ctx: DurableContext) -> dict[str, Any]:
        start = flowsim_clock.now()
        await ctx.aio_sleep_for(timedelta(seconds=SLEEP_TIME))
        slept = flowsim_clock.now() - start
        child = await replayed_child.aio_run()
        if ctx.retry_count == 0:
            raise RuntimeError("failed after both checkpoints")
        return {"slept": slept, "child_output": child}

    async with hatchet.worker("durable-worker", workflows=[replayed_child, durable_replay]):
        ref = durable_replay.run_no_wait()
        result = await drive(flowsim_clock, ref)
    assert result["child_output"] == {"message": "hello from child"}
    assert result["slept"] < 1  # the retry did not sleep again
    children = [v for v in hatchet.runs.views() if v.workflow == "replayed_child"]
    assert len(children) == 1  # nor spawn its child again
    task = hatchet.runs.view(ref.workflow_run_id).tasks["durable_replay"]
    assert [a.outcome for a in task.attempts] == ["FAILED", "COMPLETED"]


async def test_hatchets_non_determinism_task_detects_the_changed_sleep(
    hatchet_sdk: ModuleType, hatchet: Hatchet, flowsim_clock: ManualClock
) -> None:
    """Hatchet's ``durable_non_determinism`` sleeps ``attempt_number * 2`` seconds, so its
    second attempt sleeps where the log holds another sleep: the error's ``node_id`` is
    that position. (Hatchet's test replays the run; flowsim has no runs.replay, so the
    first attempt fails after its sleep to be retried.)"""
    from hatchet_sdk import DurableContext, EmptyModel, NonDeterminismError

    @hatchet.durable_task(
        name="durable_non_determinism", execution_timeout=timedelta(seconds=10), retries=1
    )
    async def non_determinism(input: EmptyModel, ctx: DurableContext) -> dict[str, Any]:
        sleep_time = ctx.attempt_number * 2
        try:
            await ctx.aio_sleep_for(timedelta(seconds=sleep_time))
        except NonDeterminismError as e:
            return {"attempt_number": ctx.attempt_number, "detected": True, "node_id": e.node_id}
        if ctx.attempt_number == 1:
            raise RuntimeError("retry me")
        return {"attempt_number": ctx.attempt_number, "detected": False}

    async with hatchet.worker("durable-worker", workflows=[non_determinism]):
        result = await drive(flowsim_clock, non_determinism.run_no_wait())
    assert result == {"attempt_number": 2, "detected": True, "node_id": 0}


async def test_a_replay_spawning_another_child_fails_with_a_clear_non_determinism_error(
    hatchet_sdk: ModuleType, hatchet: Hatchet
) -> None:
    from hatchet_sdk import Context, DurableContext, EmptyModel, FailedTaskRunExceptionGroup

    @hatchet.task(name="first_child")
    def first_child(input: EmptyModel, ctx: Context) -> dict[str, str]:
        return {"child": "first"}

    @hatchet.task(name="second_child")
    def second_child(input: EmptyModel, ctx: Context) -> dict[str, str]:
        return {"child": "second"}

    @hatchet.durable_task(name="fickle_parent", retries=3)
    async def fickle_parent(input: EmptyModel, ctx: DurableContext) -> dict[str, Any]:
        child = second_child if ctx.retry_count else first_child
        await child.aio_run()
        raise RuntimeError("fail so that the body is replayed")

    async with hatchet.worker(
        "durable-worker", workflows=[first_child, second_child, fickle_parent]
    ):
        with pytest.raises(FailedTaskRunExceptionGroup) as caught:
            await asyncio.wait_for(fickle_parent.aio_run(), 5)
    [error] = caught.value.exceptions
    assert error.exc_type == "NonDeterminismError"
    for part in ("fickle_parent", "position 0", "spawn first_child", "spawn second_child"):
        assert part in error.exc
    views = hatchet.runs.views()
    assert not [v for v in views if v.workflow == "second_child"]  # never spawned
    parent = next(v for v in views if v.workflow == "fickle_parent")
    assert len(parent.tasks["fickle_parent"].attempts) == 2  # not retried further


# ---------------------------------------------------------------- eviction
# Mirrors sdks/python/examples/durable_eviction: a 5 s TTL, waits of 15 s.

EVICTION_TTL_SECONDS = 5
LONG_SLEEP_SECONDS = 15


async def test_an_evictable_sleep_is_evicted_after_its_ttl_and_restored_when_it_ends(
    hatchet_sdk: ModuleType, hatchet: Hatchet, flowsim_clock: ManualClock
) -> None:
    from hatchet_sdk import DurableContext, EmptyModel, EvictionPolicy

    policy = EvictionPolicy(ttl=timedelta(seconds=EVICTION_TTL_SECONDS), priority=0)

    @hatchet.durable_task(execution_timeout=timedelta(minutes=5), eviction_policy=policy)
    async def evictable_sleep(input: EmptyModel, ctx: DurableContext) -> dict[str, str]:
        await ctx.aio_sleep_for(timedelta(seconds=LONG_SLEEP_SECONDS))
        return {"status": "completed"}

    never = EvictionPolicy(ttl=None, allow_capacity_eviction=False, priority=0)

    @hatchet.durable_task(execution_timeout=timedelta(minutes=5), eviction_policy=never)
    async def non_evictable_sleep(input: EmptyModel, ctx: DurableContext) -> dict[str, str]:
        await ctx.aio_sleep_for(timedelta(seconds=LONG_SLEEP_SECONDS))
        return {"status": "completed"}

    workflows = [evictable_sleep, non_evictable_sleep]
    async with hatchet.worker("eviction-worker", workflows=workflows):
        evictable, pinned = evictable_sleep.run_no_wait(), non_evictable_sleep.run_no_wait()
        assert await drive(flowsim_clock, evictable, within=10) == {"status": "completed"}
        assert await drive(flowsim_clock, pinned, within=10) == {"status": "completed"}
    task = hatchet.runs.view(evictable.workflow_run_id).tasks["evictable_sleep"]
    evicted, restored = task.attempts
    assert evicted.outcome == "EVICTED" and "Wait TTL" in (evicted.error or "")
    waited = (evicted.finished_at or 0) - evicted.started_at
    assert EVICTION_TTL_SECONDS <= waited < EVICTION_TTL_SECONDS + 1
    assert restored.outcome == "COMPLETED"
    assert restored.started_at - evicted.started_at >= LONG_SLEEP_SECONDS
    task = hatchet.runs.view(pinned.workflow_run_id).tasks["non_evictable_sleep"]
    assert [a.outcome for a in task.attempts] == ["COMPLETED"]


async def test_an_evictable_child_spawn_is_restored_when_its_child_ends(
    hatchet_sdk: ModuleType, hatchet: Hatchet, flowsim_clock: ManualClock
) -> None:
    from hatchet_sdk import DurableContext, EmptyModel, EvictionPolicy

    @hatchet.durable_task(name="slow_child", eviction_policy=None)
    async def slow_child(input: EmptyModel, ctx: DurableContext) -> dict[str, str]:
        await ctx.aio_sleep_for(timedelta(seconds=LONG_SLEEP_SECONDS))
        return {"child_status": "completed"}

    policy = EvictionPolicy(ttl=timedelta(seconds=EVICTION_TTL_SECONDS))

    @hatchet.durable_task(execution_timeout=timedelta(minutes=5), eviction_policy=policy)
    async def evictable_child_spawn(input: EmptyModel, ctx: DurableContext) -> dict[str, Any]:
        return {"child": await slow_child.aio_run(), "status": "completed"}

    async with hatchet.worker("eviction-worker", workflows=[slow_child, evictable_child_spawn]):
        ref = evictable_child_spawn.run_no_wait()
        result = await drive(flowsim_clock, ref, within=10)
    assert result == {"child": {"child_status": "completed"}, "status": "completed"}
    task = hatchet.runs.view(ref.workflow_run_id).tasks["evictable_child_spawn"]
    assert [a.outcome for a in task.attempts] == ["EVICTED", "COMPLETED"]
    assert len([v for v in hatchet.runs.views() if v.workflow == "slow_child"]) == 1


async def test_capacity_eviction_lets_a_durable_child_run_in_its_waiting_parents_slot(
    hatchet_sdk: ModuleType, hatchet: Hatchet, flowsim_clock: ManualClock
) -> None:
    """One durable slot, a durable parent waiting on a durable child (the example's
    ``CAPACITY_EVICTION_POLICY``: no TTL): pinned, the parent would hold the only slot
    forever; evictable, it gives it up after 10 s of waiting with every slot waiting."""
    from hatchet_sdk import DurableContext, EmptyModel, EvictionPolicy

    capacity_only = EvictionPolicy(ttl=None, allow_capacity_eviction=True, priority=0)

    @hatchet.durable_task(name="capacity_child", eviction_policy=None)
    async def capacity_child(input: EmptyModel, ctx: DurableContext) -> dict[str, str]:
        await ctx.aio_sleep_for(timedelta(seconds=1))
        return {"child_status": "completed"}

    @hatchet.durable_task(eviction_policy=capacity_only)
    async def capacity_parent(input: EmptyModel, ctx: DurableContext) -> dict[str, Any]:
        return {"child": await capacity_child.aio_run()}

    async with hatchet.worker(
        "eviction-worker", durable_slots=1, workflows=[capacity_child, capacity_parent]
    ):
        ref = capacity_parent.run_no_wait()
        result = await drive(flowsim_clock, ref, within=10)
    assert result == {"child": {"child_status": "completed"}}
    task = hatchet.runs.view(ref.workflow_run_id).tasks["capacity_parent"]
    evicted, restored = task.attempts
    assert evicted.outcome == "EVICTED" and "Worker at capacity" in (evicted.error or "")
    assert (evicted.finished_at or 0) - evicted.started_at >= 10  # min wait for capacity
    assert restored.outcome == "COMPLETED"
