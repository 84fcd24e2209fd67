"""Mirrors sdks/python/examples/durable (worker.py, test_durable.py) of hatchet-dev/hatchet.

The example's durable tasks sleep with ``ctx.aio_sleep_for`` (once, or three times in a
row), spawn a standalone child and return its output, and sleep before spawning a DAG
child; others wait for events and ``or_`` groups of conditions. Its e2e test asserts that
a single sleep's runtime is at least the sleep time (``wait_for_sleep_twice``), that three
sleeps take more than three times it (``wait_for_multi_sleep``), that the spawning task
returns ``{"child_output": {"message": "hello from child"}}``, and that the sleep before a
spawn lasts between 1 and 2 seconds (``durable_spawn_dag``). Its ``durable_task`` sleeps
then waits with ``ctx.aio_wait_for("event", UserEventCondition(event_key=EVENT_KEY,
expression="true"))``; ``wait_for_or_group_1``/``_2`` wait for ``or_(SleepCondition,
UserEventCondition)`` with a short and a six times longer sleep; the e2e test pushes the
event ``SLEEP_TIME + 10`` seconds in and asserts ``durable_task``'s status, that group 1
ran about ``SLEEP_TIME``, that both results are keyed ``"CREATE"`` and that the inner key
names the sleep for group 1 and the event for group 2. We assert those on the manual
clock, on every backend; replay and eviction tests follow."""

import asyncio
from datetime import timedelta
from types import ModuleType
from typing import Any
from uuid import uuid4

import pytest

from flowsim import Hatchet, ManualClock
from tests.helpers import eventually

SLEEP_TIME = 5
EVENT_KEY = "durable-example:event"


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
        once = await drive(flowsim_clock, sleep_once.run(wait_for_result=False))
        thrice = await drive(flowsim_clock, sleep_thrice.run(wait_for_result=False))

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
        result = await drive(flowsim_clock, sleep_then_spawn.run(wait_for_result=False), step=0.1)
    assert 1 <= result["sleep_duration"] <= 2
    assert result["spawn_result"] == {
        "child_one": {"result": "child1"},
        "child_two": {"result": "child2"},
    }


def durable_workflow(hatchet: Hatchet, clock: ManualClock, reached: list[str]) -> Any:
    from hatchet_sdk import (
        Context,
        DurableContext,
        EmptyModel,
        SleepCondition,
        UserEventCondition,
        or_,
    )

    wf = hatchet.workflow(name="DurableWorkflow")

    @wf.task()
    async def ephemeral_task(input: EmptyModel, ctx: Context) -> None:
        return None

    @wf.durable_task()
    async def durable_task(input: EmptyModel, ctx: DurableContext) -> dict[str, str]:
        await ctx.aio_sleep_for(duration=timedelta(seconds=SLEEP_TIME))
        reached.append("durable_task")
        await ctx.aio_wait_for("event", UserEventCondition(event_key=EVENT_KEY, expression="true"))
        return {"status": "success"}

    async def wait_for_group(ctx: DurableContext, sleep: int, name: str) -> dict[str, Any]:
        start = clock.now()
        reached.append(name)
        wait_result = await ctx.aio_wait_for(
            uuid4().hex,
            or_(
                SleepCondition(timedelta(seconds=sleep)),
                UserEventCondition(event_key=EVENT_KEY),
            ),
        )
        key = next(iter(wait_result))
        event_id = next(iter(wait_result[key]))
        return {"runtime": int(clock.now() - start), "key": key, "event_id": event_id,
                "data": wait_result[key][event_id]}  # fmt: skip

    @wf.durable_task()
    async def wait_for_or_group_1(input: EmptyModel, ctx: DurableContext) -> dict[str, Any]:
        return await wait_for_group(ctx, SLEEP_TIME, "group_1")

    @wf.durable_task()
    async def wait_for_or_group_2(input: EmptyModel, ctx: DurableContext) -> dict[str, Any]:
        return await wait_for_group(ctx, 6 * SLEEP_TIME, "group_2")

    return wf


async def test_durable(
    hatchet_sdk: ModuleType, hatchet: Hatchet, flowsim_clock: ManualClock
) -> None:
    reached: list[str] = []
    wf = durable_workflow(hatchet, flowsim_clock, reached)
    async with hatchet.worker("durable-worker", workflows=[wf]):
        ref = wf.run(wait_for_result=False)
        await eventually(lambda: {"group_1", "group_2"} <= set(reached))
        flowsim_clock.advance(SLEEP_TIME)
        await eventually(lambda: "durable_task" in reached)
        flowsim_clock.advance(10)
        hatchet.event.push(EVENT_KEY, {"test": "test"})
        result = await ref.aio_result()

    assert result["durable_task"]["status"] == "success"
    group_1, group_2 = result["wait_for_or_group_1"], result["wait_for_or_group_2"]
    assert abs(group_1["runtime"] - SLEEP_TIME) < 3
    assert group_1["key"] == group_2["key"] == "CREATE"
    assert "sleep" in group_1["event_id"]
    assert "event" in group_2["event_id"]
    assert group_2["data"] == [{"test": "test"}]  # the matches: the event payload
    assert group_2["runtime"] == SLEEP_TIME + 10


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
        ref = durable_replay.run(wait_for_result=False)
        result = await drive(flowsim_clock, ref)
    assert result["child_output"] == {"message": "hello from child"}
    assert result["slept"] < 1  # the retry did not sleep again
    children = [v for v in hatchet.runs.views() if v.workflow == "replayed_child"]
    assert len(children) == 1  # nor spawn its child again
    task = hatchet.runs.view(ref.workflow_run_id).tasks["durable_replay"]
    assert [a.outcome for a in task.attempts] == ["FAILED", "COMPLETED"]


async def test_a_retried_durable_task_replays_its_wait_for_from_the_event_log(
    hatchet_sdk: ModuleType, hatchet: Hatchet, flowsim_clock: ManualClock
) -> None:
    """The first attempt's ``aio_wait_for`` is a ``wait_for`` step of the log: the retry
    gets the event that fired it (no second event is pushed) without waiting again, and
    the sleep in the same wait is not restarted."""
    from hatchet_sdk import DurableContext, EmptyModel, SleepCondition, UserEventCondition, or_

    reached: list[int] = []

    @hatchet.durable_task(name="wait_replay", retries=1)
    async def wait_replay(input: EmptyModel, ctx: DurableContext) -> dict[str, Any]:
        reached.append(ctx.retry_count)
        result = await ctx.aio_wait_for(
            "gate",
            or_(SleepCondition(timedelta(hours=1)), UserEventCondition(event_key="replay:go")),
        )
        if ctx.retry_count == 0:
            raise RuntimeError("failed after the wait")
        return result

    async with hatchet.worker("durable-worker", workflows=[wait_replay]):
        ref = wait_replay.run(wait_for_result=False)
        await eventually(lambda: reached == [0])
        hatchet.event.push("replay:go", {"n": 1})
        result = await asyncio.wait_for(ref.aio_result(), 10)
    assert reached == [0, 1]
    assert result == {"CREATE": {"replay:go": [{"n": 1}]}}
    task = hatchet.runs.view(ref.workflow_run_id).tasks["wait_replay"]
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
        result = await drive(flowsim_clock, non_determinism.run(wait_for_result=False))
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
        evictable, pinned = (
            evictable_sleep.run(wait_for_result=False),
            non_evictable_sleep.run(wait_for_result=False),
        )
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


async def test_invocation_count_grows_with_each_restore_and_each_retry(
    hatchet_sdk: ModuleType, hatchet: Hatchet, flowsim_clock: ManualClock
) -> None:
    """Hatchet's durable_callback_ordering example reads ``ctx.invocation_count`` to tell
    that a task was evicted and replayed (it asserts a count of 2 or more)."""
    from hatchet_sdk import DurableContext, EmptyModel, EvictionPolicy

    policy = EvictionPolicy(ttl=timedelta(seconds=EVICTION_TTL_SECONDS), priority=0)
    seen: dict[str, list[int]] = {"evicted": [], "retried": []}

    @hatchet.durable_task(name="evicted", execution_timeout=timedelta(minutes=5),
                          eviction_policy=policy)  # fmt: skip
    async def evicted(input: EmptyModel, ctx: DurableContext) -> dict[str, int]:
        seen["evicted"].append(ctx.invocation_count)
        await ctx.aio_sleep_for(timedelta(seconds=LONG_SLEEP_SECONDS))
        return {"invocations": ctx.invocation_count}

    @hatchet.durable_task(name="retried", retries=2)
    async def retried(input: EmptyModel, ctx: DurableContext) -> dict[str, int]:
        seen["retried"].append(ctx.invocation_count)
        if ctx.retry_count < 2:
            raise RuntimeError("fail so that the task is retried")
        return {"invocations": ctx.invocation_count}

    async with hatchet.worker("invocations", workflows=[evicted, retried]):
        evicted_ref, retried_ref = (
            evicted.run(wait_for_result=False),
            retried.run(wait_for_result=False),
        )
        assert await drive(flowsim_clock, evicted_ref, within=10) == {"invocations": 2}
        assert await drive(flowsim_clock, retried_ref, within=10) == {"invocations": 3}
    assert seen == {"evicted": [1, 2], "retried": [1, 2, 3]}


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
        ref = evictable_child_spawn.run(wait_for_result=False)
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
        ref = capacity_parent.run(wait_for_result=False)
        result = await drive(flowsim_clock, ref, within=10)
    assert result == {"child": {"child_status": "completed"}}
    task = hatchet.runs.view(ref.workflow_run_id).tasks["capacity_parent"]
    evicted, restored = task.attempts
    assert evicted.outcome == "EVICTED" and "Worker at capacity" in (evicted.error or "")
    assert (evicted.finished_at or 0) - evicted.started_at >= 10  # min wait for capacity
    assert restored.outcome == "COMPLETED"
