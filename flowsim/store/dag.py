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
    """Move the DAG forward after a task reached a terminal status: cancel what can no
    longer run, create what became ready (the on-failure task once a task failed), roll the
    status up. ``statuses`` (by task name, the task runs created so far) is updated in place.

    The on-failure task counts in the roll-up only once created, so a run none of whose
    tasks failed ends when its DAG does, and one that failed stays RUNNING until its
    on-failure task ends (Hatchet creates it SKIPPED, or runs it, before the run ends)."""
    step = Step()
    parents = spec.parents
    for name in rules.upstream_cancelled(parents, statuses):
        statuses[name] = RunStatus.CANCELLED
        step.created.append((name, RunStatus.CANCELLED))
    for name in rules.ready_tasks(parents, statuses):
        statuses[name] = RunStatus.QUEUED
        step.created.append((name, RunStatus.QUEUED))
    names = list(parents)
    on_failure = spec.on_failure
    if on_failure is not None:
        if on_failure not in statuses and rules.on_failure_due(statuses):
            statuses[on_failure] = RunStatus.QUEUED
            step.created.append((on_failure, RunStatus.QUEUED))
        if on_failure in statuses:
            names.append(on_failure)
    status = rules.rollup_status(names, statuses)
    if status.is_terminal and not run_terminal:
        step.finished = status
    return step
