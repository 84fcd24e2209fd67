"""``hatchet.runs.list(...)``: Hatchet's REST run listing, answered from the stored runs.

As Hatchet's server answers it (``v1WorkflowRunList`` and its OLAP queries): a row per
workflow run (``only_tasks=False``: a child run is a row of its own) or per task run
(``only_tasks=True``), created within ``[since, until]`` (both inclusive; by default the
last day on the engine's clock), newest first, 50 rows from ``offset`` 0 unless asked.
``statuses`` filters the row's own status; ``additional_metadata`` keeps a row whose
metadata holds **any** of the pairs (compared as text: hatchet_sdk 1.43 sends no operator,
and the server's default is OR); ``worker_id`` applies to task rows only,
``parent_task_external_id`` to run rows only; without ``include_payloads`` inputs and
outputs are ``{}``.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta

from flowsim.errors import InvalidInputError
from flowsim.rules import RunStatus
from flowsim.sdk.run_details import (
    PaginationResponse,
    V1TaskSummary,
    V1TaskSummaryList,
    is_standalone,
    minted_id,
    newest_first,
    run_summary,
    task_summary,
)
from flowsim.store.protocol import RunView

#: rows a listing returns when no ``limit`` is given (Hatchet's server default)
DEFAULT_LIMIT = 50
#: the window a listing looks back over when no ``since`` is given (hatchet_sdk's default)
DEFAULT_WINDOW = timedelta(days=1)
_DAY = timedelta(days=1).total_seconds()


@dataclass(frozen=True)
class RunFilters:
    """``hatchet.runs.list``'s filters, in seconds on the engine's clock."""

    since: float
    until: float
    only_tasks: bool = False
    statuses: frozenset[RunStatus] | None = None
    additional_metadata: dict[str, str] | None = None
    workflow_ids: frozenset[str] | None = None
    worker_id: str | None = None
    parent_task_external_id: str | None = None
    triggering_event_external_id: str | None = None
    include_payloads: bool = True

    def admits_run(self, view: RunView) -> bool:
        if not self.since <= view.created_at <= self.until:
            return False
        if self.workflow_ids is not None and minted_id(view.workflow) not in self.workflow_ids:
            return False
        event = view.triggering_event
        wanted_event = self.triggering_event_external_id
        if wanted_event is not None and (event is None or event.id != wanted_event):
            return False
        pairs = self.additional_metadata
        return not pairs or any(
            key in view.additional_metadata and str(view.additional_metadata[key]) == value
            for key, value in pairs.items()
        )


def list_runs(
    views: Sequence[RunView], filters: RunFilters, offset: int | None, limit: int | None
) -> V1TaskSummaryList:
    rows = _task_rows(views, filters) if filters.only_tasks else _run_rows(views, filters)
    rows.sort(key=lambda row: row.created_at, reverse=True)
    start, size = offset or 0, DEFAULT_LIMIT if limit is None else limit
    page = start // size + 1 if size > 0 else 1
    return V1TaskSummaryList(
        rows=rows[start : start + size],
        pagination=PaginationResponse(
            current_page=page,
            next_page=page + 1,
            num_pages=math.ceil(len(rows) / size) if size > 0 else 0,
        ),
    )


def list_by_day(
    views: Sequence[RunView], filters: RunFilters, offset: int | None, limit: int | None
) -> list[V1TaskSummary]:
    """``list_with_pagination``: ``list_runs`` per UTC day of the window (the day windows
    share their midnights, both ends inclusive, so a row is kept once), newest first."""
    rows: dict[str, V1TaskSummary] = {}
    for since, until in _days(filters.since, filters.until):
        day = replace(filters, since=since, until=until)
        for row in list_runs(views, day, offset, limit).rows:
            rows.setdefault(row.metadata.id, row)
    return sorted(rows.values(), key=lambda row: row.created_at, reverse=True)


def _days(since: float, until: float) -> list[tuple[float, float]]:
    """``[since, until]`` cut at each UTC midnight, as hatchet_sdk's
    ``partition_date_range`` cuts it (nothing when ``since`` is not before ``until``)."""
    days = []
    start = since
    while start < until:
        midnight = (math.floor(start / _DAY) + 1) * _DAY
        days.append((start, min(midnight, until)))
        start = midnight
    return days


def _run_rows(views: Sequence[RunView], filters: RunFilters) -> list[V1TaskSummary]:
    parents = _parent_task_ids(views, filters.parent_task_external_id)
    return [
        run_summary(view, filters.include_payloads)
        for view in views
        if filters.admits_run(view)
        and _status_admitted(view.status, filters.statuses)
        and (parents is None or view.parent_task_run_id in parents)
    ]


def _parent_task_ids(views: Sequence[RunView], given: str | None) -> set[str] | None:
    """The task run ids ``parent_task_external_id`` names. On Hatchet a standalone task's
    run and its task share one external id, so tests pass the parent's workflow run id
    (``ref.workflow_run_id``); flowsim gives them two, and takes either."""
    if given is None:
        return None
    ids = {given}
    for view in views:
        if view.id == given and is_standalone(view):
            ids.update(task.id for task in view.tasks.values())
    return ids


def _task_rows(views: Sequence[RunView], filters: RunFilters) -> list[V1TaskSummary]:
    rows = []
    for view in views:
        if not filters.admits_run(view):
            continue
        for index, task in enumerate(newest_first(view), 1):
            worker = task.attempts[-1].worker_id if task.attempts else None
            if not _status_admitted(task.status, filters.statuses):
                continue
            if filters.worker_id is not None and worker != filters.worker_id:
                continue
            rows.append(task_summary(view, task, index, None, filters.include_payloads))
    return rows


def _status_admitted(status: RunStatus, statuses: frozenset[RunStatus] | None) -> bool:
    return statuses is None or status in statuses


def to_seconds(instant: datetime | None, default: float) -> float:
    """A datetime as seconds on the clock runs are stamped with (naive ones are UTC)."""
    if instant is None:
        return default
    if instant.tzinfo is None:
        return (instant - datetime(1970, 1, 1)).total_seconds()
    return instant.timestamp()


def statuses_of(statuses: Sequence[str] | None) -> frozenset[RunStatus] | None:
    if statuses is None:
        return None
    known = {status.value for status in RunStatus}
    unknown = [status for status in statuses if str(status) not in known]
    if unknown:
        raise InvalidInputError(
            f"hatchet.runs.list(statuses=...): {unknown!r} is not a run status; pass "
            f"V1TaskStatus members or their names ({', '.join(sorted(known))})"
        )
    return frozenset(RunStatus(str(status)) for status in statuses)
