"""Run event listeners: ``ref.stream()``, every event of a run as hatchet_sdk yields it.

What Hatchet's v1 dispatcher sends a subscriber (read in hatchet-sdk 1.43.1 and the engine
for this): live events only, nothing from before the subscription; ``STARTED`` when a task
run is created, ``FAILED`` with the error text for a failed attempt, ``COMPLETED`` with the
task's output as JSON, ``CANCELLED``, ``STREAM`` with what ``ctx.put_stream`` put (a task's
chunks before its own end), then one run-level ``COMPLETED`` / ``FAILED`` / ``CANCELLED``
with an empty payload that hangs up and ends the iteration. ``TIMED_OUT`` is never sent (a
timed-out attempt is a failed one). A subscription to a run that has ended gets that last
event alone (the engine since August 2026).

flowsim keeps no log of these events: a listener reads the run's view and stream as they
change and reports what changed since its last read, attempts included, so a failed
attempt retried between two reads is still reported. It reads on every stream chunk and
at least every ``POLL_SECONDS``; the wait for the run's end is the engine's, so a run that
can never end raises what ``aio_result()`` raises instead of hanging.
"""

from __future__ import annotations

import asyncio
import json
import threading
import warnings
from collections.abc import AsyncGenerator, Generator, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import TYPE_CHECKING

from pydantic import BaseModel

from flowsim.rules import RunStatus

if TYPE_CHECKING:
    from flowsim.engine.engine import Engine
    from flowsim.store.protocol import RunView, StreamChunk, TaskView
    from flowsim.store.records import WorkflowRun

#: the longest a listener goes without reading the run again
POLL_SECONDS = 0.02


class StepRunEventType(StrEnum):
    """hatchet_sdk's names and values."""

    STEP_RUN_EVENT_TYPE_STARTED = "STEP_RUN_EVENT_TYPE_STARTED"
    STEP_RUN_EVENT_TYPE_COMPLETED = "STEP_RUN_EVENT_TYPE_COMPLETED"
    STEP_RUN_EVENT_TYPE_FAILED = "STEP_RUN_EVENT_TYPE_FAILED"
    STEP_RUN_EVENT_TYPE_CANCELLED = "STEP_RUN_EVENT_TYPE_CANCELLED"
    STEP_RUN_EVENT_TYPE_TIMED_OUT = "STEP_RUN_EVENT_TYPE_TIMED_OUT"
    STEP_RUN_EVENT_TYPE_STREAM = "STEP_RUN_EVENT_TYPE_STREAM"


class StepRunEvent(BaseModel):
    """One event, with hatchet_sdk's two fields."""

    type: StepRunEventType
    payload: str


_ENDED = {
    RunStatus.COMPLETED: StepRunEventType.STEP_RUN_EVENT_TYPE_COMPLETED,
    RunStatus.FAILED: StepRunEventType.STEP_RUN_EVENT_TYPE_FAILED,
    RunStatus.CANCELLED: StepRunEventType.STEP_RUN_EVENT_TYPE_CANCELLED,
}


@dataclass
class RunWatch:
    """What a listener has reported of one run: the tasks it has seen, how many of each
    task's attempts have ended, and the stream position it has read to."""

    tasks: dict[str, tuple[RunStatus, int]] = field(default_factory=dict)
    stream_after: int = 0

    @classmethod
    def from_view(cls, view: RunView, stream_after: int) -> RunWatch:
        """Everything before the subscription counts as seen (nothing is replayed)."""
        return cls({name: _state(task) for name, task in view.tasks.items()}, stream_after)

    def events(self, chunks: Sequence[StreamChunk], view: RunView) -> list[StepRunEvent]:
        """What one read shows since the last: the chunks first (a task's come before its
        own events, as Hatchet flushes them), then the task events."""
        if chunks:
            self.stream_after = chunks[-1].position
        streamed = [_event(StepRunEventType.STEP_RUN_EVENT_TYPE_STREAM, c.data) for c in chunks]
        return streamed + self.task_events(view)

    def task_events(self, view: RunView) -> list[StepRunEvent]:
        """The task events the view shows since the last read, and it is now seen."""
        events: list[StepRunEvent] = []
        for name, task in view.tasks.items():
            status, ended = self.tasks.get(name, (None, 0))
            if status is None:
                events.append(_event(StepRunEventType.STEP_RUN_EVENT_TYPE_STARTED))
            attempts = [a for a in task.attempts if a.outcome != "RUNNING"]
            for attempt in attempts[ended:]:
                if attempt.outcome == "FAILED":
                    events.append(
                        _event(StepRunEventType.STEP_RUN_EVENT_TYPE_FAILED, attempt.error or "")
                    )
            if task.status != status and task.status is RunStatus.COMPLETED:
                output = json.dumps(task.output if task.output is not None else {})
                events.append(_event(StepRunEventType.STEP_RUN_EVENT_TYPE_COMPLETED, output))
            if task.status != status and task.status is RunStatus.CANCELLED:
                events.append(_event(StepRunEventType.STEP_RUN_EVENT_TYPE_CANCELLED))
            self.tasks[name] = _state(task)
        return events


def _state(task: TaskView) -> tuple[RunStatus, int]:
    return task.status, sum(1 for a in task.attempts if a.outcome != "RUNNING")


def _event(kind: StepRunEventType, payload: str = "") -> StepRunEvent:
    return StepRunEvent(type=kind, payload=payload)


def ended_event(view: RunView) -> StepRunEvent:
    """The run-level event that hangs up."""
    return _event(_ENDED[view.status])


class RunEventListener:
    """``ref.stream()``: iterate with ``async for`` (or ``for``, as hatchet_sdk allows)."""

    def __init__(self, engine: Engine, run: WorkflowRun) -> None:
        self._engine = engine
        self._run = run
        #: hatchet_sdk's: set before iterating, the iteration yields nothing (it is read
        #: before subscribing, so setting it later does not end an iteration there either)
        self.stop_signal = False

    def abort(self) -> None:
        warnings.warn(
            "The abort method is deprecated and will be removed in v2.0.0. Use the "
            "`stop_signal` attribute instead.",
            DeprecationWarning,
            stacklevel=2,
        )
        self.stop_signal = True

    def __aiter__(self) -> AsyncGenerator[StepRunEvent, None]:
        return self._events()

    def _opening(self) -> tuple[RunView | None, list[StepRunEvent]]:
        """Where an iteration starts, the same for both kinds: nothing once ``stop_signal``
        is set (read only here, as hatchet_sdk does); a run that has ended gives its last
        event alone; a live one its view, to watch from."""
        if self.stop_signal:
            return None, []
        (view,) = self._engine.run_views([self._run.id])
        if view.status.is_terminal:
            return None, [ended_event(view)]
        return view, []

    async def _events(self) -> AsyncGenerator[StepRunEvent, None]:
        view, last = self._opening()
        if view is None:
            for event in last:
                yield event
            return
        engine, run = self._engine, self._run
        watch = RunWatch.from_view(view, await engine.aio_stream_position(run.id))
        ended = asyncio.ensure_future(engine.wait(run))
        try:
            while True:
                finished = ended.done()
                if finished:
                    ended.result()  # a run that can never end raises here
                # the view first: a chunk is written before its task ends, so every chunk
                # of a task this view shows ended is in the read after it (read the other
                # way round, a task ending in between was reported before its last chunk)
                (view,) = engine.run_views([run.id])
                chunks = await engine.aio_read_stream(run.id, watch.stream_after)
                for event in watch.events(chunks, view):
                    yield event
                if finished:  # read after the end was seen: nothing is left behind
                    yield ended_event(view)
                    return
                await asyncio.wait((ended,), timeout=POLL_SECONDS)
        finally:
            ended.cancel()

    def __iter__(self) -> Generator[StepRunEvent, None, None]:
        """Sync iteration: the same events, read from this thread while another waits
        for the run's end (so a run that can never end raises here too). Deprecated in
        hatchet_sdk, with this warning."""
        warnings.warn(
            "Iterating over streams in sync tasks is deprecated and support will be removed "
            "in v2.0.0. Make your task async and use `hatchet.runs.subscribe_to_stream` instead.",
            DeprecationWarning,
            stacklevel=2,
        )
        view, last = self._opening()
        if view is None:
            yield from last
            return
        engine, run = self._engine, self._run
        watch = RunWatch.from_view(view, engine.stream_position(run.id))
        outcome: list[BaseException | None] = []

        def wait() -> None:
            try:
                engine.wait_blocking(run)
                outcome.append(None)
            except BaseException as exc:  # handed to the iterating thread
                outcome.append(exc)

        waiter = threading.Thread(target=wait, name=f"flowsim-stream-{run.id}", daemon=True)
        waiter.start()
        while True:
            finished = not waiter.is_alive()
            if finished and outcome and outcome[0] is not None:
                raise outcome[0]
            (view,) = engine.run_views([run.id])  # the view first, as in _events
            chunks = engine.read_stream(run.id, watch.stream_after)
            yield from watch.events(chunks, view)
            if finished:
                yield ended_event(view)
                return
            waiter.join(POLL_SECONDS)
