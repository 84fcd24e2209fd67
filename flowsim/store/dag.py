"""What a terminal task run does to its workflow run, decided by ``flowsim.rules``.

A SQL store reads the run's task statuses (under the run's row lock, or the file's write
lock), asks ``advance`` what to create and whether the run ended, and writes that; no rule
is re-derived in SQL, and both backends create task runs in the same order (cancelled
first, then ready: their sequence numbers must match the reference's).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from flowsim import rules
from flowsim.rules import RunStatus
from flowsim.store.records import WorkflowSpec


@dataclass(slots=True)
class Step:
    """Task runs to create, in creation order: (name, QUEUED or CANCELLED), and the
    terminal status the run reached, if it did."""

    created: list[tuple[str, RunStatus]] = field(default_factory=list)
    finished: RunStatus | None = None


def advance(spec: WorkflowSpec, statuses: dict[str, RunStatus], run_terminal: bool) -> Step:
    """Move the DAG forward after a task reached a terminal status, as the in-memory store
    does: cancel what can no longer run, create what became ready, roll the status up.
    ``statuses`` (by task name, the task runs created so far) is updated in place."""
    step = Step()
    parents = spec.parents
    for name in rules.upstream_cancelled(parents, statuses):
        statuses[name] = RunStatus.CANCELLED
        step.created.append((name, RunStatus.CANCELLED))
    for name in rules.ready_tasks(parents, statuses):
        statuses[name] = RunStatus.QUEUED
        step.created.append((name, RunStatus.QUEUED))
    status = rules.rollup_status(parents, statuses)
    if status.is_terminal and not run_terminal:
        step.finished = status
    return step
