"""``Context``: what a running task sees, with hatchet_sdk's names."""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import uuid
import warnings
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, TypeVar

from pydantic import TypeAdapter

from flowsim.engine.runtime import AttemptState
from flowsim.engine.streams import stream_text
from flowsim.errors import TaskRunError, UnsupportedFeatureError
from flowsim.rules import RunStatus
from flowsim.sdk.conditions import OrGroup, SleepCondition, UserEventCondition, wait_conditions
from flowsim.sdk.labels import WorkerContext
from flowsim.sdk.not_modelled import refuse
from flowsim.sdk.types import Duration, JSONSerializableMapping, to_seconds
from flowsim.store.durable_log import StepKind
from flowsim.store.records import WorkflowRun

if TYPE_CHECKING:
    from flowsim.sdk.task import Task
    from flowsim.sdk.workflow import BaseWorkflow

R = TypeVar("R")
M = TypeVar("M")
logger = logging.getLogger("flowsim.task")


@refuse(
    "ctx",
    "pausing rate limit keys",
    "change the key's limit with hatchet.rate_limits.put",
    "pause_rate_limit", "aio_pause_rate_limit",
)  # fmt: skip
@refuse(
    "ctx",
    "the trigger data and the server's workflow ids",
    "pass what the task needs in its input (an event's payload is the run's input)",
    "trigger_data", "workflow_id", "workflow_version_id",
)  # fmt: skip
class Context:
    """Per-attempt information and controls for a running task."""

    def __init__(self, attempt: AttemptState, workflow: BaseWorkflow) -> None:
        self._attempt = attempt
        self._workflow = workflow
        self._task_run = attempt.task_run
        self._run = attempt.task_run.workflow_run
        self._stream_index = 0

    # ---------------------------------------------------------------- identity

    @property
    def workflow_run_id(self) -> str:
        return self._run.id

    @property
    def task_run_id(self) -> str:
        return self._task_run.id

    @property
    def step_run_id(self) -> str:
        return self._task_run.id

    @property
    def workflow_name(self) -> str:
        return self._run.workflow_name

    @property
    def task_name(self) -> str:
        return self._task_run.name

    @property
    def worker_id(self) -> str:
        return self._attempt.worker.id

    @property
    def worker_labels(self) -> dict[str, str | int]:
        return dict(self._attempt.worker.labels)

    @property
    def worker(self) -> WorkerContext:
        """hatchet_sdk's deprecated worker context (``ctx.worker.id()``, ``.labels()``,
        ``.upsert_labels()``), which its affinity and sticky examples use."""
        return WorkerContext(self._attempt)

    def upsert_worker_labels(self, labels: dict[str, str | int]) -> None:
        """Merge ``labels`` into this worker's labels; its next claims use them."""
        self._attempt.engine.set_worker_labels(self._attempt.worker, labels)

    async def aio_upsert_worker_labels(self, labels: dict[str, str | int]) -> None:
        self.upsert_worker_labels(labels)

    @property
    def parent_workflow_run_id(self) -> str | None:
        return self._run.parent_run_id

    def _stored_run(self) -> WorkflowRun:
        """The run with what a worker in another process may first have to read of it."""
        return self._attempt.engine.run_record(self._run)

    @property
    def child_index(self) -> int | None:
        return self._stored_run().child_index

    @property
    def child_key(self) -> str | None:
        return self._stored_run().child_key

    @property
    def priority(self) -> int | None:
        return self._stored_run().priority

    @property
    def triggering_event_id(self) -> str | None:
        """The id of the event whose push started this run (``Event.event_id`` of
        ``hatchet.event.push``), None for a run triggered otherwise."""
        event = self._stored_run().triggering_event
        return event.id if event is not None else None

    @property
    def triggering_event_key(self) -> str | None:
        event = self._stored_run().triggering_event
        return event.key if event is not None else None

    @property
    def was_triggered_by_event(self) -> bool:
        return self._stored_run().triggering_event is not None

    @property
    def filter_payload(self) -> JSONSerializableMapping:
        """The payload of the event filter whose expression started this run
        (``default_filters=``), ``{}`` for a run no filter started, as in hatchet_sdk."""
        event = self._stored_run().triggering_event
        payload = event.filter_payload if event is not None else None
        return payload if isinstance(payload, dict) else {}

    # ---------------------------------------------------------------- attempts

    @property
    def retry_count(self) -> int:
        return self._attempt.retry_count

    @property
    def attempt_number(self) -> int:
        """One more than the retry count, as in hatchet_sdk."""
        return self._attempt.retry_count + 1

    @property
    def max_attempts(self) -> int:
        return self._task_run.spec.retries + 1

    # ---------------------------------------------------------------- data

    @property
    def additional_metadata(self) -> dict[str, Any]:
        return dict(self._run.additional_metadata)

    @property
    def input(self) -> dict[str, Any]:
        return dict(self._run.input or {})

    @property
    def workflow_input(self) -> dict[str, Any]:
        return self.input

    @property
    def lifespan(self) -> Any:
        """What the worker's ``lifespan=`` generator yielded (None without one)."""
        return self._attempt.worker.lifespan

    def was_skipped(self, task: Task[Any]) -> bool:
        """hatchet_sdk: the parent's output has ``"skipped": True`` (a ``skip_if`` held,
        or every one of its own parents was skipped)."""
        parent = self._run.tasks.get(task.name)
        output = parent.output if parent is not None else None
        return isinstance(output, dict) and output.get("skipped") is True

    def aio_task_output(self, task: Task[R]) -> R:
        """hatchet_sdk's deprecated spelling of ``task_output`` for async parents."""
        warnings.warn(
            "`aio_task_output` is deprecated (hatchet_sdk 1.x); use `task_output` instead",
            DeprecationWarning,
            stacklevel=2,
        )
        if not task.is_async:
            raise ValueError(
                f"Task '{task.name}' is not an async function. Use `task_output` instead."
            )
        return self.task_output(task)

    def task_output(self, task: Task[R]) -> R:
        """A parent's output, validated with the parent's return type (hatchet_sdk)."""
        if self.was_skipped(task):
            raise ValueError(f"{task.name} was skipped")
        if task.name not in self._task_run.spec.parents:
            raise ValueError(
                f"Step output for '{task.name}' not found: it is not a parent of "
                f"{self.task_name!r} (parents: {', '.join(self._task_run.spec.parents) or 'none'})"
            )
        parent = self._run.tasks.get(task.name)
        if parent is None or parent.status is not RunStatus.COMPLETED:
            raise ValueError(f"Step output for '{task.name}' not found")
        result: R = task.parse_output(parent.output or {})
        return result

    @property
    def task_run_errors(self) -> dict[str, str]:
        """The errors of the run's FAILED tasks by task name: what an on-failure task reads
        (the failures recorded so far: siblings may still be running)."""
        return {
            name: str(task.error)
            for name, task in self._run.tasks.items()
            if task.status is RunStatus.FAILED and task.error is not None and name != self.task_name
        }

    def get_task_run_error(self, task: Task[Any]) -> TaskRunError | None:
        failed = self._run.tasks.get(task.name)
        if failed is None or failed.status is not RunStatus.FAILED:
            return None
        return failed.error

    def fetch_task_run_error(self, task: Task[Any]) -> str | None:
        """hatchet_sdk's deprecated spelling of ``get_task_run_error``, as text."""
        error = self.get_task_run_error(task)
        return str(error) if error is not None else None

    # ---------------------------------------------------------------- controls

    @property
    def exit_flag(self) -> bool:
        """True once this attempt was cancelled or timed out: long sync loops should stop."""
        return self._attempt.exit_requested

    @property
    def is_cancelled(self) -> bool:
        return self.exit_flag

    def done(self) -> bool:
        return self._attempt.finished

    def log(self, line: str | dict[str, Any], raise_on_error: bool = False) -> None:
        """Keep the line with the task run (engine snapshots, reports) and log it."""
        text = line if isinstance(line, str) else repr(line)
        self._task_run.logs.append(text)
        logger.info("%s/%s: %s", self.workflow_name, self.task_name, text)

    async def aio_log(self, line: str | dict[str, Any], raise_on_error: bool = False) -> None:
        self.log(line, raise_on_error)

    def refresh_timeout(self, increment_by: Duration) -> None:
        self._attempt.engine.refresh_deadline(
            self._attempt, to_seconds(increment_by, "refresh_timeout(increment_by)")
        )

    async def aio_refresh_timeout(self, increment_by: Duration) -> None:
        self.refresh_timeout(increment_by)

    def release_slot(self) -> None:
        """Free this task's slot while it keeps running (an advanced Hatchet feature)."""
        self._attempt.engine.release_slot_early(self._attempt)

    async def aio_release_slot(self) -> None:
        self.release_slot()

    def cancel(self) -> None:
        """Cancel this task's workflow run (and the runs it spawned) and set the exit flag.
        An async task is cancelled at its next ``await``; a sync one should check
        ``ctx.exit_flag`` and return, as in Hatchet. Hatchet cancels only this task run
        (DAG tasks downstream follow); flowsim cancels the whole workflow run."""
        self._attempt.exit_requested = True
        self._attempt.engine.cancel(self.workflow_run_id, self._cancel_reason())

    async def aio_cancel(self) -> None:
        self._attempt.exit_requested = True
        await self._attempt.engine.aio_cancel(self.workflow_run_id, self._cancel_reason())

    def _cancel_reason(self) -> str:
        return f"cancelled by task {self.workflow_name}/{self.task_name} (ctx.cancel())"

    # ---------------------------------------------------------------- streaming

    def _stream_chunk(self, data: str | bytes) -> tuple[str, str, int, str]:
        """The chunk to store: numbered per attempt from 0, as hatchet_sdk's context
        numbers its stream events."""
        text = stream_text(data, f"task {self.workflow_name}/{self.task_name}")
        index = self._stream_index
        self._stream_index += 1
        return self.workflow_run_id, self.task_run_id, index, text

    def put_stream(self, data: str | bytes) -> None:
        """Send ``data`` to the run's stream subscribers (``hatchet.runs.subscribe_to_stream``):
        those listening now get it, in the order it was put."""
        self._attempt.engine.put_stream(*self._stream_chunk(data))

    async def aio_put_stream(self, data: str | bytes) -> None:
        await self._attempt.engine.aio_put_stream(*self._stream_chunk(data))


def memo_key(args: tuple[Any, ...], kwargs: dict[str, Any]) -> str:
    """A memo's key in the event log: a digest of its arguments (as hatchet_sdk keys a
    memo by its arguments), so a replay with other arguments is non-determinism."""
    text = json.dumps([list(args), kwargs], sort_keys=True, default=repr)
    return "args " + hashlib.sha256(text.encode()).hexdigest()[:16]


class DurableContext(Context):
    """Context of a durable task. Waiting is on the engine's clock, so virtual in tests.

    Every durable call is a step of the task run's event log (``flowsim.engine.replay``):
    when the body runs again (a retry, a reclaim after a crash, a restore after an
    eviction), a sleep already begun keeps its first wake time, so one that is over
    returns at once; a child already spawned is found, not spawned again; a memo is not
    recomputed. A call that differs from the logged one raises ``NonDeterminismError``."""

    @property
    def invocation_count(self) -> int:
        """How many times this task run has started, this time included (1 on its first
        run): a task restored after an eviction, retried, or re-run after its worker was
        lost counts one more each time, as hatchet_sdk's ``invocation_count`` grows with
        each replay. Read from the store: a read, not a field."""
        attempt = self._attempt
        return attempt.engine.invocation_count(attempt)

    async def aio_sleep_for(self, duration: Duration, label: str | None = None) -> dict[str, Any]:
        """``label`` names the sleep on Hatchet's dashboard; flowsim has none to show it."""
        seconds = to_seconds(duration, "aio_sleep_for(duration)")
        attempt = self._attempt
        engine = attempt.engine
        step, _ = engine.replay_for(attempt).step(
            StepKind.SLEEP, f"{seconds:g}s", lambda: {"wake_at": engine.clock.now() + seconds},
            engine.clock.now(),
        )  # fmt: skip
        wake_at = float(step.data["wake_at"])
        if wake_at > engine.clock.now():
            with engine.evictions.waiting(attempt, "sleep", f"{seconds:g}s", wake_at=wake_at):
                await self._sleep_until(wake_at)
        return {"sleep_duration_seconds": seconds}

    async def _sleep_until(self, wake_at: float) -> None:
        engine = self._attempt.engine
        loop = asyncio.get_running_loop()
        woken: asyncio.Future[None] = loop.create_future()

        def resolve() -> None:
            if not woken.done():
                woken.set_result(None)

        def wake() -> None:
            if not loop.is_closed():
                loop.call_soon_threadsafe(resolve)

        handle = engine.clock.call_at(wake_at, wake)
        try:
            await woken
        finally:
            handle.cancel()

    async def _aio_memo(
        self,
        fn: Callable[..., Awaitable[Any]],
        result_validator: type[M],
        /,
        *args: Any,
        **kwargs: Any,
    ) -> M:
        """hatchet_sdk's memo: ``fn(*args, **kwargs)`` computed once per task run and
        position, its result kept in the event log (JSON, validated with
        ``result_validator``) and returned as is on every replay."""
        adapter = TypeAdapter(result_validator)
        engine = self._attempt.engine
        replay = engine.replay_for(self._attempt)
        key = memo_key(args, kwargs)
        position, logged = replay.reserve(StepKind.MEMO, key)
        if logged is None:
            value = await fn(*args, **kwargs)
            data = {"result": adapter.dump_python(value, mode="json")}
            logged, _ = replay.record(position, StepKind.MEMO, key, data, engine.clock.now())
        return adapter.validate_python(logged.data["result"])

    async def aio_sleep_until(self, wake_at: datetime, label: str | None = None) -> dict[str, Any]:
        """Sleep durably until ``wake_at``: ``aio_sleep_for`` the time left after the
        memoized ``aio_now`` (as hatchet_sdk does), so a replay sleeps to the same instant.
        An instant already past returns at once; a naive ``wake_at`` is taken as UTC."""
        if wake_at.tzinfo is None:
            wake_at = wake_at.replace(tzinfo=UTC)
        left = (wake_at - await self.aio_now()).total_seconds()
        if left <= 0:
            return {"sleep_duration_seconds": 0.0}
        return await self.aio_sleep_for(left, label)

    async def aio_now(self) -> datetime:
        """The current time on the engine's clock, memoized: the same on every replay."""
        clock = self._attempt.engine.clock

        async def now() -> float:
            return clock.now()

        seconds = await self._aio_memo(now, float)
        return datetime.fromtimestamp(seconds, tz=UTC)

    async def aio_wait_for(
        self,
        signal_key: str,
        *conditions: SleepCondition | UserEventCondition | OrGroup,
        label: str | None = None,
    ) -> dict[str, Any]:
        """Wait durably until the conditions hold (AND across arguments, OR within an
        ``or_``): a sleep on the engine's clock, an event pushed after the wait began.
        Returns hatchet_sdk's shape, ``{"CREATE": {readable_data_key: [data]}}`` for the
        conditions that held (an event's data is its payload). The wait is stored, so an
        event pushed by another process sharing the backend reaches it."""
        where = f"{self.workflow_name}/{self.task_name}: aio_wait_for({signal_key!r})"
        specs = wait_conditions(where, conditions)
        attempt = self._attempt
        engine = attempt.engine
        now = engine.clock.now()
        # the wait is a step of the event log: a replay (after a retry, a crash or an
        # eviction) awaits the wait logged then, whose result the store keeps once it fired
        step, _ = engine.replay_for(attempt).step(
            StepKind.WAIT_FOR, signal_key,
            lambda: {"wait_id": f"{attempt.task_run.id}/{uuid.uuid4().hex}", "registered_at": now},
            now,
        )  # fmt: skip
        wait_id = engine.open_signal_wait(
            attempt, specs, str(step.data["wait_id"]), float(step.data["registered_at"])
        )
        result: dict[str, Any] = await engine.await_signal(wait_id)
        return result

    async def aio_wait_for_event(
        self,
        key: str,
        expression: str | None = None,
        *,
        payload_validator: type[Any] | None = None,
        scope: str | None = None,
        lookback_window: Any = None,
        label: str | None = None,
    ) -> Any:
        """hatchet_sdk's shorthand for ``aio_wait_for`` on one event: the payload of the
        event that matched, validated with ``payload_validator`` if given. ``scope`` and
        ``lookback_window`` (events pushed before the wait) are refused by name."""
        if scope is not None or lookback_window is not None:
            raise UnsupportedFeatureError(
                f"{self.workflow_name}/{self.task_name}: aio_wait_for_event(scope=, "
                "lookback_window=) (event look-back) is not modelled by flowsim; only events "
                "pushed after the wait began are seen. Remove them."
            )
        condition = UserEventCondition(event_key=key, expression=expression)
        result = await self.aio_wait_for(f"event:{key}", condition, label=label)
        payload = next(iter(result["CREATE"].values()))[0]
        if payload_validator is None:
            return payload
        return TypeAdapter(payload_validator).validate_python(payload)
