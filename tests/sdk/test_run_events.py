"""``ref.stream()``: every event of a run from the moment it is read, as hatchet_sdk's
run event listener yields them (``flowsim.engine.run_events``), on every backend."""

from __future__ import annotations

import asyncio
import json
import threading
from typing import Any

import pytest

from flowsim import (
    Context,
    EmptyModel,
    FailedTaskRunExceptionGroup,
    Hatchet,
    StepRunEvent,
    StepRunEventType,
)

T = StepRunEventType


async def _listen(ref: Any, heard: threading.Event) -> list[StepRunEvent]:
    events = []
    async for event in ref.stream():
        events.append(event)
        if event.type is T.STEP_RUN_EVENT_TYPE_STREAM:
            heard.set()
    return events


def _streamer(hatchet: Hatchet, heard: threading.Event, fail_first: bool = False) -> Any:
    @hatchet.task(name="streamer", retries=1 if fail_first else 0)
    async def streamer(input: EmptyModel, ctx: Context) -> dict[str, int]:
        pings = 0
        while not heard.is_set():  # until the listener has heard one: it listens
            await ctx.aio_put_stream("ping")
            pings += 1
            await asyncio.sleep(0.005)
        if fail_first and ctx.retry_count == 0:
            raise RuntimeError("first attempt fails")
        for word in ("one", "two"):
            await ctx.aio_put_stream(word)
        return {"pings": pings}

    return streamer


async def test_chunks_then_the_tasks_output_then_the_runs_end(hatchet: Hatchet) -> None:
    heard = threading.Event()
    streamer = _streamer(hatchet, heard)
    async with hatchet.worker("w", slots=1, workflows=[streamer]):
        ref = await streamer.aio_run_no_wait()
        events = await asyncio.wait_for(_listen(ref, heard), 30)
        output = await ref.aio_result()
    streamed = [e.payload for e in events if e.type is T.STEP_RUN_EVENT_TYPE_STREAM]
    assert streamed[-2:] == ["one", "two"] and set(streamed[:-2]) == {"ping"}
    rest = [e for e in events if e.type is not T.STEP_RUN_EVENT_TYPE_STREAM]
    assert rest[-2:] == [
        StepRunEvent(type=T.STEP_RUN_EVENT_TYPE_COMPLETED, payload=json.dumps(output)),
        StepRunEvent(type=T.STEP_RUN_EVENT_TYPE_COMPLETED, payload=""),  # the run: hang up
    ]
    assert events.index(rest[-2]) > max(i for i, e in enumerate(events) if e.payload == "two")


async def test_a_failed_attempt_is_reported_before_the_retry_completes(hatchet: Hatchet) -> None:
    heard = threading.Event()
    streamer = _streamer(hatchet, heard, fail_first=True)
    async with hatchet.worker("w", slots=1, workflows=[streamer]):
        ref = await streamer.aio_run_no_wait()
        events = await asyncio.wait_for(_listen(ref, heard), 30)
    kinds = [e.type for e in events if e.type is not T.STEP_RUN_EVENT_TYPE_STREAM]
    assert kinds == [T.STEP_RUN_EVENT_TYPE_FAILED] + [T.STEP_RUN_EVENT_TYPE_COMPLETED] * 2
    (failed,) = [e for e in events if e.type is T.STEP_RUN_EVENT_TYPE_FAILED]
    assert "first attempt fails" in failed.payload


async def test_a_dags_later_task_is_reported_started_and_each_task_completed(
    hatchet: Hatchet,
) -> None:
    gate = asyncio.Event()
    dag = hatchet.workflow(name="dag")

    @dag.task()
    async def first(input: EmptyModel, ctx: Context) -> dict[str, int]:
        await gate.wait()
        return {"n": 1}

    @dag.task(parents=[first])
    async def second(input: EmptyModel, ctx: Context) -> dict[str, int]:
        return {"n": 2}

    async with hatchet.worker("w", slots=2, workflows=[dag]):
        ref = await dag.aio_run_no_wait()
        listener = ref.stream().__aiter__()
        pending = asyncio.ensure_future(_drain(listener))
        await asyncio.sleep(0.2)  # the listener's first read, while the first task waits
        gate.set()
        events = await asyncio.wait_for(pending, 30)
    assert [(e.type, e.payload) for e in events] == [
        (T.STEP_RUN_EVENT_TYPE_COMPLETED, json.dumps({"n": 1})),
        (T.STEP_RUN_EVENT_TYPE_STARTED, ""),
        (T.STEP_RUN_EVENT_TYPE_COMPLETED, json.dumps({"n": 2})),
        (T.STEP_RUN_EVENT_TYPE_COMPLETED, ""),
    ]


async def _drain(listener: Any) -> list[StepRunEvent]:
    return [event async for event in listener]


@pytest.mark.parametrize("fails", [False, True])
async def test_a_run_that_has_ended_gives_its_last_event_alone(
    hatchet: Hatchet, fails: bool
) -> None:
    @hatchet.task(name="quick")
    async def quick(input: EmptyModel, ctx: Context) -> dict[str, bool]:
        if fails:
            raise RuntimeError("no")
        return {"ok": True}

    async with hatchet.worker("w", slots=1, workflows=[quick]):
        ref = await quick.aio_run_no_wait()
        if fails:
            with pytest.raises(FailedTaskRunExceptionGroup):
                await ref.aio_result()
        else:
            await ref.aio_result()
    kind = T.STEP_RUN_EVENT_TYPE_FAILED if fails else T.STEP_RUN_EVENT_TYPE_COMPLETED
    assert [event async for event in ref.stream()] == [StepRunEvent(type=kind, payload="")]
    assert list(ref.stream()) == [StepRunEvent(type=kind, payload="")]  # sync, as hatchet_sdk


def test_sync_iteration_hears_the_same_events(hatchet: Hatchet) -> None:
    heard = threading.Event()
    streamer = _streamer(hatchet, heard)
    with hatchet.worker("w", slots=1, workflows=[streamer]):
        ref = streamer.run_no_wait()
        events = []
        for event in ref.stream():
            events.append(event)
            heard.set()
    streamed = [e.payload for e in events if e.type is T.STEP_RUN_EVENT_TYPE_STREAM]
    assert streamed[-2:] == ["one", "two"]
    assert [e.type for e in events[-2:]] == [T.STEP_RUN_EVENT_TYPE_COMPLETED] * 2
