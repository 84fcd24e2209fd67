"""The stand-in for a task a worker's definition lacks (two workflows share a name)."""

from __future__ import annotations

import contextlib
from typing import Any

from flowsim.engine.runtime import AttemptState, Registrable, WorkerRuntime
from flowsim.errors import WorkflowDefinitionError
from flowsim.store.records import JSON, TaskRun


class MissingTask:
    """Stands in for a task the worker's definition of a workflow lacks: two different
    workflows share a name. The attempt fails, non-retryably, saying so."""

    is_async = True
    eviction = None
    injects = False

    def __init__(self, task_run: TaskRun, worker: WorkerRuntime, registered: Registrable) -> None:
        self.spec = task_run.spec
        self._message = (
            f"worker {worker.name!r} registers a workflow named "
            f"{task_run.workflow_run.workflow_name!r} with tasks "
            f"{sorted(registered.spec.tasks)}, but this run was created from a different "
            f"definition with task {task_run.name!r}; give different workflows different names"
        )

    def make_context(self, attempt: AttemptState) -> None:
        return None

    async def enter_dependencies(
        self, attempt: AttemptState, context: Any, exits: contextlib.AsyncExitStack
    ) -> dict[str, Any]:
        return {}

    def invoke(self, attempt: AttemptState, context: Any, injected: dict[str, Any]) -> Any:
        raise WorkflowDefinitionError(self._message)

    def serialize_output(self, value: Any) -> JSON:
        return None
