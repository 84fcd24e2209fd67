"""``Hatchet``: the client users construct, with hatchet_sdk's factory methods."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import timedelta
from typing import Any

from flowsim import backend as backends
from flowsim import rules
from flowsim.clock import Clock
from flowsim.engine.engine import Engine
from flowsim.errors import UnsupportedFeatureError
from flowsim.sdk.task import Task, TaskFunction
from flowsim.sdk.types import Duration, JSONSerializableMapping
from flowsim.sdk.worker import Worker
from flowsim.sdk.workflow import (
    DEFAULT_EXECUTION_TIMEOUT,
    DEFAULT_SCHEDULE_TIMEOUT,
    BaseWorkflow,
    Standalone,
    Workflow,
)

#: Keyword arguments hatchet_sdk accepts that change nothing observable here.
_HARMLESS = frozenset({"description", "version", "debug", "labels"})


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
        if self._explicit is not None:
            backends.validate_url(self._explicit)  # fail fast on a bad URL
        if clock is not None:
            self.engine  # noqa: B018 - fail fast on a clock clash

    @property
    def backend_url(self) -> str:
        return backends.resolve_url(self._explicit)

    @property
    def engine(self) -> Engine:
        """The engine behind this client's URL (fresh after a pytest-plugin reset)."""
        return backends.engine_for(self.backend_url, self._clock)

    def refuse_unsupported(self, where: str, options: dict[str, Any]) -> None:
        """Hatchet options flowsim does not model are refused by name, never ignored."""
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
        **unsupported: Any,
    ) -> Workflow:
        self.refuse_unsupported(f"hatchet.workflow(name={name!r})", unsupported)
        return Workflow(self, name, input_validator, default_priority, default_additional_metadata)

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
        **unsupported: Any,
    ) -> Callable[[TaskFunction], Standalone[Any]]:
        return self._standalone(
            name,
            input_validator,
            schedule_timeout,
            execution_timeout,
            retries,
            backoff_factor,
            backoff_max_seconds,
            default_priority,
            default_additional_metadata,
            slot_cost,
            durable=False,
            unsupported=unsupported,
        )

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
        **unsupported: Any,
    ) -> Callable[[TaskFunction], Standalone[Any]]:
        unsupported.pop("eviction_policy", None)
        return self._standalone(
            name,
            input_validator,
            schedule_timeout,
            execution_timeout,
            retries,
            backoff_factor,
            backoff_max_seconds,
            default_priority,
            default_additional_metadata,
            None,
            durable=True,
            unsupported=unsupported,
        )

    def _standalone(
        self,
        name: str | None,
        input_validator: type[Any] | None,
        schedule_timeout: Duration,
        execution_timeout: Duration,
        retries: int,
        backoff_factor: float | None,
        backoff_max_seconds: int | None,
        default_priority: int,
        default_additional_metadata: JSONSerializableMapping | None,
        slot_cost: int | None,
        *,
        durable: bool,
        unsupported: dict[str, Any],
    ) -> Callable[[TaskFunction], Standalone[Any]]:
        self.refuse_unsupported(f"hatchet.task(name={name!r})", unsupported)

        def decorate(fn: TaskFunction) -> Standalone[Any]:
            workflow_name = name or fn.__name__
            standalone: Standalone[Any] = Standalone(
                self, workflow_name, input_validator, default_priority, default_additional_metadata
            )
            task: Task[Any] = Task(
                fn,
                standalone,
                name=workflow_name,
                parents=None,
                retries=retries,
                backoff_factor=backoff_factor,
                backoff_max_seconds=backoff_max_seconds,
                execution_timeout=execution_timeout,
                schedule_timeout=schedule_timeout,
                durable=durable,
                slot_cost=slot_cost,
            )
            return standalone.bind(task)

        return decorate

    def worker(
        self,
        name: str,
        slots: int | None = None,
        durable_slots: int | None = None,
        labels: dict[str, str | int] | None = None,
        workflows: Sequence[BaseWorkflow] | None = None,
        lifespan: Any = None,
    ) -> Worker:
        if lifespan is not None:
            raise UnsupportedFeatureError(
                f"hatchet.worker({name!r}, lifespan=...): worker lifespans are not modelled yet"
            )
        return Worker(self, name, slots, durable_slots, labels, workflows)


__all__ = ["Hatchet", "timedelta"]
