"""``mock_run`` / ``aio_mock_run``: hatchet_sdk's way to unit-test one task without an
engine, kept so that tests written for it run unchanged.

The task's function is called in the caller's thread (or awaited on the caller's loop)
with a real ``Context`` over a run that exists nowhere but here: the input, metadata,
parent outputs, retry count and lifespan the test passed, and fresh ids, as hatchet_sdk's
mocked context has. Dependencies are the values passed, not resolved; no timeout, retry
or slot applies. What only an engine can do (streams, durable sleeps and waits, cancelling
or refreshing the run, releasing the slot) raises ``MockRunError`` at once: hatchet_sdk's
mocked context would try its server there. A child triggered from the task is a top-level
trigger on the task's client, as in hatchet_sdk, where ``mock_run`` sets no parent either.

Two things are stricter than hatchet_sdk 1.43 so that a test does not pass where a worker
would fail: a dict input is validated as a trigger's input (hatchet_sdk serializes only a
pydantic model or a dataclass and drops a dict), and the return value must be an output a
worker could store (``IllegalTaskOutputError`` otherwise).
"""

from __future__ import annotations

import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, NoReturn, cast

from flowsim.engine.runtime import AttemptState, WorkerRuntime
from flowsim.errors import MockRunError
from flowsim.rules import RunStatus
from flowsim.sdk.context import Context
from flowsim.sdk.task import validate_input
from flowsim.sdk.types import JSONSerializableMapping
from flowsim.store.records import TaskRun, WorkflowRun

if TYPE_CHECKING:
    from flowsim.engine.engine import Engine
    from flowsim.sdk.task import Task

#: hatchet_sdk's mocked action has ``Priority.LOW``
MOCK_PRIORITY = 1

#: the engine calls a Context makes, by the Context call a user wrote
_CALLED_AS = {
    "refresh_deadline": "ctx.refresh_timeout()",
    "release_slot_early": "ctx.release_slot()",
    "cancel": "ctx.cancel()",
    "aio_cancel": "ctx.aio_cancel()",
    "put_stream": "ctx.put_stream()",
    "aio_put_stream": "ctx.aio_put_stream()",
    # a durable call reaches for one of these first, whichever it is
    **dict.fromkeys(
        ("clock", "replay_for", "replay", "evictions", "open_signal_wait", "await_signal"),
        "a durable call (aio_sleep_for, aio_sleep_until, aio_wait_for, aio_now, a memo)",
    ),
}


class NoEngine:
    """Stands where a Context's engine would: answers what a mocked run knows itself
    (its own record, its worker's labels) and refuses the rest, naming the call."""

    def __init__(self, task_name: str) -> None:
        self._task_name = task_name

    def run_record(self, run: WorkflowRun) -> WorkflowRun:
        return run

    def set_worker_labels(self, worker: WorkerRuntime, labels: dict[str, str | int]) -> None:
        worker.labels.update(labels)

    def invocation_count(self, attempt: AttemptState) -> int:
        return 1  # the one call mock_run makes (hatchet_sdk's mock action has no count: 1)

    def __getattr__(self, name: str) -> NoReturn:
        call = _CALLED_AS.get(name, f"the engine's {name!r}")
        raise MockRunError(
            f"task {self._task_name!r} called {call} under mock_run, which has no engine to "
            "do it: run the task on a worker (`async with hatchet.worker(...)`, in memory "
            "by default) to test what it does there"
        )


@dataclass(frozen=True, slots=True)
class MockRunArguments:
    """What a test passes to ``mock_run`` / ``aio_mock_run``, hatchet_sdk's parameters."""

    input: Any
    additional_metadata: JSONSerializableMapping | None
    parent_outputs: dict[str, JSONSerializableMapping] | None
    retry_count: int
    lifespan: Any
    dependencies: dict[str, Any] | None


def mock_context(task: Task[Any], given: MockRunArguments) -> Context:
    """A Context for one attempt of ``task`` over a run of its own, with the given
    parents COMPLETED with the given outputs. ``ctx.task_output`` still reads parents
    only: an output for a task that is not one is never read."""
    workflow = task.workflow
    spec = workflow.spec
    run = WorkflowRun(
        id=str(uuid.uuid4()),
        spec=spec,
        input=validate_input(workflow, given.input),
        additional_metadata=dict(given.additional_metadata or {}),
        priority=MOCK_PRIORITY,
        created_at=0.0,
        status=RunStatus.RUNNING,
    )
    for name, output in (given.parent_outputs or {}).items():
        parent_spec = spec.tasks.get(name)
        if parent_spec is None:
            continue  # hatchet_sdk takes any names (its example passes one to standalones)
        run.tasks[name] = TaskRun(
            id=str(uuid.uuid4()), workflow_run=run, spec=parent_spec, sequence=0,
            priority=MOCK_PRIORITY, enqueued_at=0.0, ready_at=0.0,
            status=RunStatus.COMPLETED, output=dict(output),
        )  # fmt: skip
    task_run = TaskRun(
        id=str(uuid.uuid4()), workflow_run=run, spec=task.spec, sequence=0,
        priority=MOCK_PRIORITY, enqueued_at=0.0, ready_at=0.0, status=RunStatus.RUNNING,
        retry_count=given.retry_count,
    )  # fmt: skip
    run.tasks[task.name] = task_run
    worker = WorkerRuntime(
        id=str(uuid.uuid4()), name="mock-worker", capacity={}, workflows={},
        executor=ThreadPoolExecutor(max_workers=1), lifespan=given.lifespan,
    )  # fmt: skip
    attempt = AttemptState(
        engine=cast("Engine", NoEngine(task.name)), worker=worker, task_run=task_run,
        runnable=task, retry_count=given.retry_count, started_at=0.0, deadline=float("inf"),
    )  # fmt: skip
    return task.make_context(attempt)


def _prepared(task: Task[Any], given: MockRunArguments) -> tuple[Any, Context, dict[str, Any]]:
    """The function's arguments: the parsed input, the Context, the dependencies."""
    ctx = mock_context(task, given)
    return task.workflow.parse_input(ctx.input), ctx, given.dependencies or {}


def _checked(task: Task[Any], value: Any) -> Any:
    task.serialize_output(value)  # what a worker would refuse to store, refused here too
    return value


def mock_run(task: Task[Any], given: MockRunArguments) -> Any:
    if task.is_async:
        raise TypeError(f"{task.name} is not a sync function. Use `aio_mock_run` instead.")
    payload, ctx, dependencies = _prepared(task, given)
    return _checked(task, task.fn(payload, ctx, **dependencies))


async def aio_mock_run(task: Task[Any], given: MockRunArguments) -> Any:
    if not task.is_async:
        raise TypeError(f"{task.name} is not an async function. Use `mock_run` instead.")
    payload, ctx, dependencies = _prepared(task, given)
    return _checked(task, await task.fn(payload, ctx, **dependencies))
