"""``Hatchet``: the client users construct, with hatchet_sdk's factory methods."""

from __future__ import annotations

import dataclasses
import weakref
from collections.abc import Callable, Sequence
from datetime import timedelta
from typing import Any

from flowsim import backend as backends
from flowsim import rules
from flowsim.clock import Clock
from flowsim.engine.engine import Engine
from flowsim.errors import UnknownWorkflowError, UnsupportedFeatureError
from flowsim.placement import Sticky
from flowsim.sdk.cron_client import CronClient
from flowsim.sdk.events import EventClient
from flowsim.sdk.eviction import DEFAULT_DURABLE_TASK_EVICTION_POLICY, EvictionPolicy
from flowsim.sdk.filters import DefaultFilter
from flowsim.sdk.filters_client import FiltersClient
from flowsim.sdk.idempotency import IdempotencyConfig
from flowsim.sdk.labels import DesiredLabels, StickyStrategy, sticky_strategy
from flowsim.sdk.lifespan import LifespanFn
from flowsim.sdk.listener import RunEventListenerClient
from flowsim.sdk.not_modelled import refuse
from flowsim.sdk.rate_limit import RateLimitsClient
from flowsim.sdk.runs import RunsClient
from flowsim.sdk.scheduling import ScheduledClient
from flowsim.sdk.task import (
    DEFAULT_EXECUTION_TIMEOUT,
    DEFAULT_SCHEDULE_TIMEOUT,
    Task,
    TaskFunction,
    TaskSettings,
    with_rate_limits,
)
from flowsim.sdk.task_defaults import TaskDefaults
from flowsim.sdk.types import Duration, JSONSerializableMapping
from flowsim.sdk.worker import Worker
from flowsim.sdk.workflow import BaseWorkflow, Standalone, Workflow

#: Keyword arguments hatchet_sdk accepts that change nothing observable here.
_HARMLESS = frozenset({"description", "version", "debug"})
#: hatchet_sdk 1.43 options of workflow/task decorators and triggers that flowsim does not
#: model yet: refused by name. Any other unexpected keyword is a TypeError, as in Python.
HATCHET_OPTIONS_NOT_MODELLED = frozenset(
    {
        "desired_worker_id",
    }
)  # fmt: skip


#: a standalone task's workflow options: input_validator, default_priority,
#: default_additional_metadata, on_crons, cron_input, on_events, sticky, idempotency,
#: default_filters
WorkflowOptions = tuple[
    type[Any] | None, int, JSONSerializableMapping | None, list[str] | None, Any,
    list[str] | None, Sticky | None, IdempotencyConfig | None, list[DefaultFilter] | None,
]  # fmt: skip


@refuse(
    "hatchet",
    "a Hatchet server's REST APIs (workflows, workers, logs, metrics, webhooks, CEL "
    "debugging)",
    "flowsim has no server: runs are read with hatchet.runs.view(run_id) / views()",
    "workflows", "workers", "logs", "metrics", "webhooks", "cel",
)  # fmt: skip
@refuse(
    "hatchet",
    "the client's connection to a Hatchet server (its config, tenant, dispatcher, "
    "embedded engine)",
    "there is no server to configure: choose a backend with Hatchet(backend=URL) or "
    "FLOWSIM_BACKEND",
    "config", "tenant_id", "dispatcher", "stubs", "from_embedded",
    "stop_embedded", "aio_stop_embedded", "aio_get_engine_version",
)  # fmt: skip
@refuse(
    "hatchet",
    "the current task's Context outside its arguments, and batch tasks (preview)",
    "take ctx from the task's arguments; define a task per item, or fan out with run_many",
    "get_current_context", "current_context", "batch_task",
)  # fmt: skip
class Hatchet:
    """The flowsim client. ``backend`` is a URL (``memory://`` by default, or
    ``$FLOWSIM_BACKEND``); every client on one URL shares one engine, as every Hatchet
    client shares one server. ``config``/``debug`` are accepted for compatibility."""

    def __init__(
        self,
        backend_url: str | None = None,
        *,
        backend: str | None = None,
        clock: Clock | None = None,
        debug: bool = False,
        config: Any = None,
        client: Any = None,
    ) -> None:
        self._explicit = backend or backend_url
        self._clock = clock
        self._url: str | None = None
        # weak, so a client defined once at import does not keep a reset engine alive
        self._engine: weakref.ReferenceType[Engine] | None = None
        #: workflows defined through this client, by name (``hatchet.cron.create`` names one)
        self._defined: dict[str, BaseWorkflow] = {}
        if self._explicit is not None:
            backends.validate_url(self._explicit)  # fail fast on a bad URL
        if clock is not None:
            self.engine  # noqa: B018 - fail fast on a clock clash

    @property
    def backend_url(self) -> str:
        """Resolved on first use, as hatchet_sdk reads its configuration once; first use
        comes after the pytest plugin has applied its choice."""
        if self._url is None:
            self._url = backends.resolve_url(self._explicit)
        return self._url

    @property
    def engine(self) -> Engine:
        """The engine behind this client's URL (a fresh one after a pytest-plugin reset)."""
        if backends.redirect_url is not None:
            return backends.engine_for(backends.redirect_url)
        engine = self._engine() if self._engine is not None else None
        if engine is None or engine.closed:
            if self._explicit is None:
                # after a reset, a client with no URL of its own follows the configured
                # default again: a module-level client then runs each parametrized test
                # on that test's backend
                self._url = None
            engine = backends.engine_for(self.backend_url, self._clock)
            self._engine = weakref.ref(engine)
        return engine

    @property
    def namespace(self) -> str:
        """hatchet_sdk's prefix of workflow names: ``""``, as for a Hatchet client set up
        without one (setting one takes a ``ClientConfig``, which flowsim refuses), so code
        that prefixes names with it (``hatchet.namespace + "name"``) runs unchanged."""
        return ""

    @property
    def runs(self) -> RunsClient:
        """Read runs back: ``get_status`` as in hatchet_sdk, and flowsim's ``view``/``views``."""
        return RunsClient(lambda: self.engine, self._defined.get)

    @property
    def filters(self) -> FiltersClient:
        """hatchet_sdk's event filters client: filters created here act on every event
        pushed to their workflow afterwards, from any process sharing the backend."""
        return FiltersClient(lambda: self.engine, self.defined_workflows)

    @property
    def listener(self) -> RunEventListenerClient:
        """hatchet_sdk's run event listener client: ``stream(workflow_run_id)``."""
        return RunEventListenerClient(self.runs)

    @property
    def rate_limits(self) -> RateLimitsClient:
        """Static rate limit keys: ``hatchet.rate_limits.put(key, limit, duration)``."""
        return RateLimitsClient(lambda: self.engine)

    @property
    def scheduled(self) -> ScheduledClient:
        """Scheduled runs by workflow name (``wf.schedule`` is the usual spelling)."""
        return ScheduledClient(self)

    @property
    def event(self) -> EventClient:
        """Push events to the workflows defined with ``on_events=``."""
        return EventClient(self)

    def defined_workflows(self) -> list[BaseWorkflow]:
        return list(self._defined.values())

    @property
    def cron(self) -> CronClient:
        """hatchet_sdk's cron client: crons made here are kept in the backend's store and
        fired by every worker process sharing it that serves their workflow."""
        return CronClient(lambda: self.engine, self.defined_workflow)

    def defined_workflow(self, name: str) -> BaseWorkflow:
        """A workflow defined through this client, for the by-name APIs."""
        try:
            return self._defined[name]
        except KeyError:
            known = ", ".join(sorted(self._defined)) or "none"
            raise UnknownWorkflowError(
                f"no workflow named {name!r} was defined through this Hatchet client "
                f"(defined: {known}); define it with hatchet.workflow(name=...) or "
                "@hatchet.task first"
            ) from None

    def _define(self, workflow: BaseWorkflow) -> BaseWorkflow:
        self._defined[workflow.name] = workflow
        return workflow

    def refuse_unsupported(self, where: str, options: dict[str, Any]) -> None:
        """Hatchet options flowsim does not model are refused by name, never ignored."""
        typos = sorted(set(options) - HATCHET_OPTIONS_NOT_MODELLED - _HARMLESS)
        if typos:
            raise TypeError(f"{where}: unexpected keyword argument(s) {', '.join(typos)}")
        unknown = {
            k: v for k, v in options.items() if k not in _HARMLESS and v not in (None, [], {})
        }
        if unknown:
            raise UnsupportedFeatureError(
                f"{where}: flowsim does not model {', '.join(sorted(unknown))} yet; remove it "
                "or see docs/semantics.md for what is supported"
            )

    # ---------------------------------------------------------------- factories

    def workflow(
        self,
        *,
        name: str,
        input_validator: type[Any] | None = None,
        default_priority: int = rules.DEFAULT_PRIORITY,
        default_additional_metadata: JSONSerializableMapping | None = None,
        on_crons: list[str] | None = None,
        cron_input: Any = None,
        on_events: list[str] | None = None,
        sticky: StickyStrategy | None = None,
        concurrency: Any = None,
        task_defaults: TaskDefaults | None = None,
        idempotency: IdempotencyConfig | None = None,
        default_filters: list[DefaultFilter] | None = None,
        **unsupported: Any,
    ) -> Workflow:
        where = f"hatchet.workflow(name={name!r})"
        self.refuse_unsupported(where, unsupported)
        workflow = Workflow(
            self, name, input_validator, default_priority, default_additional_metadata,
            on_crons, cron_input, on_events, sticky_strategy(sticky, where),
            concurrency=concurrency, task_defaults=task_defaults, idempotency=idempotency,
            default_filters=default_filters,
        )  # fmt: skip
        self._define(workflow)
        return workflow

    def task(
        self,
        *,
        name: str | None = None,
        input_validator: type[Any] | None = None,
        schedule_timeout: Duration = DEFAULT_SCHEDULE_TIMEOUT,
        execution_timeout: Duration = DEFAULT_EXECUTION_TIMEOUT,
        retries: int = 0,
        backoff_factor: float | None = None,
        backoff_max_seconds: int | None = None,
        default_priority: int = rules.DEFAULT_PRIORITY,
        default_additional_metadata: JSONSerializableMapping | None = None,
        slot_cost: int | None = None,
        on_crons: list[str] | None = None,
        cron_input: Any = None,
        on_events: list[str] | None = None,
        desired_worker_labels: DesiredLabels | None = None,
        sticky: StickyStrategy | None = None,
        concurrency: Any = None,
        idempotency: IdempotencyConfig | None = None,
        default_filters: list[DefaultFilter] | None = None,
        **unsupported: Any,
    ) -> Callable[[TaskFunction], Standalone[Any]]:
        settings = TaskSettings(
            name, schedule_timeout, execution_timeout, (), retries, backoff_factor,
            backoff_max_seconds, slot_cost, durable=False,
            desired_worker_labels=desired_worker_labels, concurrency=concurrency,
        )  # fmt: skip
        workflow_options = (
            input_validator, default_priority, default_additional_metadata, on_crons, cron_input,
            on_events, sticky_strategy(sticky, f"hatchet.task(name={name!r})"), idempotency,
            default_filters,
        )  # fmt: skip
        return self._standalone(settings, workflow_options, unsupported)

    def durable_task(
        self,
        *,
        name: str | None = None,
        input_validator: type[Any] | None = None,
        schedule_timeout: Duration = DEFAULT_SCHEDULE_TIMEOUT,
        execution_timeout: Duration = DEFAULT_EXECUTION_TIMEOUT,
        retries: int = 0,
        backoff_factor: float | None = None,
        backoff_max_seconds: int | None = None,
        default_priority: int = rules.DEFAULT_PRIORITY,
        default_additional_metadata: JSONSerializableMapping | None = None,
        on_crons: list[str] | None = None,
        cron_input: Any = None,
        on_events: list[str] | None = None,
        desired_worker_labels: DesiredLabels | None = None,
        sticky: StickyStrategy | None = None,
        eviction_policy: EvictionPolicy | None = DEFAULT_DURABLE_TASK_EVICTION_POLICY,
        concurrency: Any = None,
        idempotency: IdempotencyConfig | None = None,
        default_filters: list[DefaultFilter] | None = None,
        **unsupported: Any,
    ) -> Callable[[TaskFunction], Standalone[Any]]:
        settings = TaskSettings(
            name, schedule_timeout, execution_timeout, (), retries, backoff_factor,
            backoff_max_seconds, durable=True, desired_worker_labels=desired_worker_labels,
            eviction_policy=eviction_policy, concurrency=concurrency,
        )  # fmt: skip
        workflow_options = (
            input_validator, default_priority, default_additional_metadata, on_crons, cron_input,
            on_events, sticky_strategy(sticky, f"hatchet.durable_task(name={name!r})"),
            idempotency, default_filters,
        )  # fmt: skip
        return self._standalone(settings, workflow_options, unsupported)

    def _standalone(
        self,
        settings: TaskSettings,
        workflow_options: WorkflowOptions,
        unsupported: dict[str, Any],
    ) -> Callable[[TaskFunction], Standalone[Any]]:
        kind = "durable_task" if settings.durable else "task"
        settings = with_rate_limits(settings, unsupported)
        self.refuse_unsupported(f"hatchet.{kind}(name={settings.name!r})", unsupported)

        def decorate(fn: TaskFunction) -> Standalone[Any]:
            workflow_name = settings.name or fn.__name__
            standalone: Standalone[Any] = Standalone(self, workflow_name, *workflow_options)
            named = dataclasses.replace(settings, name=workflow_name)
            self._define(standalone)
            return standalone.bind(Task(fn, standalone, named))

        return decorate

    def worker(
        self,
        name: str,
        slots: int | None = None,
        durable_slots: int | None = None,
        labels: dict[str, str | int] | Sequence[Any] | None = None,
        workflows: Sequence[BaseWorkflow] | None = None,
        lifespan: LifespanFn | None = None,
    ) -> Worker:
        return Worker(self, name, slots, durable_slots, labels, workflows, lifespan)


__all__ = ["Hatchet", "timedelta"]
