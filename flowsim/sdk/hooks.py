"""A workflow's on-failure and on-success tasks (``@wf.on_failure_task()``,
``@wf.on_success_task()``), as a mixin of ``Workflow``.

They are ordinary tasks with a name suffix and a place in the DAG that the workflow, not
``parents=``, decides: see ``flowsim.store.dag.advance`` (on-failure) and
``BaseWorkflow._place_on_success`` (on-success, under the leaf tasks).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol

from flowsim.errors import WorkflowDefinitionError
from flowsim.sdk.task import (
    DEFAULT_EXECUTION_TIMEOUT,
    DEFAULT_SCHEDULE_TIMEOUT,
    Task,
    TaskFunction,
    TaskSettings,
)
from flowsim.sdk.types import Duration


class _Decorating(Protocol):
    """What the mixin needs of the workflow it is mixed into."""

    @property
    def name(self) -> str: ...

    @property
    def tasks(self) -> list[Task[Any]]: ...

    def _hook(
        self, settings: TaskSettings, unsupported: dict[str, Any]
    ) -> Callable[[TaskFunction], Task[Any]]: ...

    def _decorator(
        self, settings: TaskSettings, unsupported: dict[str, Any]
    ) -> Callable[[TaskFunction], Task[Any]]: ...


class WorkflowHooks:
    def on_failure_task(
        self: _Decorating,
        name: str | None = None,
        schedule_timeout: Duration = DEFAULT_SCHEDULE_TIMEOUT,
        execution_timeout: Duration = DEFAULT_EXECUTION_TIMEOUT,
        retries: int = 0,
        rate_limits: Any = None,
        backoff_factor: float | None = None,
        backoff_max_seconds: int | None = None,
        concurrency: Any = None,
    ) -> Callable[[TaskFunction], Task[Any]]:
        """A task queued as soon as any other task of the run fails (``ctx.task_run_errors``
        holds the errors so far); never run when none fails. Named ``<name>-on-failure``."""
        settings = TaskSettings(
            name, schedule_timeout, execution_timeout, (), retries, backoff_factor,
            backoff_max_seconds, kind="on_failure", concurrency=concurrency,
        )  # fmt: skip
        return self._hook(settings, {"rate_limits": rate_limits})

    def on_success_task(
        self: _Decorating,
        name: str | None = None,
        schedule_timeout: Duration = DEFAULT_SCHEDULE_TIMEOUT,
        execution_timeout: Duration = DEFAULT_EXECUTION_TIMEOUT,
        retries: int = 0,
        rate_limits: Any = None,
        backoff_factor: float | None = None,
        backoff_max_seconds: int | None = None,
        concurrency: Any = None,
    ) -> Callable[[TaskFunction], Task[Any]]:
        """A task whose parents are the workflow's leaf tasks: it runs once they all
        complete and is cancelled with the rest of the DAG when one fails, as any DAG task.
        Named ``<name>-on-success``."""
        settings = TaskSettings(
            name, schedule_timeout, execution_timeout, (), retries, backoff_factor,
            backoff_max_seconds, kind="on_success", concurrency=concurrency,
        )  # fmt: skip
        return self._hook(settings, {"rate_limits": rate_limits})

    def _hook(
        self: _Decorating, settings: TaskSettings, unsupported: dict[str, Any]
    ) -> Callable[[TaskFunction], Task[Any]]:
        label = settings.kind.replace("_", "-")
        if any(task.kind == settings.kind for task in self.tasks):
            raise WorkflowDefinitionError(
                f"workflow {self.name!r} already has an {label} task; Hatchet allows only one "
                f"per workflow: put the handling in one @{self.name}.{settings.kind}_task()"
            )
        return self._decorator(settings, unsupported)
