"""What goes into an in-process store call and what comes out of it: ``NewRun``, a run to
create, and ``Transition``, what the call changed for the engine to act on. The engine,
the in-memory store and the simulator all speak these."""

from __future__ import annotations

from dataclasses import dataclass, field

from flowsim.store.records import JSON, TaskRun, TriggeringEvent, WorkflowRun, WorkflowSpec


@dataclass(slots=True)
class NewRun:
    """One run to create: validated JSON input plus trigger options."""

    spec: WorkflowSpec
    input: JSON
    additional_metadata: dict[str, JSON]
    priority: int
    child_key: str | None = None
    run_at: float | None = None
    trigger_key: str | None = None
    #: a child triggered with ``sticky=True``: pinned to its spawner's worker
    sticky_worker: str | None = None
    #: a run started by pushing this event
    triggering_event: TriggeringEvent | None = None


@dataclass(slots=True)
class Transition:
    """What one store call changed, for the engine to act on: runs that reached a terminal
    status (wake their waiters), task runs newly queued (dispatch), retry times (timers)."""

    finished: list[WorkflowRun] = field(default_factory=list)
    queued: int = 0
    retry_at: list[float] = field(default_factory=list)
    #: RUNNING task runs this call cancelled as a side effect (a concurrency strategy):
    #: the engine stops their attempts, a durable store fences their tokens
    cancelled: list[TaskRun] = field(default_factory=list)
    #: durable waits (``aio_wait_for``) whose conditions fired: their results are ready
    signals: list[str] = field(default_factory=list)

    def merge(self, other: Transition) -> Transition:
        self.finished.extend(other.finished)
        self.queued += other.queued
        self.retry_at.extend(other.retry_at)
        self.cancelled.extend(other.cancelled)
        self.signals.extend(other.signals)
        return self
