"""``hatchet.runs``: reading runs back, triggering, cancelling and replaying them, as
hatchet_sdk's runs client does.

Every method has Hatchet's name and shape but ``reset_durable_task`` (branching a durable
task's event log), refused by name (``not_modelled``); the REST models come from
``flowsim.sdk.run_details``, the listing from ``flowsim.sdk.run_listing``, what a replay
re-runs from ``flowsim.engine.run_replay``. ``view`` and ``views`` are flowsim's own:
they return the store's ``RunView`` (tasks, retry counts, attempts, workers), the same on
every backend, so a test can assert what happened without knowing where it was stored.
"""

from __future__ import annotations

import asyncio
import builtins
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, model_validator

from flowsim.engine.engine import Engine
from flowsim.engine.streams import subscribe
from flowsim.errors import (
    InvalidInputError,
    RunNotFinishedError,
    RunNotFoundError,
    UnknownWorkflowError,
)
from flowsim.rules import RunStatus
from flowsim.sdk.not_modelled import refuse
from flowsim.sdk.refs import WorkflowRunRef, outcome
from flowsim.sdk.run_details import (
    V1TaskSummary,
    V1TaskSummaryList,
    V1WorkflowRunDetails,
    WorkflowRunDetail,
    task_summaries,
    workflow_run_detail,
    workflow_run_details,
)
from flowsim.sdk.run_listing import (
    DEFAULT_WINDOW,
    RunFilters,
    list_by_day,
    list_runs,
    statuses_of,
    to_seconds,
)
from flowsim.sdk.types import JSONSerializableMapping
from flowsim.store.protocol import RunView
from flowsim.store.records import WorkflowSpec

if TYPE_CHECKING:
    from flowsim.sdk.workflow import BaseWorkflow

#: hatchet_sdk's REST status of a run, what ``hatchet.runs.get_status`` returns there
#: (tests import it from ``hatchet_sdk.clients.rest.models.v1_task_status`` to poll it):
#: the five values of ``RunStatus``, served as that enum, so ``get_status`` answers both
V1TaskStatus = RunStatus
#: most workflow runs a bulk cancel or replay by ``filters`` acts on (Hatchet's server
#: lists them with this limit)
FILTER_LIMIT = 1000


@refuse(
    "hatchet.runs",
    "branching a durable task from a node of its event log",
    "let the task retry: it replays its event log",
    "reset_durable_task", "aio_reset_durable_task",
)  # fmt: skip
class RunsClient:
    def __init__(
        self,
        engine: Callable[[], Engine],
        workflows: Callable[[str], BaseWorkflow | None] = lambda name: None,
    ) -> None:
        # the client's engine is looked up per call: a pytest reset replaces it
        self._engine = engine
        #: a workflow defined through the client, by name: ``create`` triggers it, a
        #: replay reads its DAG
        self._workflows = workflows

    def _defined(self, name: str) -> WorkflowSpec | None:
        workflow = self._workflows(name)
        return None if workflow is None else workflow.spec

    def create(
        self,
        workflow_name: str,
        input: JSONSerializableMapping,
        additional_metadata: JSONSerializableMapping | None = None,
        priority: int | None = None,
    ) -> V1WorkflowRunDetails:
        """Hatchet's REST trigger of a workflow by its name (its escape hatch: hatchet_sdk
        prefers ``workflow.run``): a run of the workflow this client defines under that
        name, its ``input`` validated as ``run`` validates it (Hatchet's server takes any
        JSON and the task fails on it later), its details returned as ``get`` shows them."""
        workflow = self._workflows(workflow_name)
        if workflow is None:
            raise UnknownWorkflowError(
                f"hatchet.runs.create({workflow_name!r}): no workflow of this name is defined "
                "through this Hatchet client; define it here (hatchet.workflow(name=...) or "
                "hatchet.task(name=...)), or trigger it with its own run()"
            )
        ref = workflow.run(
            input, additional_metadata=additional_metadata, priority=priority, wait_for_result=False
        )
        return self.get(ref.workflow_run_id)

    async def aio_create(
        self,
        workflow_name: str,
        input: JSONSerializableMapping,
        additional_metadata: JSONSerializableMapping | None = None,
        priority: int | None = None,
    ) -> V1WorkflowRunDetails:
        return await asyncio.to_thread(
            self.create, workflow_name, input, additional_metadata, priority
        )

    def view(self, workflow_run_id: str) -> RunView:
        """The stored run; ``RunNotFoundError`` if this backend has no such run."""
        (run,) = self._engine().run_views([workflow_run_id])
        return run

    def views(self) -> list[RunView]:
        """Every stored run, oldest first, children included."""
        return self._engine().run_views()

    def get(self, workflow_run_id: str) -> V1WorkflowRunDetails:
        """Hatchet's REST details of the run (``run``, ``tasks``, ``shape``,
        ``task_events``), built from the stored run (``flowsim.sdk.run_details``)."""
        engine = self._engine()
        with _workflow_run_id_expected("get", workflow_run_id):
            spec = engine.workflow_run(workflow_run_id).spec
            (view,) = engine.run_views([workflow_run_id])
        return workflow_run_details(view, spec)

    async def aio_get(self, workflow_run_id: str) -> V1WorkflowRunDetails:
        return await asyncio.to_thread(self.get, workflow_run_id)

    def get_details(self, external_id: str) -> WorkflowRunDetail:
        """The engine's view of the run (hatchet_sdk's ``WorkflowRunDetail``): its status,
        each task's output or failure, whether it is done."""
        engine = self._engine()
        with _workflow_run_id_expected("get_details", external_id):
            (view,) = engine.run_views([external_id])
        return workflow_run_detail(view)

    async def aio_get_details(self, external_id: str) -> WorkflowRunDetail:
        return await asyncio.to_thread(self.get_details, external_id)

    def get_task_run(self, task_run_id: str) -> V1TaskSummary:
        """Hatchet's REST summary of one task run (as in ``get``'s ``tasks``), found by its
        id among the stored runs (``ctx.step_run_id``, ``view.tasks[name].id``)."""
        engine = self._engine()
        for view in engine.run_views():
            if any(task.id == task_run_id for task in view.tasks.values()):
                spec = engine.workflow_run(view.id).spec
                summaries = task_summaries(view, spec)
                return next(t for t in summaries if t.task_external_id == task_run_id)
        raise RunNotFoundError(
            f"hatchet.runs.get_task_run({task_run_id!r}): no task run with this id on this "
            "backend; pass a task run id (ctx.step_run_id, or hatchet.runs.view(run_id)"
            ".tasks[name].id), not a workflow run id"
        )

    async def aio_get_task_run(self, task_run_id: str) -> V1TaskSummary:
        return await asyncio.to_thread(self.get_task_run, task_run_id)

    def get_run_ref(self, workflow_run_id: str) -> WorkflowRunRef:
        """A handle on a run triggered anywhere (this process, another worker process on
        the same backend): ``result()`` / ``aio_result()`` wait for it as the ref of
        ``run(wait_for_result=False)`` does."""
        engine = self._engine()
        with _workflow_run_id_expected("get_run_ref", workflow_run_id):
            return WorkflowRunRef(engine, engine.workflow_run(workflow_run_id))

    def get_result(self, run_id: str) -> dict[str, Any]:
        """The result of a run that has ended, read without waiting (hatchet_sdk reads
        the stored output): the dict ``result()`` returns for a completed run, and what it
        raises for a failed or cancelled one. A run still queued or running raises
        ``RunNotFinishedError`` (Hatchet returns the output stored so far); wait for it
        with ``get_run_ref(run_id).result()``."""
        engine = self._engine()
        with _workflow_run_id_expected("get_result", run_id):
            run = engine.workflow_run(run_id)
        if not run.status.is_terminal:
            raise RunNotFinishedError(
                f"hatchet.runs.get_result({run_id!r}): the run is {run.status.value}, it has "
                "no result yet; wait for it with hatchet.runs.get_run_ref(run_id).result() "
                "(or aio_result())"
            )
        return outcome(engine, run, sync=True)

    async def aio_get_result(self, run_id: str) -> dict[str, Any]:
        return await asyncio.to_thread(self.get_result, run_id)

    async def subscribe_to_stream(self, workflow_run_id: str) -> AsyncIterator[str]:
        """What the run's tasks put with ``ctx.put_stream`` from the moment iteration
        starts until the run ends, in the order put (Hatchet delivers nothing put before
        the subscription, and nothing for a run that already ended). A run that can never
        end raises what ``aio_result()`` raises (``SlotDeadlockError``, ...)."""
        engine = self._engine()
        with _workflow_run_id_expected("subscribe_to_stream", workflow_run_id):
            run = engine.workflow_run(workflow_run_id)
        chunks = subscribe(engine, run)
        try:
            async for chunk in chunks:
                yield chunk
        finally:  # a subscriber that stops early stops waiting for the run at once
            await chunks.aclose()

    def get_status(self, workflow_run_id: str) -> V1TaskStatus:
        return self.view(workflow_run_id).status

    async def aio_get_status(self, workflow_run_id: str) -> V1TaskStatus:
        return await asyncio.to_thread(self.get_status, workflow_run_id)

    def cancel(self, run_id: str) -> None:
        """Cancel a workflow run and every run spawned below it: queued tasks never start,
        running ones see ``ctx.exit_flag`` and async ones are cancelled; nothing is retried.
        Waiting callers get what hatchet_sdk gives for a cancelled run."""
        engine = self._engine()
        with _workflow_run_id_expected("cancel", run_id):
            engine.cancel(run_id, _reason(run_id))

    async def aio_cancel(self, run_id: str) -> None:
        engine = self._engine()
        with _workflow_run_id_expected("aio_cancel", run_id):
            await engine.aio_cancel(run_id, _reason(run_id))

    def bulk_cancel(self, opts: BulkCancelReplayOpts) -> None:
        """``cancel`` of each run ``opts`` names: by ``ids`` (after checking that every id
        is a run of this backend: an unknown one raises ``RunNotFoundError`` and nothing
        is cancelled), or the runs its ``filters`` select (``RunFilter``)."""
        ids = self._selected(opts)
        engine = self._engine()
        try:
            engine.run_views(ids)
        except RunNotFoundError as exc:
            raise RunNotFoundError(
                f"hatchet.runs.bulk_cancel: {exc}; nothing was cancelled. Pass workflow run "
                "ids (ref.workflow_run_id, view.id)"
            ) from exc
        for run_id in ids:
            self.cancel(run_id)

    async def aio_bulk_cancel(self, opts: BulkCancelReplayOpts) -> None:
        await asyncio.to_thread(self.bulk_cancel, opts)

    def replay(self, run_id: str) -> None:
        """Replay a workflow run (every task of it) or one task run, as Hatchet's engine
        does (``flowsim.engine.run_replay``): a task run that ended is queued again under
        its id as its next retry (``ctx.retry_count`` one higher) with its whole retry
        budget back; one still queued or running is left alone. Done when this returns
        (Hatchet's server does it in the background)."""
        self._engine().replay([run_id], f"hatchet.runs.replay({run_id!r})", self._defined)

    async def aio_replay(self, run_id: str) -> None:
        await asyncio.to_thread(self.replay, run_id)

    def bulk_replay(self, opts: BulkCancelReplayOpts) -> None:
        """``replay`` of every run ``opts`` names (``ids``: workflow or task run ids) or
        selects (``filters``); an unknown id, or a run flowsim cannot replay, raises
        before anything is replayed."""
        chosen = self._selected(opts)
        self._engine().replay(chosen, "hatchet.runs.bulk_replay", self._defined)

    async def aio_bulk_replay(self, opts: BulkCancelReplayOpts) -> None:
        await asyncio.to_thread(self.bulk_replay, opts)

    def bulk_replay_by_filters_with_pagination(
        self,
        sleep_time: int = 3,
        chunk_size: int = 500,
        since: datetime | None = None,
        until: datetime | None = None,
        statuses: Sequence[str] | None = None,
        additional_metadata: dict[str, str] | None = None,
        workflow_ids: Sequence[str] | None = None,
    ) -> None:
        """``bulk_replay`` of the runs selected (by default those FAILED or CANCELLED in
        the last day), ``chunk_size`` ids at a time, as hatchet_sdk pages through them.
        ``sleep_time`` is not slept: it spares a server's API, which flowsim has not."""
        chosen = _bulk_filter(since, until, statuses or [RunStatus.FAILED, RunStatus.CANCELLED],
                              additional_metadata, workflow_ids)  # fmt: skip
        self._in_chunks(self.bulk_replay, chosen, chunk_size)

    async def aio_bulk_replay_by_filters_with_pagination(self, *args: Any, **kwargs: Any) -> None:
        await asyncio.to_thread(self.bulk_replay_by_filters_with_pagination, *args, **kwargs)

    def bulk_cancel_by_filters_with_pagination(
        self,
        sleep_time: int = 3,
        chunk_size: int = 500,
        since: datetime | None = None,
        until: datetime | None = None,
        statuses: Sequence[str] | None = None,
        additional_metadata: dict[str, str] | None = None,
        workflow_ids: Sequence[str] | None = None,
    ) -> None:
        """``bulk_cancel`` of the runs selected (by default those RUNNING or QUEUED in the
        last day), ``chunk_size`` ids at a time; ``sleep_time`` is not slept."""
        chosen = _bulk_filter(since, until, statuses or [RunStatus.RUNNING, RunStatus.QUEUED],
                              additional_metadata, workflow_ids)  # fmt: skip
        self._in_chunks(self.bulk_cancel, chosen, chunk_size)

    async def aio_bulk_cancel_by_filters_with_pagination(self, *args: Any, **kwargs: Any) -> None:
        await asyncio.to_thread(self.bulk_cancel_by_filters_with_pagination, *args, **kwargs)

    def _in_chunks(
        self, act: Callable[[BulkCancelReplayOpts], None], chosen: RunFilter, size: int
    ) -> None:
        """``act`` on the runs ``chosen`` selects, ``size`` ids at a time (the paginated
        bulk forms: hatchet_sdk lists the ids, then sends them back in chunks)."""
        if size < 1:
            raise InvalidInputError(f"chunk_size must be at least 1, got {size}")
        ids = self._filtered(chosen)
        for start in range(0, len(ids), size):
            act(BulkCancelReplayOpts(ids=ids[start : start + size]))

    def _selected(self, opts: BulkCancelReplayOpts) -> builtins.list[str]:
        """The ids ``opts`` names, each once, or the workflow runs its filters select."""
        if opts.filters is None:
            return builtins.list(dict.fromkeys(opts.ids or ()))
        return self._filtered(opts.filters)

    def _filtered(self, chosen: RunFilter) -> builtins.list[str]:
        """The workflow runs a ``RunFilter`` selects, newest first, at most
        ``FILTER_LIMIT`` (Hatchet's server lists them as ``list`` does, with every status
        unless ``statuses``, and acts on its first page)."""
        engine = self._engine()
        filters = _filters(
            engine, chosen.since, chosen.until, statuses=chosen.statuses,
            workflow_ids=chosen.workflow_ids, additional_metadata=chosen.additional_metadata,
        )  # fmt: skip
        listed = list_runs(engine.run_views(), filters, 0, FILTER_LIMIT)
        return [row.metadata.id for row in listed.rows]

    def list(
        self,
        since: datetime | None = None,
        only_tasks: bool = False,
        offset: int | None = None,
        limit: int | None = None,
        statuses: Sequence[str] | None = None,
        until: datetime | None = None,
        additional_metadata: dict[str, str] | None = None,
        workflow_ids: Sequence[str] | None = None,
        worker_id: str | None = None,
        parent_task_external_id: str | None = None,
        triggering_event_external_id: str | None = None,
        include_payloads: bool = True,
    ) -> V1TaskSummaryList:
        """Hatchet's REST run listing (``flowsim.sdk.run_listing``): rows per run, or per
        task with ``only_tasks``, from the last day on the engine's clock by default."""
        engine = self._engine()
        filters = _filters(
            engine, since, until, only_tasks=only_tasks, statuses=statuses,
            additional_metadata=additional_metadata, workflow_ids=workflow_ids,
            worker_id=worker_id, parent_task_external_id=parent_task_external_id,
            triggering_event_external_id=triggering_event_external_id,
            include_payloads=include_payloads,
        )  # fmt: skip
        return list_runs(engine.run_views(), filters, offset, limit)

    async def aio_list(self, *args: Any, **kwargs: Any) -> V1TaskSummaryList:
        """``list`` in a thread, with ``list``'s arguments (hatchet_sdk's async twin)."""
        return await asyncio.to_thread(self.list, *args, **kwargs)

    def list_with_pagination(
        self,
        since: datetime | None = None,
        only_tasks: bool = False,
        offset: int | None = None,
        limit: int | None = None,
        statuses: Sequence[str] | None = None,
        until: datetime | None = None,
        additional_metadata: dict[str, str] | None = None,
        workflow_ids: Sequence[str] | None = None,
        worker_id: str | None = None,
        parent_task_external_id: str | None = None,
        triggering_event_external_id: str | None = None,
        include_payloads: bool = True,
    ) -> builtins.list[V1TaskSummary]:
        """``list`` once per UTC day of ``[since, until]``, as hatchet_sdk pages through a
        long window: ``offset`` and ``limit`` apply to each day, the rows of all days come
        back as one plain list, each row once, newest first."""
        engine = self._engine()
        filters = _filters(
            engine, since, until, only_tasks=only_tasks, statuses=statuses,
            additional_metadata=additional_metadata, workflow_ids=workflow_ids,
            worker_id=worker_id, parent_task_external_id=parent_task_external_id,
            triggering_event_external_id=triggering_event_external_id,
            include_payloads=include_payloads,
        )  # fmt: skip
        return list_by_day(engine.run_views(), filters, offset, limit)

    async def aio_list_with_pagination(
        self, *args: Any, **kwargs: Any
    ) -> builtins.list[V1TaskSummary]:
        """``list_with_pagination`` in a thread, with its arguments."""
        return await asyncio.to_thread(self.list_with_pagination, *args, **kwargs)


class RunFilter(BaseModel):
    """hatchet_sdk's: the runs a bulk cancel or replay selects, as ``hatchet.runs.list``
    selects them: created in ``[since, until]``, with one of ``statuses`` (any if None),
    of one of ``workflow_ids`` (``workflow.id``), holding any of the metadata pairs."""

    since: datetime
    until: datetime | None = None
    statuses: list[V1TaskStatus] | None = None
    workflow_ids: list[str] | None = None
    additional_metadata: dict[str, str] | None = None


class BulkCancelReplayOpts(BaseModel):
    """hatchet_sdk's: the runs to cancel or replay, by ``ids`` or by ``filters`` (one of
    them)."""

    ids: list[str] | None = None
    filters: RunFilter | None = None

    @model_validator(mode="after")
    def _one_of(self) -> BulkCancelReplayOpts:
        if not self.ids and not self.filters:
            raise ValueError("ids or filters must be set")
        if self.ids and self.filters:
            raise ValueError("ids and filters cannot both be set")
        return self


def _filters(
    engine: Engine, since: datetime | None, until: datetime | None, **chosen: Any
) -> RunFilters:
    """A listing's filters, its window in seconds on the engine's clock (the last day by
    default)."""
    now = engine.clock.now()
    workflow_ids = chosen.pop("workflow_ids")
    return RunFilters(
        since=to_seconds(since, now - DEFAULT_WINDOW.total_seconds()),
        until=to_seconds(until, now),
        statuses=statuses_of(chosen.pop("statuses")),
        workflow_ids=None if workflow_ids is None else frozenset(workflow_ids),
        **chosen,
    )


def _bulk_filter(
    since: datetime | None,
    until: datetime | None,
    statuses: Sequence[str],
    additional_metadata: dict[str, str] | None,
    workflow_ids: Sequence[str] | None,
) -> RunFilter:
    """The filter of a paginated bulk form: by default from a day before ``until`` (or
    before now, on the wall clock, as hatchet_sdk takes it)."""
    return RunFilter(
        since=since or (until or datetime.now(tz=UTC)) - DEFAULT_WINDOW,
        until=until,
        statuses=builtins.list(statuses_of(statuses) or ()),
        workflow_ids=None if workflow_ids is None else builtins.list(workflow_ids),
        additional_metadata=additional_metadata,
    )


def _reason(run_id: str) -> str:
    return f"workflow run {run_id} was cancelled (hatchet.runs.cancel)"


@contextmanager
def _workflow_run_id_expected(method: str, run_id: str) -> Iterator[None]:
    """An id the backend has no workflow run for, named with the call it was given to
    (hatchet_sdk's ``cancel`` also takes a task run id; flowsim's take workflow run ids)."""
    try:
        yield
    except RunNotFoundError as exc:
        single_task = "; flowsim does not cancel a single task run of a DAG"
        raise RunNotFoundError(
            f"hatchet.runs.{method}({run_id!r}): no workflow run with this id on this backend. "
            "Pass a workflow run id (ref.workflow_run_id or ctx.workflow_run_id)"
            + (single_task if "cancel" in method else "")
        ) from exc
