"""Run references and the translation of a finished run into what hatchet_sdk returns."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Generic, TypeVar

from flowsim.engine.engine import Engine
from flowsim.engine.run_events import RunEventListener
from flowsim.errors import (
    FailedTaskRunExceptionGroup,
    FlowsimError,
    SlotDeadlockError,
    TaskRunError,
)
from flowsim.rules import RunStatus
from flowsim.sdk.types import hatchet_parameters
from flowsim.store.records import WorkflowRun

R = TypeVar("R")


class RunCancelledError(FlowsimError, ValueError):
    """A run waited on with the sync ``result()`` was cancelled (hatchet_sdk raises
    ``ValueError("Workflow run <id> was cancelled.")`` there)."""


def outcome(engine: Engine, run: WorkflowRun, *, sync: bool) -> dict[str, Any]:
    """The run's result dict, or the exception hatchet_sdk raises for its status (a run
    that failed because it was caught in a slot deadlock raises that deadlock).

    The two paths differ as hatchet_sdk's do. The sync one reads the run's details: every
    task of a completed run is in its dict, one with no output (it returned ``None`` or
    an empty dict, which a worker sends as no output) as ``None``; a cancelled run raises.
    The async one reads the engine's finished-run event, whose results carry only the
    outputs and errors of the tasks: those with no output are left out, and a cancelled
    task's result has no error (the engine records none for any cancellation), so a
    cancelled run returns the outputs of the tasks that completed before it, maybe ``{}``."""
    if run.status is RunStatus.COMPLETED:
        if sync:
            return {name: task.output or None for name, task in run.tasks.items()}
        return run.result()
    if run.status is RunStatus.FAILED and (report := engine.deadlock_for(run)) is not None:
        raise SlotDeadlockError(report)
    failures = _failures(run)
    if run.status is RunStatus.CANCELLED and (sync or not failures):
        if sync:
            raise RunCancelledError(f"Workflow run {run.id} was cancelled.")
        return run.result()
    raise FailedTaskRunExceptionGroup(f"Workflow run {run.id} failed.", failures or run.errors())


def _failures(run: WorkflowRun) -> list[TaskRunError]:
    """The errors hatchet_sdk puts in the exception group: those of the tasks that failed.
    A cancelled task reaches it with no error (flowsim keeps the reason on the task), so
    a run cancelled while another of its tasks failed raises that failure alone from
    ``aio_result`` (the finished-run event's results), and a failed run's group holds no
    cancellation."""
    return [
        task.error
        for task in run.tasks.values()
        if task.status is RunStatus.FAILED and task.error is not None
    ]


def outcome_or_error(
    engine: Engine, run: WorkflowRun, sync: bool
) -> dict[str, Any] | BaseException:
    try:
        return outcome(engine, run, sync=sync)
    except FlowsimError as exc:
        return exc


class WorkflowRunRef:
    """A handle on a triggered workflow run (``run(wait_for_result=False)``)."""

    def __init__(self, engine: Engine, run: WorkflowRun) -> None:
        self._engine = engine
        self._run = run
        self.workflow_run_id = run.id

    def __str__(self) -> str:
        return self.workflow_run_id

    def __repr__(self) -> str:
        return f"<WorkflowRunRef {self._run.workflow_name} {self.workflow_run_id}>"

    @property
    def status(self) -> RunStatus:
        return self._run.status

    @property
    def workflow_name(self) -> str:
        """flowsim's own: which workflow the run is of."""
        return self._run.workflow_name

    async def aio_result(self) -> dict[str, Any]:
        with self._engine.child_wait([self._run]):
            finished = await self._engine.wait(self._run)
        return outcome(self._engine, finished, sync=False)

    def result(self, poll_interval: float | None = None) -> dict[str, Any]:
        return outcome(self._engine, self._engine.wait_blocking(self._run), sync=True)

    def stream(self) -> RunEventListener:
        """Every event of the run from now on, until it ends (``flowsim.engine.run_events``);
        hatchet_sdk warns that it is internal and points to
        ``hatchet.runs.subscribe_to_stream`` for what tasks stream."""
        return RunEventListener(self._engine, self._run)


class TaskRunRef(Generic[R]):
    """A handle on a standalone task's run: results come back typed."""

    def __class_getitem__(cls, params: Any) -> Any:  # hatchet_sdk's TaskRunRef[In, Out] too
        return super().__class_getitem__(hatchet_parameters(params, 1))  # type: ignore[misc]

    def __init__(self, ref: WorkflowRunRef, extract: Callable[[dict[str, Any]], R]) -> None:
        self._ref = ref
        self._extract = extract
        self.workflow_run_id = ref.workflow_run_id

    @property
    def _wrr(self) -> WorkflowRunRef:
        """The run's ``WorkflowRunRef``, under hatchet_sdk's private name: Hatchet's own
        streaming example iterates ``ref._wrr.stream()``."""
        return self._ref

    def __str__(self) -> str:
        return self.workflow_run_id

    @property
    def status(self) -> RunStatus:
        return self._ref.status

    async def aio_result(self) -> R:
        return self._extract(await self._ref.aio_result())

    def result(self, poll_interval: float | None = None) -> R:
        return self._extract(self._ref.result(poll_interval))

    def stream(self) -> RunEventListener:
        """Every event of the run (not only this task's), as in hatchet_sdk."""
        return self._ref.stream()
