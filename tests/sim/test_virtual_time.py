"""The real engine and real task code in virtual time: sleeps cost no wall time, and the
results match closed forms exactly."""

import asyncio
import math
import time
import uuid
from collections.abc import AsyncGenerator, AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta
from typing import Annotated, Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from flowsim import Context, Depends, EmptyModel, Hatchet, RetryAfterException, SlotDeadlockError
from flowsim.sim import SimulationStalledError, VirtualTimeLoop, run_virtual, virtual_backend


def fan_out(n: int, slots: int, duration: float) -> tuple[float, Any]:
    """One parent spawns n children of ``duration`` each on one worker with ``slots``;
    returns (virtual makespan, result or the exception raised)."""

    async def main(loop: VirtualTimeLoop) -> tuple[float, Any]:
        hatchet = Hatchet(virtual_backend(loop, f"sim-{uuid.uuid4().hex}"))

        # Hatchet's defaults (60 s to run, 5 min in the queue) would cancel these long
        # fan-outs, as they would in production; the closed form assumes no timeouts
        @hatchet.task(name="child", execution_timeout=10**9, schedule_timeout=10**9)
        async def child(input: EmptyModel, ctx: Context) -> dict[str, int]:
            await asyncio.sleep(duration)
            return {"done": 1}

        @hatchet.task(name="parent", execution_timeout=10**9)
        async def parent(input: EmptyModel, ctx: Context) -> dict[str, int]:
            results = await child.aio_run_many([child.create_bulk_run_item() for _ in range(n)])
            return {"children": len(results)}

        async with hatchet.worker("w", slots=slots, workflows=[child, parent]):
            try:
                outcome: Any = await parent.aio_run()
            except SlotDeadlockError as error:
                outcome = error
        return loop.time(), outcome

    return run_virtual(main)


@settings(max_examples=25, deadline=None)
@given(n=st.integers(1, 60), slots=st.integers(2, 8), duration=st.integers(1, 100))
def test_fan_out_makespan_matches_the_closed_form(n: int, slots: int, duration: int) -> None:
    """The parent holds one slot; children run S-1 at a time: ceil(N/(S-1))·d."""
    makespan, result = fan_out(n, slots, float(duration))
    assert result == {"children": n}
    assert makespan == math.ceil(n / (slots - 1)) * duration


def test_one_slot_deadlocks_at_virtual_time_zero() -> None:
    makespan, result = fan_out(5, 1, 30.0)
    assert isinstance(result, SlotDeadlockError)
    assert makespan == 0.0
    assert "at t=0s" in str(result)


def test_a_day_of_virtual_sleeps_takes_milliseconds() -> None:
    started = time.monotonic()
    makespan, result = fan_out(1000, 11, 3600.0)
    assert result == {"children": 1000}
    assert makespan == 100 * 3600.0
    assert time.monotonic() - started < 10


def test_retry_backoff_and_timeouts_run_on_virtual_time() -> None:
    async def main(loop: VirtualTimeLoop) -> list[float]:
        hatchet = Hatchet(virtual_backend(loop, f"sim-{uuid.uuid4().hex}"))

        @hatchet.task(name="slow-then-ok", retries=2, backoff_factor=3.0, execution_timeout=10)
        async def flaky(input: EmptyModel, ctx: Context) -> dict[str, int]:
            if ctx.retry_count < 2:
                await asyncio.sleep(60)  # exceeds the 10 s timeout
            return {"attempt": ctx.attempt_number}

        async with hatchet.worker("w", slots=1, workflows=[flaky]):
            ref = flaky.run(wait_for_result=False)
            assert await ref.aio_result() == {"attempt": 3}
        run = hatchet.engine.store.get_run(ref.workflow_run_id)
        return [a.started_at for a in run.tasks["slow-then-ok"].attempts]

    # attempt 1 at 0, times out at 10, waits 3**1; attempt 2 at 13, times out at 23,
    # waits 3**2; attempt 3 at 32
    assert run_virtual(main) == [0.0, 13.0, 32.0]


def test_requested_retry_delays_run_on_virtual_time() -> None:
    async def main(loop: VirtualTimeLoop) -> list[float]:
        hatchet = Hatchet(virtual_backend(loop, f"sim-{uuid.uuid4().hex}"))

        @hatchet.task(name="rate-limited", retries=3, backoff_factor=10.0)
        async def limited(input: EmptyModel, ctx: Context) -> dict[str, int]:
            await asyncio.sleep(1)
            if ctx.retry_count < 2:
                raise RetryAfterException(
                    "429", after=timedelta(minutes=30 * (1 + ctx.retry_count))
                )
            return {"attempt": ctx.attempt_number}

        async with hatchet.worker("w", slots=1, workflows=[limited]):
            ref = limited.run(wait_for_result=False)
            assert await ref.aio_result() == {"attempt": 3}
        run = hatchet.engine.store.get_run(ref.workflow_run_id)
        return [a.started_at for a in run.tasks["rate-limited"].attempts]

    # attempt 1 at 0 fails at 1 asking 30 min; attempt 2 at 1801 fails at 1802 asking 60
    assert run_virtual(main) == [0.0, 1801.0, 5402.0]


def test_hatchets_default_schedule_timeout_cancels_a_long_queue() -> None:
    """100 one-minute children on 2 slots: the last ones would wait ~99 minutes in the
    queue; Hatchet's default schedule timeout (5 min) cancels them, and so does flowsim."""

    async def main(loop: VirtualTimeLoop) -> Any:
        hatchet = Hatchet(virtual_backend(loop, f"sim-{uuid.uuid4().hex}"))

        @hatchet.task(name="minute")
        async def minute(input: EmptyModel, ctx: Context) -> dict[str, int]:
            await asyncio.sleep(59)
            return {"ok": 1}

        async with hatchet.worker("w", slots=2, workflows=[minute]):
            items = [minute.create_bulk_run_item() for _ in range(100)]
            results = await minute.aio_run_many(items, return_exceptions=True)
        return sum(1 for r in results if r == {"ok": 1}), loop.time()

    completed, finished_at = run_virtual(main)
    assert completed == 2 * math.floor(300 / 59) + 2  # those started within the 5 minutes
    assert finished_at < 400


def test_a_coroutine_waiting_on_nothing_is_reported_not_hung() -> None:
    async def main(loop: VirtualTimeLoop) -> None:
        await asyncio.Event().wait()

    with pytest.raises(SimulationStalledError, match="can never make progress"):
        run_virtual(main)


def test_a_cancelled_run_frees_its_slot_at_that_virtual_instant() -> None:
    """Two slots, held by a parent and its child; a third run waits. Cancelling the parent at
    t=5 cancels its child too, and the waiting run starts at t=5 exactly."""

    async def main(loop: VirtualTimeLoop) -> tuple[Any, ...]:
        hatchet = Hatchet(virtual_backend(loop, f"sim-{uuid.uuid4().hex}"))
        started: dict[str, float] = {}

        @hatchet.task(name="sleeper", execution_timeout=10**6, schedule_timeout=10**6)
        async def sleeper(input: EmptyModel, ctx: Context) -> dict[str, int]:
            started[ctx.workflow_run_id] = loop.time()
            await asyncio.sleep(100)
            return {"done": 1}

        @hatchet.task(name="spawner", execution_timeout=10**6)
        async def spawner(input: EmptyModel, ctx: Context) -> dict[str, Any]:
            return await sleeper.aio_run()

        async with hatchet.worker("w", slots=2, workflows=[sleeper, spawner]):
            first = await spawner.aio_run(wait_for_result=False)
            await asyncio.sleep(1)  # the parent and its child hold both slots by now
            second = await sleeper.aio_run(wait_for_result=False)
            await asyncio.sleep(4)
            await hatchet.runs.aio_cancel(first.workflow_run_id)
            result = await second.aio_result()
        statuses = [(view.workflow, view.status.value) for view in hatchet.runs.views()]
        return started[second.workflow_run_id], loop.time(), result, statuses

    assert run_virtual(main) == (
        5.0,
        105.0,
        {"done": 1},
        [("spawner", "CANCELLED"), ("sleeper", "CANCELLED"), ("sleeper", "COMPLETED")],
    )


def test_lifespans_and_dependencies_run_in_virtual_time() -> None:
    """The simulator's loop has no threads: a sync dependency runs inline there, and the
    lifespan's and dependencies' sleeps are virtual like the task's."""

    async def main(loop: VirtualTimeLoop) -> tuple[Any, list[tuple[str, float]]]:
        hatchet = Hatchet(virtual_backend(loop, f"sim-{uuid.uuid4().hex}"))
        log: list[tuple[str, float]] = []

        async def lifespan() -> AsyncGenerator[str, None]:
            await asyncio.sleep(10)  # connecting
            log.append(("lifespan up", loop.time()))
            yield "pool"
            log.append(("lifespan down", loop.time()))

        async def slow_config(input: EmptyModel, ctx: Context) -> int:
            await asyncio.sleep(5)
            return 5

        def doubled(
            input: EmptyModel, ctx: Context, config: Annotated[int, Depends(slow_config)]
        ) -> int:
            return 2 * config

        @asynccontextmanager
        async def session(input: EmptyModel, ctx: Context) -> AsyncIterator[str]:
            yield "session"
            await asyncio.sleep(1)  # closing
            log.append(("session closed", loop.time()))

        @hatchet.task(name="injected")
        async def injected(
            input: EmptyModel,
            ctx: Context,
            value: Annotated[int, Depends(doubled)],
            db: Annotated[str, Depends(session)],
        ) -> dict[str, Any]:
            await asyncio.sleep(2)
            return {"value": value, "db": db, "pool": ctx.lifespan, "at": loop.time()}

        async with hatchet.worker("w", slots=1, workflows=[injected], lifespan=lifespan):
            result = await injected.aio_run()
        return result, log

    result, log = run_virtual(main)
    assert result == {"value": 10, "db": "session", "pool": "pool", "at": 17.0}
    assert log == [("lifespan up", 10.0), ("session closed", 18.0), ("lifespan down", 18.0)]


def test_a_stream_is_heard_at_the_virtual_instants_its_chunks_are_put() -> None:
    """An hour-long task streaming a chunk every ten minutes: the subscriber hears each at
    its virtual instant, and the whole stream takes no real time to speak of."""

    async def main(loop: VirtualTimeLoop) -> list[tuple[str, float]]:
        hatchet = Hatchet(virtual_backend(loop, f"sim-{uuid.uuid4().hex}"))

        @hatchet.task(name="ticker", execution_timeout="2h")
        async def ticker(input: EmptyModel, ctx: Context) -> None:
            await asyncio.sleep(1)  # the subscriber listens from the trigger on
            for minute in range(0, 61, 10):
                await ctx.aio_put_stream(f"minute {minute}")
                await asyncio.sleep(600)

        async with hatchet.worker("w", slots=1, workflows=[ticker]):
            ref = await ticker.aio_run(wait_for_result=False)
            stream = hatchet.runs.subscribe_to_stream(ref.workflow_run_id)
            return [(chunk, loop.time()) async for chunk in stream]

    started = time.monotonic()
    heard = run_virtual(main)
    assert heard == [(f"minute {m}", 1.0 + 60 * m) for m in range(0, 61, 10)]
    assert time.monotonic() - started < 10
