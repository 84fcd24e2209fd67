"""``hatchet.runs.get(run_id)``: Hatchet's REST run details, built from the stored run.

Hatchet's tests read runs back through the REST API (``run.run.status``, ``run.tasks``,
``run.shape``, ``run.task_events``), so flowsim builds the same models from what every
backend stores: the run's view with its task runs and attempts, and the workflow's spec
for the shape. Values follow Hatchet's server (``transformers/v1/tasks.go``,
``ToWorkflowRunDetails``): display names are ``<name>-<unix ms>``; the run's ``output`` is
always ``{}`` (the tasks' outputs are in ``tasks``); its ``error_message`` is the error of
any failed attempt, or ``""``; durations are milliseconds; ``tasks`` holds the task runs
created (newest first) and ``shape`` every task of the workflow; ``task_events`` lists each
attempt's QUEUED, ASSIGNED, SENT_TO_WORKER, STARTED and its end (FINISHED, FAILED,
CANCELLED, DURABLE_EVICTED), RETRYING before a retry, RETRIED_BY_USER before a replay of
a completed or cancelled task run, newest first. Ids a Hatchet server
mints (tenant, workflow, version, step) are stable uuid5s of the names here.
"""

from __future__ import annotations

import enum
import itertools
import json
import uuid
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel

from flowsim.rules import RunStatus
from flowsim.store.protocol import AttemptView, RunView, TaskView
from flowsim.store.records import WorkflowSpec

#: the one tenant a flowsim backend is (a Hatchet server has many)
TENANT_ID = "00000000-0000-0000-0000-00000f10a51e"
#: what Hatchet's shape shows for a task the run never created
NIL_ID = "00000000-0000-0000-0000-000000000000"
_NAMES = uuid.UUID("6f0d1c2e-5b7a-4e8f-9a3b-2c1d0e9f8a7b")


class V1TaskEventType(enum.StrEnum):
    """hatchet_sdk's task event types: flowsim reports the ones its stored attempts show."""

    QUEUED = "QUEUED"
    ASSIGNED = "ASSIGNED"
    SENT_TO_WORKER = "SENT_TO_WORKER"
    STARTED = "STARTED"
    FINISHED = "FINISHED"
    FAILED = "FAILED"
    RETRYING = "RETRYING"
    RETRIED_BY_USER = "RETRIED_BY_USER"
    CANCELLED = "CANCELLED"
    SKIPPED = "SKIPPED"
    REASSIGNED = "REASSIGNED"
    DURABLE_EVICTED = "DURABLE_EVICTED"


class APIResourceMeta(BaseModel):
    id: str
    created_at: datetime
    updated_at: datetime


class V1WorkflowRun(BaseModel):
    metadata: APIResourceMeta
    status: RunStatus
    started_at: datetime | None = None
    finished_at: datetime | None = None
    duration: int | None = None
    tenant_id: str
    additional_metadata: dict[str, Any] | None = None
    display_name: str
    workflow_id: str
    output: dict[str, Any]
    error_message: str | None = None
    workflow_version_id: str | None = None
    input: dict[str, Any]
    created_at: datetime | None = None
    parent_task_external_id: str | None = None


class V1TaskSummary(BaseModel):
    metadata: APIResourceMeta
    action_id: str | None = None
    retry_count: int | None = None
    attempt: int | None = None
    additional_metadata: dict[str, Any] | None = None
    children: list[V1TaskSummary] | None = None
    created_at: datetime
    display_name: str
    duration: int | None = None
    is_durable: bool | None = None
    error_message: str | None = None
    finished_at: datetime | None = None
    input: dict[str, Any]
    num_spawned_children: int
    output: dict[str, Any]
    status: RunStatus
    is_evicted: bool | None = None
    started_at: datetime | None = None
    step_id: str | None = None
    task_external_id: str
    task_id: int
    task_inserted_at: datetime
    tenant_id: str
    type: str
    workflow_id: str
    workflow_name: str | None = None
    workflow_run_external_id: str
    workflow_version_id: str | None = None
    workflow_config: dict[str, Any] | None = None
    parent_task_external_id: str | None = None
    idempotency_key: str | None = None
    payloads_restricted: bool | None = None


class V1TaskEvent(BaseModel):
    id: int
    task_id: str
    timestamp: datetime
    event_type: V1TaskEventType
    message: str
    error_message: str | None = None
    output: str | None = None
    worker_id: str | None = None
    task_display_name: str | None = None
    retry_count: int | None = None
    attempt: int | None = None


class WorkflowRunShapeItemForWorkflowRunDetails(BaseModel):
    task_external_id: str
    step_id: str
    children_step_ids: list[str]
    task_name: str


class PaginationResponse(BaseModel):
    current_page: int | None = None
    next_page: int | None = None
    num_pages: int | None = None


class V1TaskSummaryList(BaseModel):
    pagination: PaginationResponse
    rows: list[V1TaskSummary]


class TaskRunDetail(BaseModel):
    """One task of ``hatchet.runs.get_details`` (hatchet_sdk's ``clients.admin`` model)."""

    external_id: str
    readable_id: str
    output: dict[str, Any] | None = None
    error: str | None = None
    status: RunStatus
    is_evicted: bool = False


class WorkflowRunDetail(BaseModel):
    """``hatchet.runs.get_details``: the engine's (gRPC) view of a run, which hatchet_sdk's
    sync ``result()`` polls."""

    external_id: str
    status: RunStatus
    input: dict[str, Any] | None = None
    additional_metadata: dict[str, Any] | None = None
    task_runs: dict[str, TaskRunDetail]
    done: bool = False


def workflow_run_detail(view: RunView) -> WorkflowRunDetail:
    """As Hatchet's engine answers ``GetRunDetails``: each task created, its output (none
    for an empty one, which a worker sends as no output), the error of a failed task (a
    cancelled one carries none), and whether the run is done."""
    return WorkflowRunDetail(
        external_id=view.id,
        status=view.status,
        input=_object(view.input) or None,
        additional_metadata=dict(view.additional_metadata) or None,
        task_runs={
            name: TaskRunDetail(
                external_id=task.id,
                readable_id=name,
                output=_object(task.output) or None,
                error=_failure(task),
                status=task.status,
                is_evicted=bool(task.attempts and task.attempts[-1].outcome == "EVICTED"),
            )
            for name, task in view.tasks.items()
        },
        done=view.status.is_terminal,
    )


class V1WorkflowRunDetails(BaseModel):
    run: V1WorkflowRun
    task_events: list[V1TaskEvent]
    shape: list[WorkflowRunShapeItemForWorkflowRunDetails]
    tasks: list[V1TaskSummary]
    workflow_config: dict[str, Any] | None = None


def workflow_run_details(view: RunView, spec: WorkflowSpec) -> V1WorkflowRunDetails:
    """The REST details of a stored run; ``spec`` gives the workflow's tasks and parents
    (a run another process defined has only the tasks its view shows)."""
    # newest first; events of one instant (an attempt's ASSIGNED, SENT_TO_WORKER and
    # STARTED) in the reverse of the order they happened
    events = [event for task in view.tasks.values() for event in _events(view, task)]
    order = sorted(range(len(events)), key=lambda i: (events[i][0], i), reverse=True)
    return V1WorkflowRunDetails(
        run=_run(view),
        task_events=[
            events[i][1].model_copy(update={"id": number}) for number, i in enumerate(order, 1)
        ],
        shape=_shape(view, spec),
        tasks=task_summaries(view, spec),
    )


def newest_first(view: RunView) -> list[TaskView]:
    """The run's task runs in Hatchet's listing order (newest first); a task's ``task_id``
    is its place here, the same in every model that shows it."""
    return sorted(view.tasks.values(), key=lambda task: _created(view, task), reverse=True)


def task_summaries(
    view: RunView, spec: WorkflowSpec | None, payloads: bool = True
) -> list[V1TaskSummary]:
    """``task_summary`` of every task run of the run, newest first (``spec``, if known,
    says which tasks are durable)."""
    return [
        task_summary(view, task, index, _durable(spec, task.name), payloads)
        for index, task in enumerate(newest_first(view), 1)
    ]


def is_standalone(view: RunView) -> bool:
    """A run of a standalone task (``@hatchet.task``): its one task bears the workflow's
    name. Hatchet gives such a run and its task one id; flowsim gives them two."""
    return [task.name for task in view.tasks.values()] == [view.workflow]


def _run(view: RunView) -> V1WorkflowRun:
    # Hatchet reads each task's latest attempt: a retried task started when its retry did
    starts = [task.attempts[-1].started_at for task in view.tasks.values() if task.attempts]
    started = min(starts) if starts else None
    failures = [
        (attempt.number, attempt.error or "")
        for task in view.tasks.values()
        for attempt in task.attempts
        if attempt.outcome == "FAILED"
    ]
    return V1WorkflowRun(
        metadata=resource_meta(view.id, view.created_at, view.finished_at),
        status=view.status,
        started_at=_time(started),
        finished_at=_time(view.finished_at),
        duration=_millis(started, view.finished_at),
        tenant_id=TENANT_ID,
        additional_metadata=dict(view.additional_metadata),
        display_name=f"{view.workflow}-{int(view.created_at * 1000)}",
        workflow_id=minted_id(view.workflow),
        output={},
        error_message=max(failures)[1] if failures else "",
        workflow_version_id=minted_id(f"{view.workflow}/version"),
        input=_object(view.input),
        created_at=_time(view.created_at),
        parent_task_external_id=view.parent_task_run_id,
    )


def task_summary(
    view: RunView, task: TaskView, index: int, durable: bool | None, payloads: bool = True
) -> V1TaskSummary:
    """A task run as Hatchet's REST API summarises it (``index`` numbers it in its run;
    without ``payloads`` its input and output are ``{}``, as Hatchet sends them)."""
    created = _created(view, task)
    latest = task.attempts[-1] if task.attempts else None
    finished = _finished(view, task)
    started = latest.started_at if latest is not None else None
    return V1TaskSummary(
        metadata=resource_meta(task.id, created, finished),
        action_id=f"{view.workflow}:{task.name}",
        retry_count=task.retry_count,
        attempt=task.retry_count + 1,
        additional_metadata=dict(view.additional_metadata),
        created_at=_datetime(created),
        display_name=f"{task.name}-{int(created * 1000)}",
        duration=_millis(started, finished),
        is_durable=durable,
        error_message=_failure(task) or "",
        finished_at=_time(finished),
        input=_object(view.input) if payloads else {},
        num_spawned_children=0,
        output=_object(task.output) if payloads else {},
        status=task.status,
        is_evicted=bool(latest is not None and latest.outcome == "EVICTED"),
        started_at=_time(started),
        step_id=minted_id(f"{view.workflow}/{task.name}"),
        task_external_id=task.id,
        task_id=index,
        task_inserted_at=_datetime(created),
        tenant_id=TENANT_ID,
        type="TASK",
        workflow_id=minted_id(view.workflow),
        workflow_name=view.workflow,
        workflow_run_external_id=view.id,
        workflow_version_id=minted_id(f"{view.workflow}/version"),
        parent_task_external_id=view.parent_task_run_id,
    )


def run_summary(view: RunView, payloads: bool = True) -> V1TaskSummary:
    """A workflow run as a row of Hatchet's run listing: a standalone task's run is its
    task's row under the run's id; a DAG's is a ``DAG`` row with its tasks as children,
    the output of its last finished task as its output, its highest retry count."""
    rows = task_summaries(view, None, payloads)
    meta = resource_meta(view.id, view.created_at, view.finished_at)
    if is_standalone(view):
        return rows[0].model_copy(update={"task_external_id": view.id, "metadata": meta})
    tasks = view.tasks.values()
    ended = [task for task in tasks if task.status is RunStatus.COMPLETED and task.output]
    last = max(ended, key=lambda task: _finished(view, task) or 0.0, default=None)
    retries = max((task.retry_count for task in tasks), default=0)
    run = _run(view)
    return V1TaskSummary(
        metadata=meta,
        task_external_id=view.id,
        retry_count=retries,
        attempt=retries + 1,
        additional_metadata=dict(view.additional_metadata),
        children=rows,
        created_at=_datetime(view.created_at),
        display_name=run.display_name,
        duration=run.duration,
        error_message=run.error_message,
        finished_at=run.finished_at,
        input=_object(view.input) if payloads else {},
        num_spawned_children=0,
        output=_object(last.output) if last is not None and payloads else {},
        status=view.status,
        started_at=run.started_at,
        task_id=0,
        task_inserted_at=_datetime(view.created_at),
        tenant_id=TENANT_ID,
        type="DAG",
        workflow_id=run.workflow_id,
        workflow_name=view.workflow,
        workflow_run_external_id=view.id,
        workflow_version_id=run.workflow_version_id,
        parent_task_external_id=view.parent_task_run_id,
    )


def _durable(spec: WorkflowSpec | None, task: str) -> bool | None:
    task_spec = spec.tasks.get(task) if spec is not None else None
    return task_spec.durable if task_spec is not None else None


def _failure(task: TaskView) -> str | None:
    """The error text of a failed task (a cancelled one carries none, as in Hatchet)."""
    failed = task.status is RunStatus.FAILED and task.error is not None
    return str(task.error) if failed else None


def _shape(view: RunView, spec: WorkflowSpec) -> list[WorkflowRunShapeItemForWorkflowRunDetails]:
    names = list(dict.fromkeys([*spec.tasks, *view.tasks]))
    children: dict[str, list[str]] = {name: [] for name in names}
    for name in names:
        task_spec = spec.tasks.get(name)
        for parent in task_spec.parents if task_spec is not None else ():
            children.setdefault(parent, []).append(minted_id(f"{view.workflow}/{name}"))
    return [
        WorkflowRunShapeItemForWorkflowRunDetails(
            task_external_id=view.tasks[name].id if name in view.tasks else NIL_ID,
            step_id=minted_id(f"{view.workflow}/{name}"),
            children_step_ids=children[name],
            task_name=name,
        )
        for name in names
    ]


#: an attempt's outcome -> the event that ends it
_ENDS = {
    "COMPLETED": V1TaskEventType.FINISHED,
    "FAILED": V1TaskEventType.FAILED,
    "CANCELLED": V1TaskEventType.CANCELLED,
    "EVICTED": V1TaskEventType.DURABLE_EVICTED,
    "LOST": V1TaskEventType.REASSIGNED,
}


def _events(view: RunView, task: TaskView) -> list[tuple[float, V1TaskEvent]]:
    """(instant, event) of the task's life, oldest first; ids are numbered by the caller."""
    created = _created(view, task)
    made = _event_maker(view, task)
    if not task.attempts:  # skipped, or cancelled before it ran
        if task.status is RunStatus.COMPLETED:
            return [made(created, V1TaskEventType.SKIPPED, 0)]
        queued = [made(created, V1TaskEventType.QUEUED, 0)]
        if task.status is RunStatus.CANCELLED:
            queued.append(made(_finished(view, task) or created, V1TaskEventType.CANCELLED, 0))
        return queued
    events = []
    for attempt, following in itertools.zip_longest(task.attempts, task.attempts[1:]):
        retry = attempt.number - 1
        events.append(made(attempt.queued_at, V1TaskEventType.QUEUED, retry))
        for kind in (V1TaskEventType.ASSIGNED, V1TaskEventType.SENT_TO_WORKER,
                     V1TaskEventType.STARTED):  # fmt: skip
            events.append(made(attempt.started_at, kind, retry, attempt))
        end = _ENDS.get(attempt.outcome)
        if end is not None and attempt.finished_at is not None:
            events.append(made(attempt.finished_at, end, retry, attempt))
        if following is None or following.number <= attempt.number:
            continue  # the last attempt, or a restore (eviction, lost worker): no retry
        if attempt.outcome in ("COMPLETED", "CANCELLED"):  # only a replay runs it again
            events.append(made(following.queued_at, V1TaskEventType.RETRIED_BY_USER, retry))
        else:
            when = attempt.finished_at or following.queued_at
            events.append(made(when, V1TaskEventType.RETRYING, following.number - 1))
    return events


def _event_maker(view: RunView, task: TaskView) -> Any:
    display = f"{task.name}-{int(_created(view, task) * 1000)}"
    output = json.dumps(task.output) if task.output else None

    def made(
        at: float, kind: V1TaskEventType, retry: int, attempt: AttemptView | None = None
    ) -> tuple[float, V1TaskEvent]:
        message = {
            V1TaskEventType.SENT_TO_WORKER: "Sent task run to the assigned worker",
            V1TaskEventType.RETRYING: f"This is retry number {retry}.",
            V1TaskEventType.RETRIED_BY_USER: "Task was replayed, resetting task result.",
        }.get(kind, "")
        failed = kind is V1TaskEventType.FAILED and attempt is not None
        event = V1TaskEvent(
            id=0,
            task_id=task.id,
            timestamp=_datetime(at),
            event_type=kind,
            message=message,
            error_message=(attempt.error or "") if failed and attempt is not None else "",
            output=output if kind is V1TaskEventType.FINISHED else None,
            worker_id=attempt.worker_id if attempt is not None else None,
            task_display_name=display,
            retry_count=retry,
            attempt=retry + 1,
        )
        return at, event

    return made


def _created(view: RunView, task: TaskView) -> float:
    """When the task run was created: its first attempt's queue time, else the run's."""
    return task.attempts[0].queued_at if task.attempts else view.created_at


def _finished(view: RunView, task: TaskView) -> float | None:
    if not task.status.is_terminal:
        return None
    if task.attempts and task.attempts[-1].finished_at is not None:
        return task.attempts[-1].finished_at
    return view.finished_at


def resource_meta(resource_id: str, created: float, updated: float | None) -> APIResourceMeta:
    return APIResourceMeta(
        id=resource_id,
        created_at=_datetime(created),
        updated_at=_datetime(updated if updated is not None else created),
    )


def minted_id(name: str) -> str:
    return str(uuid.uuid5(_NAMES, name))


def _object(value: Any) -> dict[str, Any]:
    return dict(value) if isinstance(value, dict) else {}


def _millis(start: float | None, end: float | None) -> int | None:
    return None if start is None or end is None else round((end - start) * 1000)


def _time(value: float | None) -> datetime | None:
    return None if value is None else _datetime(value)


def _datetime(value: float) -> datetime:
    return datetime.fromtimestamp(value, UTC)
