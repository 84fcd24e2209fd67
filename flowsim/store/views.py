"""Protocol views from stored values, for every SQL backend.

The SQLite and Postgres stores keep runs in different shapes (JSON text against ``jsonb``,
a stored run status against one derived from ``terminal_status``), but they must return
views that are equal field by field: the contract suite and the parity machine compare
them with the in-memory reference. Building the views here, from plain row tuples whose
JSON columns each backend decodes with its own ``decode``, keeps the two from drifting
apart; the SQL that reads the rows stays in each backend, since the dialects differ.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import replace
from typing import Any, TypeVar

from flowsim.errors import RunNotFoundError
from flowsim.rules import RunStatus, SlotPool
from flowsim.store.protocol import (
    AttemptView,
    RunProgress,
    RunRequest,
    RunView,
    TaskView,
    WorkerInfo,
    WorkerState,
)
from flowsim.store.records import JSON, TriggeringEvent, error_from_json

V = TypeVar("V")

#: how a backend turns a stored JSON column into a value (the identity where the driver
#: decodes it already, as psycopg does for ``jsonb``)
Decode = Callable[[Any], Any]

#: dict lookups: cheaper than calling the enum once per row
STATUS: dict[str, RunStatus] = {status.value: status for status in RunStatus}
POOL: dict[str, SlotPool] = {pool.value: pool for pool in SlotPool}


def _identity(value: Any) -> Any:
    return value


def load_all(texts: Sequence[str]) -> list[Any]:
    """``json.loads`` of each text, decoded as one JSON array: each call of ``json.loads``
    costs about as much as decoding ten small values inside one, and reading 10,000 runs
    decodes 40,000 texts. Every stored text is one value (the store wrote it); should one
    not be, the lengths differ and each is decoded alone (raising as it would have)."""
    if not texts:
        return []
    values: list[Any] = json.loads("[" + ",".join(texts) + "]")
    if len(values) != len(texts):
        values = [json.loads(text) for text in texts]
    return values


def attempt_view(row: Sequence[Any]) -> AttemptView:
    """From ``number, worker_id, queued_at, started_at, finished_at, outcome, error``."""
    number, worker_id, queued_at, started_at, finished_at, outcome, error = row
    return AttemptView(number, worker_id, queued_at, started_at, finished_at, outcome, error)


def task_view(
    row: Sequence[Any], attempts: tuple[AttemptView, ...], decode: Decode = _identity
) -> TaskView:
    """From ``id, name, status, retry_count, output, error, worker_id``; ``output`` and
    ``error`` (the object ``error_to_json`` made) are decoded unless NULL."""
    task_id, name, status, retry_count, output, error, worker_id = row
    return TaskView(
        id=task_id,
        name=name,
        status=STATUS[status],
        retry_count=retry_count,
        output=None if output is None else decode(output),
        error=None if error is None else error_from_json(decode(error)),
        worker_id=worker_id,
        attempts=attempts,
    )


def run_view(
    row: Sequence[Any],
    status: RunStatus,
    tasks: dict[str, TaskView],
    decode: Decode = _identity,
) -> RunView:
    """From ``id, workflow, <status>, input, additional_metadata, priority, created_at,
    finished_at, parent_task_run_id, child_key, child_index, event_id, event_key,
    event_filter``. The
    status column is left to the caller (``status``): one dialect stores it, the other
    derives it."""
    return RunView(
        id=row[0],
        workflow=row[1],
        status=status,
        input=decode(row[3]),
        additional_metadata=decode(row[4]),
        priority=row[5],
        created_at=row[6],
        finished_at=row[7],
        parent_task_run_id=row[8],
        child_key=row[9],
        child_index=row[10],
        tasks=tasks,
        triggering_event=(
            TriggeringEvent(row[11], row[12], None if row[13] is None else decode(row[13]))
            if row[11] is not None
            else None
        ),
    )


def new_run_view(
    request: RunRequest,
    run_id: str,
    task_ids: Sequence[str],
    now: float,
    parent_task_run_id: str | None = None,
    parent_metadata: Mapping[str, JSON] | None = None,
    child_index: int | None = None,
) -> RunView:
    """A run just created, as written: QUEUED, its root tasks (``task_ids`` in
    ``spec.roots`` order) QUEUED with no attempt yet. A child inherits its parent run's
    additional metadata, its own keys winning; a store writes ``additional_metadata`` of
    the view it gets, so the stored row and the view returned agree."""
    metadata = dict(request.additional_metadata)
    if parent_metadata is not None:
        metadata = {**parent_metadata, **metadata}
    return RunView(
        id=run_id,
        workflow=request.spec.name,
        status=RunStatus.QUEUED,
        input=request.input,
        additional_metadata=metadata,
        priority=request.priority,
        created_at=now,
        finished_at=None,
        parent_task_run_id=parent_task_run_id,
        child_key=request.child_key,
        child_index=child_index,
        tasks={
            name: TaskView(task_id, name, RunStatus.QUEUED, 0, None, None, None)
            for name, task_id in zip(request.spec.roots, task_ids, strict=True)
        },
        triggering_event=request.triggering_event,
    )


def worker_state(row: Sequence[Any], decode: Decode = _identity) -> WorkerState:
    """From ``id, name, capacity, workflows, lease_expires_at, accepting[, labels]``,
    where ``capacity`` is an object of slots by pool name, ``workflows`` an array and
    ``labels`` an object."""
    worker_id, name, capacity, workflows, lease_expires_at, accepting, *more = row
    info = WorkerInfo(
        worker_id,
        name,
        {POOL[pool]: int(slots) for pool, slots in decode(capacity).items()},
        tuple(decode(workflows)),
        dict(decode(more[0])) if more and more[0] is not None else {},
    )
    return WorkerState(info, lease_expires_at, bool(accepting))


def run_not_found(run_id: str) -> RunNotFoundError:
    """The error for an unknown run id, worded as every store words it (the contract suite
    matches the id in the message)."""
    return RunNotFoundError(f"no workflow run with id {run_id!r} on this backend")


def task_run_not_found(task_run_id: str) -> RunNotFoundError:
    """The error for an unknown task run id, worded as every store words it."""
    return RunNotFoundError(f"no task run with id {task_run_id!r} on this backend")


def require_runs(found: Mapping[str, object], run_ids: Iterable[str]) -> None:
    """Raise ``run_not_found`` for the first of ``run_ids`` not in ``found``."""
    for run_id in run_ids:
        if run_id not in found:
            raise run_not_found(run_id)


def in_order(found: Mapping[str, V], run_ids: Sequence[str]) -> list[V]:
    """``found``'s values in the order asked (repeats repeated), after ``require_runs``."""
    require_runs(found, run_ids)
    return [found[run_id] for run_id in run_ids]


def without_attempts(view: RunView) -> RunView:
    """``view`` as ``get_runs(..., attempts=False)`` shows it: every task's attempts ``()``."""
    tasks = {name: replace(task, attempts=()) for name, task in view.tasks.items()}
    return replace(view, tasks=tasks)


def with_progress(view: RunView, progress: RunProgress) -> RunView:
    """``view`` (read or created earlier) brought up to ``progress`` of the same run."""
    return RunView(
        view.id, view.workflow, progress.status, view.input, view.additional_metadata,
        view.priority, view.created_at, progress.finished_at, view.parent_task_run_id,
        view.child_key, view.child_index, progress.tasks, view.triggering_event,
    )  # fmt: skip
