"""Workflows and standalone tasks, with hatchet_sdk's run methods and return shapes.

``Workflow.run`` returns a dict keyed by task name; a ``Standalone`` (``@hatchet.task``)
returns its task's typed output; the ``*_many`` variants keep input order. Runs spawned
from inside a running task become its children (de-duplicated by spawn index or key).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any, Generic, TypeVar

from pydantic import BaseModel, TypeAdapter

from flowsim import rules
from flowsim.engine.crons import CronTrigger, check_expression
from flowsim.engine.engine import Engine
from flowsim.errors import RunNotFoundError, UnsupportedFeatureError, WorkflowDefinitionError
from flowsim.placement import Sticky
from flowsim.sdk.concurrency import to_limits
from flowsim.sdk.conditions import Condition, OrGroup
from flowsim.sdk.cron_client import CronWorkflows, create_cron, declared_trigger
from flowsim.sdk.eviction import DEFAULT_DURABLE_TASK_EVICTION_POLICY, EvictionPolicy
from flowsim.sdk.filters import to_filters
from flowsim.sdk.filters_client import V1Filter
from flowsim.sdk.hooks import WorkflowHooks
from flowsim.sdk.idempotency import created_or_raise, to_rule
from flowsim.sdk.labels import DesiredLabels
from flowsim.sdk.not_modelled import refuse
from flowsim.sdk.refs import TaskRunRef, WorkflowRunRef, outcome, outcome_or_error
from flowsim.sdk.run_details import minted_id
from flowsim.sdk.scheduling import ScheduledRun, schedule_run
from flowsim.sdk.task import (
    DEFAULT_EXECUTION_TIMEOUT,
    DEFAULT_SCHEDULE_TIMEOUT,
    Task,
    TaskFunction,
    TaskSettings,
    validate_input,
    validate_inputs,
    with_rate_limits,
)
from flowsim.sdk.task_defaults import to_task_defaults, with_task_defaults
from flowsim.sdk.trigger_labels import Variants, labelled_spec
from flowsim.sdk.trigger_options import TriggerKeywords, options_replace, refuse_unmodelled
from flowsim.sdk.types import (
    Duration,
    EmptyModel,
    JSONSerializableMapping,
    ScheduleTriggerWorkflowOptions,
    TriggerWorkflowOptions,
    WorkflowRunTriggerConfig,
    hatchet_parameters,
)
from flowsim.store.records import JSON, WorkflowRun, WorkflowSpec
from flowsim.store.transitions import NewRun

if TYPE_CHECKING:
    from flowsim.engine.runtime import Runnable
    from flowsim.sdk.client import Hatchet

R = TypeVar("R")
TInput = TypeVar("TInput")


@refuse(
    "workflow {name!r}",
    "a Hatchet server's workflow management (listing its runs, deleting, pausing)",
    "read runs with hatchet.runs.views(); flowsim has no server to manage workflows on",
    "list_runs", "aio_list_runs", "delete",
    "aio_delete", "pause", "aio_pause", "unpause", "aio_unpause",
)  # fmt: skip
@refuse(
    "workflow {name!r}",
    "batch tasks (hatchet_sdk's preview batch_task) and MCP tool export",
    "define a task per item, or fan out with run_many",
    "batch_task", "mcp_tool",
)  # fmt: skip
@refuse(
    "workflow {name!r}",
    "hatchet_sdk's registration record of a workflow (WorkflowConfig)",
    "read what it holds from the workflow itself: wf.name, wf.input_model, "
    "wf.concurrency, wf.sticky, wf.default_filters, wf.tasks",
    "config",
)  # fmt: skip
class BaseWorkflow:
    """What workflows and standalone tasks share: definition, triggering, waiting."""

    def __class_getitem__(cls, params: Any) -> Any:
        """hatchet_sdk's ``Workflow[In]`` (and ``BaseWorkflow[In]``), evaluated at runtime:
        the class itself, since flowsim's workflows are not generic in their input."""
        return cls

    def __init__(
        self,
        client: Hatchet,
        name: str,
        input_validator: type[Any] | None,
        default_priority: int = rules.DEFAULT_PRIORITY,
        default_additional_metadata: JSONSerializableMapping | None = None,
        on_crons: Sequence[str] | None = None,
        cron_input: Any = None,
        on_events: Sequence[str] | None = None,
        sticky: Sticky | None = None,
        concurrency: Any = None,
        idempotency: Any = None,
        default_filters: Any = None,
    ) -> None:
        if not name:
            raise WorkflowDefinitionError("a workflow needs a non-empty name")
        self.sticky = sticky
        #: workflow-level concurrency: a run holds its places until it ends
        self.concurrency = to_limits(concurrency, name)
        #: ``idempotency=``: the key each new run claims (``flowsim.idempotency``)
        self.idempotency = to_rule(idempotency, name)
        #: ``default_filters=``: which pushed events start runs (``flowsim.sdk.filters``)
        self.default_filters = to_filters(default_filters, name)
        self._client = client
        self._name = name
        self.input_model: type[Any] = input_validator or EmptyModel
        self.input_adapter: TypeAdapter[Any] = TypeAdapter(self.input_model)
        self._input_list_adapter: TypeAdapter[list[Any]] | None = None
        model = self.input_model
        #: whether inputs are a pydantic model (else a dataclass, a TypedDict, a type...)
        self.input_is_model = isinstance(model, type) and issubclass(model, BaseModel)
        #: a pydantic model validates faster through its own validator than a TypeAdapter
        self.parse_input: Callable[[Any], Any] = (
            model.model_validate if self.input_is_model else self.input_adapter.validate_python
        )
        self.default_priority = int(default_priority)
        self.default_additional_metadata = dict(default_additional_metadata or {})
        self._tasks: dict[str, Task[Any]] = {}
        self._spec: WorkflowSpec | None = None
        #: specs of runs triggered with desired labels (``trigger_labels``)
        self._labelled: Variants = {}
        self.on_crons = tuple(
            check_expression(e, f"workflow {name!r} on_crons") for e in on_crons or ()
        )
        #: validated when the crons are first armed (the input model is known by then)
        self.cron_input = cron_input
        self.on_events = tuple(on_events or ())
        if not all(isinstance(key, str) and key for key in self.on_events):
            raise WorkflowDefinitionError(
                f"workflow {name!r}: on_events={list(self.on_events)!r} must list non-empty "
                "event keys, e.g. ['order:created'] ('*' matches any characters)"
            )

    @property
    def client(self) -> Hatchet:
        return self._client

    @property
    def name(self) -> str:
        return self._name

    @property
    def id(self) -> str:
        """hatchet_sdk's server id of the workflow (what ``hatchet.runs.list(workflow_ids=)``
        takes and run details show as ``workflow_id``): a stable uuid5 of the name here."""
        return minted_id(self._name)

    @property
    def tasks(self) -> list[Task[Any]]:
        return list(self._tasks.values())

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self._name!r}>"

    # ---------------------------------------------------------------- definition

    def resolve_parent(self, task_name: str, parent: Task[Any] | str) -> str:
        """Parents must be tasks of this workflow, defined before their children."""
        if isinstance(parent, Task):
            if parent.workflow is not self:
                raise WorkflowDefinitionError(
                    f"workflow {self._name!r}: task {task_name!r} names parent "
                    f"{parent.workflow.name}/{parent.name}, a task of another workflow; "
                    "parents=[...] must list tasks of the same workflow"
                )
            return parent.name
        if isinstance(parent, str):
            return parent.lower()
        raise WorkflowDefinitionError(
            f"workflow {self._name!r}: task {task_name!r} has parent {parent!r}; parents=[...] "
            "takes tasks of this workflow"
        )

    def _add_task(self, task: Task[Any]) -> None:
        if task.name in self._tasks:
            raise WorkflowDefinitionError(
                f"workflow {self._name!r} already has a task named {task.name!r}; task names "
                "must be unique within a workflow"
            )
        self._tasks[task.name] = task
        self._spec = None
        if all(p in self._tasks for p in task.parent_names):
            rules.check_dag(self._name, {t.name: t.parent_names for t in self._tasks.values()})

    @property
    def spec(self) -> WorkflowSpec:
        """The engine's view, checked (unknown parents, cycles) when first needed."""
        if self._spec is None:
            if not self._tasks:
                raise WorkflowDefinitionError(
                    f"workflow {self._name!r} has no tasks; decorate a function with "
                    f"@{self._name}.task() before running or registering it"
                )
            self._place_on_success()
            rules.check_dag(self._name, {t.name: t.parent_names for t in self._tasks.values()})
            self._spec = WorkflowSpec(
                name=self._name,
                tasks={t.name: t.spec for t in self._tasks.values()},
                default_priority=self.default_priority,
                sticky=self.sticky,
                concurrency=self.concurrency,
                idempotency=self.idempotency,
            )
        return self._spec

    def _place_on_success(self) -> None:
        """hatchet_sdk gives the on-success task the workflow's leaf tasks as parents when
        it sends the workflow to the server; here when the spec is built, for the same
        reason: tasks may be added after the on-success task is decorated."""
        hook = next((t for t in self._tasks.values() if t.kind == "on_success"), None)
        if hook is None:
            return
        dag = [t for t in self._tasks.values() if t.kind == "default"]
        used = {parent for t in dag for parent in t.parent_names}
        hook.with_parents(tuple(t.name for t in dag if t.name not in used))

    # ---------------------------------------------------------------- schedules and crons

    def cron_triggers(self) -> list[CronTrigger]:
        """The ``on_crons=`` of this workflow, for the engine of a worker registering it."""
        return [declared_trigger(self, expression, self.cron_input) for expression in self.on_crons]

    def schedule(
        self,
        run_at: datetime,
        input: Any = None,
        options: ScheduleTriggerWorkflowOptions | None = None,
        child_key: str | None = None,
        additional_metadata: JSONSerializableMapping | None = None,
        priority: int | None = None,
    ) -> ScheduledRun:
        """Store a run that no worker claims before ``run_at``. ``options`` (deprecated in
        hatchet_sdk) replaces the keywords when given, as there."""
        if options is not None:
            options_replace(
                TriggerKeywords(child_key, additional_metadata, priority, False, None, None),
                stacklevel=3,
            )
        else:
            options = ScheduleTriggerWorkflowOptions(
                child_key=child_key, additional_metadata=additional_metadata or {},
                priority=priority,
            )  # fmt: skip
        if options.child_key is not None:
            raise UnsupportedFeatureError(
                f"{self._name}.schedule(): child_key={options.child_key!r} is not modelled for "
                "scheduled runs (a scheduled run is never a child); pass additional_metadata= "
                "and priority="
            )
        refuse_unmodelled(options, f"{self._name}.schedule()")
        return schedule_run(self, run_at, input, options.additional_metadata, options.priority)

    async def aio_schedule(
        self,
        run_at: datetime,
        input: Any = None,
        options: ScheduleTriggerWorkflowOptions | None = None,
        child_key: str | None = None,
        additional_metadata: JSONSerializableMapping | None = None,
        priority: int | None = None,
    ) -> ScheduledRun:
        return self.schedule(run_at, input, options, child_key, additional_metadata, priority)

    def create_cron(
        self,
        cron_name: str,
        expression: str,
        input: Any = None,
        additional_metadata: JSONSerializableMapping | None = None,
        priority: int | None = None,
    ) -> CronWorkflows:
        return create_cron(self, cron_name, expression, input, additional_metadata, priority)

    async def aio_create_cron(
        self,
        cron_name: str,
        expression: str,
        input: Any = None,
        additional_metadata: JSONSerializableMapping | None = None,
        priority: int | None = None,
    ) -> CronWorkflows:
        return self.create_cron(cron_name, expression, input, additional_metadata, priority)

    def create_filter(
        self, expression: str, scope: str, payload: JSONSerializableMapping | None = None
    ) -> V1Filter:
        """``hatchet.filters.create`` for this workflow, as in hatchet_sdk."""
        return self._client.filters.create(self.id, expression, scope, payload)

    async def aio_create_filter(
        self, expression: str, scope: str, payload: JSONSerializableMapping | None = None
    ) -> V1Filter:
        return self.create_filter(expression, scope, payload)

    def runnables(self) -> Mapping[str, Runnable]:
        """Read-only view, looked up on every launch (so no copy)."""
        return self._tasks

    # ---------------------------------------------------------------- triggering

    def _engine(self) -> Engine:
        return self._client.engine

    def create_bulk_run_item(
        self,
        input: Any = None,
        key: str | None = None,
        options: TriggerWorkflowOptions | None = None,
        child_key: str | None = None,
        additional_metadata: JSONSerializableMapping | None = None,
        priority: int | None = None,
        desired_worker_id: str | None = None,
        sticky: bool = False,
        desired_worker_labels: Any = None,
    ) -> WorkflowRunTriggerConfig:
        keywords = TriggerKeywords(
            child_key, additional_metadata, priority, sticky, desired_worker_id,
            desired_worker_labels,
        )  # fmt: skip
        if options is not None:
            options_replace(keywords, stacklevel=3)
            refuse_unmodelled(options, f"{self._name}.create_bulk_run_item()")
        elif keywords.placed():  # hatchet_sdk carries these in the options only
            options = keywords.options()
        else:
            return WorkflowRunTriggerConfig(
                self._name,
                input,
                None,
                key,
                child_key=child_key,
                additional_metadata=dict(additional_metadata) if additional_metadata else None,
                priority=priority,
                sticky=sticky,
            )
        return WorkflowRunTriggerConfig(
            workflow_name=self._name, input=input, options=options, key=key
        )

    @property
    def input_list_adapter(self) -> TypeAdapter[list[Any]]:
        """A list of inputs, serialized in one call (``validate_inputs``)."""
        if self._input_list_adapter is None:
            self._input_list_adapter = TypeAdapter(list[self.input_model])  # type: ignore[name-defined]
        return self._input_list_adapter

    def _new_run(
        self,
        input: JSON,
        options: TriggerWorkflowOptions | None,
        child_key: str | None,
        additional_metadata: JSONSerializableMapping | None,
        priority: int | None,
        sticky: bool = False,
        desired_worker_id: str | None = None,
        labels: Any = None,
    ) -> NewRun:
        """A run of ``input``, which ``validate_input`` (or ``validate_inputs``) made.
        ``options``, when given, replace the keywords (``trigger_options``)."""
        metadata = {**self.default_additional_metadata}
        if options is not None:
            desired_worker_id = options.desired_worker_id
            labels = options.desired_worker_label
            additional_metadata = options.additional_metadata
            priority = options.priority
            child_key = options.child_key
            sticky = options.sticky
        if additional_metadata:
            metadata.update(additional_metadata)
        return NewRun(
            spec=labelled_spec(self.spec, self.sticky, labels, self._labelled),
            input=input,
            additional_metadata=metadata,
            priority=int(priority) if priority is not None else self.default_priority,
            child_key=child_key,
            sticky_worker=self._pinned_worker(sticky, desired_worker_id),
        )

    def _sticky_worker(self, desired_worker_id: str | None) -> str | None:
        """The worker a run triggered with ``sticky=True`` is pinned to, as hatchet_sdk
        sends it (``desired_worker_id or`` the current task's worker): a worker named by
        id, or from inside a task that task's worker. Outside a task without an id there
        is no worker to stick to, and Hatchet ignores it too. As Hatchet's guide requires,
        the workflow must declare a sticky strategy, and a worker of this process must
        register it (a worker of another process sharing the store is taken at its word)."""
        engine = self._engine()
        attempt = engine.current_attempt()
        if desired_worker_id is not None:
            worker = next((w for w in engine.workers() if w.id == desired_worker_id), None)
            where = f"{self._name} triggered with sticky=True for worker {desired_worker_id!r}"
        elif attempt is not None:
            worker = attempt.worker
            where = f"{self._name} triggered with sticky=True from {worker.name!r}"
        else:
            return None
        if self.sticky is None:
            raise WorkflowDefinitionError(
                f"{where}: the workflow has no sticky strategy; declare it with "
                f"hatchet.workflow(name={self._name!r}, sticky=StickyStrategy.SOFT or HARD)"
            )
        if worker is not None and not worker.registers(self._name):
            raise WorkflowDefinitionError(
                f"{where}: that worker does not register {self._name!r}, so the run could "
                "never run on it; add it to the worker's workflows=[...]"
            )
        return desired_worker_id or (worker.id if worker is not None else None)

    def _pinned_worker(self, sticky: bool, desired_worker_id: str | None) -> str | None:
        """hatchet_sdk sends ``desired_worker_id`` only with ``sticky=True`` and drops it
        otherwise: refused here, as a trigger that does not do what it says."""
        if sticky:
            return self._sticky_worker(desired_worker_id)
        if desired_worker_id is not None:
            raise UnsupportedFeatureError(
                f"{self._name} trigger: desired_worker_id={desired_worker_id!r} without "
                "sticky=True does nothing (hatchet_sdk drops it, and Hatchet's engine only "
                "honours it for a workflow with a sticky strategy); pass sticky=True to a "
                "workflow declared with sticky=StickyStrategy.SOFT or HARD, or remove it"
            )
        return None

    def _trigger(self, items: list[NewRun], bulk: bool = False) -> list[WorkflowRun]:
        """Create the runs; raise hatchet_sdk's collision error if an item's idempotency
        key was held (a bulk trigger's other items are created)."""
        engine = self._engine()
        return created_or_raise(engine.trigger(items, engine.current_attempt()), bulk)

    def _items(self, configs: Sequence[WorkflowRunTriggerConfig]) -> list[NewRun]:
        for config in configs:
            if config.workflow_name != self._name:
                raise WorkflowDefinitionError(
                    f"bulk item for workflow {config.workflow_name!r} passed to "
                    f"{self._name!r}.run_many(); build items with this workflow's "
                    "create_bulk_run_item()"
                )
        inputs = validate_inputs(self, [config.input for config in configs])
        return [
            self._new_run(
                input, None, config.child_key, config.additional_metadata, config.priority,
                config.sticky, *_placement(config),
            )
            for config, input in zip(configs, inputs, strict=True)
        ]  # fmt: skip

    def _ref(self, run: WorkflowRun) -> WorkflowRunRef:
        return WorkflowRunRef(self._engine(), run)

    def _start_one(
        self,
        input: Any,
        options: TriggerWorkflowOptions | None,
        child_key: str | None,
        additional_metadata: JSONSerializableMapping | None,
        priority: int | None,
        placement: tuple[bool, str | None, Any] = (False, None, None),
    ) -> WorkflowRun:
        sticky, worker_id, labels = placement
        if options is not None:
            options_replace(
                TriggerKeywords(child_key, additional_metadata, priority, sticky, worker_id, labels)
            )
            refuse_unmodelled(options, f"{self._name} trigger")
        item = self._new_run(
            validate_input(self, input), options, child_key, additional_metadata, priority,
            sticky, worker_id, labels,
        )  # fmt: skip
        return self._trigger([item])[0]

    def run_no_wait(
        self,
        input: Any = None,
        options: TriggerWorkflowOptions | None = None,
        child_key: str | None = None,
        additional_metadata: JSONSerializableMapping | None = None,
        priority: int | None = None,
        sticky: bool = False,
        desired_worker_id: str | None = None,
        desired_worker_labels: Any = None,
    ) -> Any:
        """``run(wait_for_result=False)``, deprecated: hatchet_sdk 1.43 warns so, as here."""
        _deprecated("run_no_wait", "run(wait_for_result=False)")
        placement = (sticky, desired_worker_id, desired_worker_labels)
        run = self._start_one(input, options, child_key, additional_metadata, priority, placement)
        return self._wrap_ref(self._ref(run))

    async def aio_run_no_wait(
        self,
        input: Any = None,
        options: TriggerWorkflowOptions | None = None,
        child_key: str | None = None,
        additional_metadata: JSONSerializableMapping | None = None,
        priority: int | None = None,
        sticky: bool = False,
        desired_worker_id: str | None = None,
        desired_worker_labels: Any = None,
    ) -> Any:
        """``aio_run(wait_for_result=False)``, deprecated: hatchet_sdk 1.43 warns so, as
        here. It starts the run itself, not through ``run_no_wait``: one call, one warning."""
        _deprecated("aio_run_no_wait", "aio_run(wait_for_result=False)")
        placement = (sticky, desired_worker_id, desired_worker_labels)
        run = self._start_one(input, options, child_key, additional_metadata, priority, placement)
        return self._wrap_ref(self._ref(run))

    def run(
        self,
        input: Any = None,
        options: TriggerWorkflowOptions | None = None,
        wait_for_result: bool = True,
        child_key: str | None = None,
        additional_metadata: JSONSerializableMapping | None = None,
        priority: int | None = None,
        sticky: bool = False,
        desired_worker_id: str | None = None,
        desired_worker_labels: Any = None,
    ) -> Any:
        placement = (sticky, desired_worker_id, desired_worker_labels)
        run = self._start_one(input, options, child_key, additional_metadata, priority, placement)
        if not wait_for_result:
            return self._wrap_ref(self._ref(run))
        engine = self._engine()
        return self._extract(outcome(engine, engine.wait_blocking(run), sync=True))

    async def aio_run(
        self,
        input: Any = None,
        options: TriggerWorkflowOptions | None = None,
        wait_for_result: bool = True,
        child_key: str | None = None,
        additional_metadata: JSONSerializableMapping | None = None,
        priority: int | None = None,
        sticky: bool = False,
        desired_worker_id: str | None = None,
        desired_worker_labels: Any = None,
    ) -> Any:
        placement = (sticky, desired_worker_id, desired_worker_labels)
        run = self._start_one(input, options, child_key, additional_metadata, priority, placement)
        if not wait_for_result:
            return self._wrap_ref(self._ref(run))
        engine = self._engine()
        with engine.child_wait([run]):
            finished = await engine.wait(run)
        return self._extract(outcome(engine, finished, sync=False))

    def run_many(
        self,
        workflows: list[WorkflowRunTriggerConfig],
        return_exceptions: bool = False,
        wait_for_result: bool = True,
    ) -> list[Any]:
        runs = self._trigger(self._items(workflows), bulk=True)
        if not wait_for_result:
            return [self._wrap_ref(self._ref(run)) for run in runs]
        engine = self._engine()
        finished = [engine.wait_blocking(run) for run in runs]
        return self._collect(finished, return_exceptions, sync=True)

    async def aio_run_many(
        self,
        workflows: list[WorkflowRunTriggerConfig],
        return_exceptions: bool = False,
        wait_for_result: bool = True,
    ) -> list[Any]:
        runs = self._trigger(self._items(workflows), bulk=True)
        if not wait_for_result:
            return [self._wrap_ref(self._ref(run)) for run in runs]
        engine = self._engine()
        with engine.child_wait(runs):
            failed = await engine.wait_many(runs, fail_fast=not return_exceptions)
        if failed is not None:
            outcome(engine, failed, sync=False)  # raises, for the run that failed first
        return self._collect(runs, return_exceptions, sync=False)

    def run_many_no_wait(self, workflows: list[WorkflowRunTriggerConfig]) -> list[Any]:
        """``run_many(wait_for_result=False)``, deprecated: hatchet_sdk 1.43 warns so, as
        here."""
        _deprecated("run_many_no_wait", "run_many(wait_for_result=False)")
        return self.run_many(workflows, wait_for_result=False)

    async def aio_run_many_no_wait(self, workflows: list[WorkflowRunTriggerConfig]) -> list[Any]:
        """``aio_run_many(wait_for_result=False)``, deprecated: hatchet_sdk 1.43 warns so,
        as here."""
        _deprecated("aio_run_many_no_wait", "aio_run_many(wait_for_result=False)")
        return await self.aio_run_many(workflows, wait_for_result=False)

    def _collect(self, runs: list[WorkflowRun], return_exceptions: bool, sync: bool) -> list[Any]:
        engine = self._engine()
        if return_exceptions:
            results = [outcome_or_error(engine, run, sync) for run in runs]
            return [r if isinstance(r, BaseException) else self._extract(r) for r in results]
        return [self._extract(outcome(engine, run, sync=sync)) for run in runs]

    # ---------------------------------------------------------------- result shapes

    def _extract(self, result: dict[str, Any]) -> Any:
        return result

    def _wrap_ref(self, ref: WorkflowRunRef) -> Any:
        return ref


def _deprecated(name: str, instead: str) -> None:
    """hatchet_sdk's warning for a deprecated trigger method, at the line that called it
    (this helper, then the method, then the caller: hatchet_sdk's ``stacklevel=2``)."""
    warnings.warn(
        f"{name}() is deprecated, use {instead} instead", DeprecationWarning, stacklevel=3
    )


def _placement(config: WorkflowRunTriggerConfig) -> tuple[str | None, Any]:
    """A bulk item's desired worker and labels, which only its options carry."""
    options = config.given_options()
    if options is None:
        return None, None
    return options.desired_worker_id, options.desired_worker_label


class Workflow(BaseWorkflow, WorkflowHooks):
    """A workflow of one or more tasks (``hatchet.workflow``); runs return
    ``{task_name: output}``."""

    def __init__(self, *args: Any, task_defaults: Any = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        #: what ``task`` and ``durable_task`` fall back to (``flowsim.sdk.task_defaults``)
        self.task_defaults = to_task_defaults(task_defaults, self.name)

    def task(
        self,
        name: str | None = None,
        schedule_timeout: Duration = DEFAULT_SCHEDULE_TIMEOUT,
        execution_timeout: Duration = DEFAULT_EXECUTION_TIMEOUT,
        parents: list[Task[Any] | str] | None = None,
        retries: int = 0,
        backoff_factor: float | None = None,
        backoff_max_seconds: int | None = None,
        slot_cost: int | None = None,
        desired_worker_labels: DesiredLabels | None = None,
        concurrency: Any = None,
        wait_for: list[Condition | OrGroup] | None = None,
        skip_if: list[Condition | OrGroup] | None = None,
        cancel_if: list[Condition | OrGroup] | None = None,
        **unsupported: Any,
    ) -> Callable[[TaskFunction], Task[Any]]:
        settings = TaskSettings(
            name, schedule_timeout, execution_timeout, tuple(parents or ()), retries,
            backoff_factor, backoff_max_seconds, slot_cost, durable=False,
            desired_worker_labels=desired_worker_labels, concurrency=concurrency,
            wait_for=tuple(wait_for or ()), skip_if=tuple(skip_if or ()),
            cancel_if=tuple(cancel_if or ()),
        )  # fmt: skip
        return self._decorator(with_task_defaults(settings, self.task_defaults), unsupported)

    def durable_task(
        self,
        name: str | None = None,
        schedule_timeout: Duration = DEFAULT_SCHEDULE_TIMEOUT,
        execution_timeout: Duration = DEFAULT_EXECUTION_TIMEOUT,
        parents: list[Task[Any] | str] | None = None,
        retries: int = 0,
        backoff_factor: float | None = None,
        backoff_max_seconds: int | None = None,
        desired_worker_labels: DesiredLabels | None = None,
        eviction_policy: EvictionPolicy | None = DEFAULT_DURABLE_TASK_EVICTION_POLICY,
        concurrency: Any = None,
        wait_for: list[Condition | OrGroup] | None = None,
        skip_if: list[Condition | OrGroup] | None = None,
        cancel_if: list[Condition | OrGroup] | None = None,
        **unsupported: Any,
    ) -> Callable[[TaskFunction], Task[Any]]:
        settings = TaskSettings(
            name, schedule_timeout, execution_timeout, tuple(parents or ()), retries,
            backoff_factor, backoff_max_seconds, durable=True,
            desired_worker_labels=desired_worker_labels, eviction_policy=eviction_policy,
            concurrency=concurrency,
            wait_for=tuple(wait_for or ()), skip_if=tuple(skip_if or ()),
            cancel_if=tuple(cancel_if or ()),
        )  # fmt: skip
        return self._decorator(with_task_defaults(settings, self.task_defaults), unsupported)

    def _decorator(
        self, settings: TaskSettings, unsupported: dict[str, Any]
    ) -> Callable[[TaskFunction], Task[Any]]:
        kind = "task" if settings.kind == "default" else f"{settings.kind}_task"
        kind = "durable_task" if settings.durable else kind
        settings = with_rate_limits(settings, unsupported)
        self._client.refuse_unsupported(f"{self.name}.{kind}", unsupported)

        def decorate(fn: TaskFunction) -> Task[Any]:
            task: Task[Any] = Task(fn, self, settings)
            self._add_task(task)
            return task

        return decorate


class Standalone(BaseWorkflow, Generic[R]):
    """A single-task workflow (``@hatchet.task``): runs return the task's typed output."""

    def __class_getitem__(cls, params: Any) -> Any:  # hatchet_sdk's Standalone[In, Out] too
        return super(BaseWorkflow, cls).__class_getitem__(hatchet_parameters(params, 1))  # type: ignore[misc]

    def __init__(
        self,
        client: Hatchet,
        name: str,
        input_validator: type[Any] | None,
        default_priority: int,
        default_additional_metadata: JSONSerializableMapping | None,
        on_crons: Sequence[str] | None = None,
        cron_input: Any = None,
        on_events: Sequence[str] | None = None,
        sticky: Sticky | None = None,
        idempotency: Any = None,
        default_filters: Any = None,
    ) -> None:
        super().__init__(
            client, name, input_validator, default_priority, default_additional_metadata,
            on_crons, cron_input, on_events, sticky, idempotency=idempotency,
            default_filters=default_filters,
        )  # fmt: skip
        self._task: Task[R] | None = None

    def bind(self, task: Task[R]) -> Standalone[R]:
        self._add_task(task)
        self._task = task
        return self

    @property
    def task(self) -> Task[R]:
        assert self._task is not None
        return self._task

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.task.fn(*args, **kwargs)

    def mock_run(self, *args: Any, **kwargs: Any) -> R:
        """The task's ``mock_run`` (its arguments), as on hatchet_sdk's ``Standalone``."""
        return self.task.mock_run(*args, **kwargs)

    async def aio_mock_run(self, *args: Any, **kwargs: Any) -> R:
        return await self.task.aio_mock_run(*args, **kwargs)

    @property
    def is_async_function(self) -> bool:
        return self.task.is_async

    def _extract(self, result: dict[str, Any]) -> R:
        output = result.get(self.task.name) or result or {}
        validator = self.task.output_validator
        if validator is None:
            return output  # type: ignore[return-value]
        parsed: R = validator.validate_python(output)
        return parsed

    def _wrap_ref(self, ref: WorkflowRunRef) -> TaskRunRef[R]:
        return TaskRunRef(ref, self._extract)

    def get_run_ref(self, run_id: str) -> TaskRunRef[R]:
        """A typed handle on a run of this task triggered anywhere (``hatchet.runs.
        get_run_ref``, its result extracted and validated as ``run()``'s is). The run of
        another workflow is refused: its result has no output of this task to return."""
        ref = self._client.runs.get_run_ref(run_id)
        if ref.workflow_name != self.name:
            raise RunNotFoundError(
                f"task {self.name!r}.get_run_ref({run_id!r}): that is a run of workflow "
                f"{ref.workflow_name!r}, not of this task; read it with "
                "hatchet.runs.get_run_ref(run_id), or pass a run id of this task"
            )
        return self._wrap_ref(ref)

    def get_result(self, run_id: str) -> R:
        """This task's output in that run, waiting for it to end (as hatchet_sdk does)."""
        return self.get_run_ref(run_id).result()

    async def aio_get_result(self, run_id: str) -> R:
        return await self.get_run_ref(run_id).aio_result()


__all__ = ["BaseModel", "BaseWorkflow", "Standalone", "Workflow"]
