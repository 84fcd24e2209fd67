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
        ref = await streamer.aio_run(wait_for_result=False)
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
        ref = await streamer.aio_run(wait_for_result=False)
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
        ref = await dag.aio_run(wait_for_result=False)
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
        ref = await quick.aio_run(wait_for_result=False)
        if fails:
            with pytest.raises(FailedTaskRunExceptionGroup):
                await ref.aio_result()
        else:
            await ref.aio_result()
    kind = T.STEP_RUN_EVENT_TYPE_FAILED if fails else T.STEP_RUN_EVENT_TYPE_COMPLETED
    assert [event async for event in ref.stream()] == [StepRunEvent(type=kind, payload="")]
    # hatchet_sdk's private name for the run's ref, which Hatchet's streaming example uses
    assert [event async for event in ref._wrr.stream()] == [StepRunEvent(type=kind, payload="")]
    with pytest.warns(DeprecationWarning, match="Iterating over streams in sync tasks"):
        assert list(ref.stream()) == [StepRunEvent(type=kind, payload="")]  # as hatchet_sdk


def test_sync_iteration_hears_the_same_events(hatchet: Hatchet) -> None:
    heard = threading.Event()
    streamer = _streamer(hatchet, heard)
    with hatchet.worker("w", slots=1, workflows=[streamer]):
        ref = streamer.run(wait_for_result=False)
        events = []
        with pytest.warns(DeprecationWarning, match="Iterating over streams in sync tasks"):
            for event in ref.stream():
                events.append(event)
                heard.set()
    streamed = [e.payload for e in events if e.type is T.STEP_RUN_EVENT_TYPE_STREAM]
    assert streamed[-2:] == ["one", "two"]
    assert [e.type for e in events[-2:]] == [T.STEP_RUN_EVENT_TYPE_COMPLETED] * 2


async def test_the_listener_client_streams_a_run_by_its_id(hatchet: Hatchet) -> None:
    heard = threading.Event()
    streamer = _streamer(hatchet, heard)
    async with hatchet.worker("w", slots=1, workflows=[streamer]):
        run_id = (await streamer.aio_run(wait_for_result=False)).workflow_run_id
        events = await asyncio.wait_for(_listen_to(hatchet.listener.stream(run_id), heard), 30)
        output = (await hatchet.runs.get_run_ref(run_id).aio_result())["streamer"]
    assert [e.payload for e in events if e.type is T.STEP_RUN_EVENT_TYPE_STREAM][-2:] == [
        "one",
        "two",
    ]
    assert events[-2:] == [
        StepRunEvent(type=T.STEP_RUN_EVENT_TYPE_COMPLETED, payload=json.dumps(output)),
        StepRunEvent(type=T.STEP_RUN_EVENT_TYPE_COMPLETED, payload=""),
    ]


async def _listen_to(listener: Any, heard: threading.Event) -> list[StepRunEvent]:
    events = []
    async for event in listener:
        events.append(event)
        heard.set()
    return events


async def test_the_deprecated_listener_calls_warn_and_stop_signal_ends_before_the_start(
    hatchet: Hatchet,
) -> None:
    @hatchet.task(name="quick")
    async def quick(input: EmptyModel, ctx: Context) -> dict[str, bool]:
        return {"ok": True}

    async with hatchet.worker("w", slots=1, workflows=[quick]):
        run_id = (await quick.aio_run(wait_for_result=False)).workflow_run_id
        handled: list[StepRunEvent] = []
        with pytest.warns(DeprecationWarning, match="`on` method is deprecated"):
            await asyncio.wait_for(hatchet.listener.on(run_id, handled.append), 30)
        with pytest.warns(DeprecationWarning, match="`stream_by_run_id` method is deprecated"):
            listener = hatchet.listener.stream_by_run_id(run_id)
        with pytest.warns(DeprecationWarning, match="Use the `stop_signal` attribute"):
            listener.abort()
        assert await _drain(listener) == []
    assert handled[-1] == StepRunEvent(type=T.STEP_RUN_EVENT_TYPE_COMPLETED, payload="")
    assert await _drain(hatchet.listener.stream(run_id)) == handled[-1:]  # ended: the end
