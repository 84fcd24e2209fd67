"""Scheduled runs: ``wf.schedule`` and ``hatchet.scheduled`` (crons:
``flowsim.sdk.cron_client``).

A scheduled run is stored at once, as a QUEUED run whose tasks are not claimable before
``run_at`` (the store's not-before time, the one a retry's backoff uses): any worker process
sharing the store claims it when due, and the run is in ``hatchet.runs.views()`` from the
start (Hatchet keeps a separate scheduled record until it fires).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from flowsim.errors import InvalidInputError
from flowsim.rules import RunStatus
from flowsim.sdk.idempotency import created_or_raise
from flowsim.sdk.not_modelled import refuse
from flowsim.sdk.task import validate_input
from flowsim.sdk.types import JSONSerializableMapping
from flowsim.store.records import JSON
from flowsim.store.transitions import NewRun

if TYPE_CHECKING:
    from flowsim.sdk.workflow import BaseWorkflow


@dataclass(frozen=True, slots=True)
class ResourceMeta:
    """hatchet_sdk's ``APIResourceMeta``: what ``.metadata.id`` is read from."""

    id: str


@dataclass(frozen=True, slots=True)
class ScheduledRun:
    """What ``wf.schedule`` / ``hatchet.scheduled.create`` return. The scheduled id is the
    id of the run waiting for its time (``hatchet.runs.view(id)`` reads it)."""

    metadata: ResourceMeta
    workflow_name: str
    trigger_at: datetime
    input: JSON
    additional_metadata: dict[str, JSON]
    workflow_run_id: str

    @property
    def id(self) -> str:
        return self.metadata.id


def _timestamp(run_at: datetime, where: str) -> float:
    if not isinstance(run_at, datetime):
        raise InvalidInputError(
            f"{where}: run_at must be a datetime, got {type(run_at).__name__}; pass e.g. "
            "datetime.now(tz=UTC) + timedelta(minutes=5)"
        )
    return run_at.timestamp()


def schedule_run(
    workflow: BaseWorkflow,
    run_at: datetime,
    input: Any,
    additional_metadata: JSONSerializableMapping | None,
    priority: int | None,
) -> ScheduledRun:
    """Store a run of ``workflow`` that no worker claims before ``run_at``."""
    when = _timestamp(run_at, f"{workflow.name}.schedule()")
    metadata = {**workflow.default_additional_metadata, **(additional_metadata or {})}
    item = NewRun(
        workflow.spec,
        validate_input(workflow, input),
        metadata,
        workflow.default_priority if priority is None else int(priority),
        run_at=when,
    )
    engine = workflow.client.engine
    # not a child, even when called from a task; claims its idempotency key now
    (run,) = created_or_raise(engine.trigger([item], None), bulk=False)
    return ScheduledRun(
        ResourceMeta(run.id),
        workflow.name,
        datetime.fromtimestamp(when, tz=UTC),
        item.input,
        metadata,
        run.id,
    )


@refuse(
    "hatchet.scheduled",
    "a Hatchet server's records of scheduled runs (reading, listing, updating them)",
    "a scheduled run is a stored run from the start: read it with "
    "hatchet.runs.view(scheduled.id)",
    "get", "aio_get", "list", "aio_list", "update", "aio_update", "bulk_delete",
    "aio_bulk_delete", "bulk_update", "aio_bulk_update",
)  # fmt: skip
class ScheduledClient:
    """``hatchet.scheduled``: create scheduled runs by workflow name."""

    def __init__(self, hatchet: Any) -> None:
        self._hatchet = hatchet

    def create(
        self,
        workflow_name: str,
        trigger_at: datetime,
        input: JSONSerializableMapping | None = None,
        additional_metadata: JSONSerializableMapping | None = None,
    ) -> ScheduledRun:
        workflow = self._hatchet.defined_workflow(workflow_name)
        return schedule_run(workflow, trigger_at, input, additional_metadata, None)

    async def aio_create(
        self,
        workflow_name: str,
        trigger_at: datetime,
        input: JSONSerializableMapping | None = None,
        additional_metadata: JSONSerializableMapping | None = None,
    ) -> ScheduledRun:
        return self.create(workflow_name, trigger_at, input, additional_metadata)

    def delete(self, scheduled_id: str) -> None:
        """Call off a scheduled run: one still queued is cancelled and never runs (it stays
        readable as CANCELLED); one that started or ended is left alone, as Hatchet leaves
        the run a schedule already created. ``RunNotFoundError`` for an unknown id."""
        runs = self._hatchet.runs
        if runs.view(scheduled_id).status is RunStatus.QUEUED:
            runs.cancel(scheduled_id)

    async def aio_delete(self, scheduled_id: str) -> None:
        runs = self._hatchet.runs
        if runs.view(scheduled_id).status is RunStatus.QUEUED:
            await runs.aio_cancel(scheduled_id)
