"""What a terminal task run does to its workflow run, decided by ``flowsim.rules``.

A SQL store reads the run's task statuses (under the run's row lock, or the file's write
lock), asks ``advance`` what to create and whether the run ended, and writes that; no rule
is re-derived in SQL, and both backends create task runs in the same order (cancelled
first, then ready: their sequence numbers must match the reference's).
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable, Mapping
from dataclasses import dataclass, field

from flowsim import rules
from flowsim.rules import RunStatus
from flowsim.store import conditions as cond
from flowsim.store.records import JSON, WorkflowSpec

#: no outputs to read: a DAG without parent conditions never asks
_NO_OUTPUTS: Callable[[], Mapping[str, JSON]] = dict


@dataclass(slots=True)
class Step:
    """Task runs to create, in creation order: (name, QUEUED or CANCELLED), and the
    terminal status the run reached, if it did."""

    created: list[tuple[str, RunStatus]] = field(default_factory=list)
    finished: RunStatus | None = None
    #: created COMPLETED with ``conditions.SKIPPED_OUTPUT``: a ``skip_if`` held, or every
    #: parent was skipped
    skipped: list[str] = field(default_factory=list)
    #: created CANCELLED because a ``cancel_if`` held (they record why)
    cancelled: list[str] = field(default_factory=list)
    #: created QUEUED but held until their conditions decide, with what already holds
    held: list[tuple[str, cond.Satisfied]] = field(default_factory=list)


def start_task(
    spec: WorkflowSpec,
    name: str,
    skipped: set[str],
    outputs: Callable[[], Mapping[str, JSON]],
) -> tuple[RunStatus, cond.Action | None, cond.Satisfied]:
    """How a task whose parents all completed comes into being (Hatchet's DAG rules and
    match precedence): skipped when every parent was skipped or a ``skip_if`` holds,
    cancelled when a ``cancel_if`` holds, queued when nothing holds it back, else held
    (action None) with the conditions that already hold."""
    task = spec.tasks[name]
    if task.parents and all(parent in skipped for parent in task.parents):
        return RunStatus.COMPLETED, cond.Action.SKIP, {}
    if not task.conditions:
        return RunStatus.QUEUED, cond.Action.QUEUE, {}
    needs_outputs = any(c.kind is cond.Kind.PARENT for c in task.conditions)
    satisfied = cond.on_register(task.conditions, outputs() if needs_outputs else {})
    action = cond.decide(task.conditions, satisfied)
    if action is cond.Action.SKIP:
        return RunStatus.COMPLETED, action, satisfied
    if action is cond.Action.CANCEL:
        return RunStatus.CANCELLED, action, satisfied
    return RunStatus.QUEUED, action, satisfied


def advance(
    spec: WorkflowSpec,
    statuses: dict[str, RunStatus],
    run_terminal: bool,
    skipped: set[str] | None = None,
    outputs: Callable[[], Mapping[str, JSON]] = _NO_OUTPUTS,
) -> Step:
    """Move the DAG forward after a task reached a terminal status: cancel what can no
    longer run, create what became ready (the on-failure task once a task failed), roll the
    status up. ``statuses`` (by task name, the task runs created so far) is updated in place.

    The on-failure task counts in the roll-up only once created, so a run none of whose
    tasks failed ends when its DAG does, and one that failed stays RUNNING until its
    on-failure task ends (Hatchet creates it SKIPPED, or runs it, before the run ends).

    ``skipped`` names the run's skipped tasks (updated in place); ``outputs`` reads the
    run's task outputs, asked only when a parent condition needs them. A task skipped or
    cancelled by its conditions is terminal at once, so the DAG is moved on again."""
    step = Step()
    parents = spec.parents
    skipped = set() if skipped is None else skipped
    again = True
    while again:
        again = False
        for name in rules.upstream_cancelled(parents, statuses):
            statuses[name] = RunStatus.CANCELLED
            step.created.append((name, RunStatus.CANCELLED))
        for name in rules.ready_tasks(parents, statuses):
            state, action, satisfied = start_task(spec, name, skipped, outputs)
            statuses[name] = state
            step.created.append((name, state))
            if action is cond.Action.SKIP:
                skipped.add(name)
                step.skipped.append(name)
            elif action is cond.Action.CANCEL:
                step.cancelled.append(name)
            elif action is None:
                step.held.append((name, satisfied))
            again = again or state.is_terminal
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


def downstream(spec: WorkflowSpec, names: Iterable[str]) -> set[str]:
    """``names`` and every DAG task downstream of them: what Hatchet replays when a task
    is replayed (its whole DAG when the workflow run is)."""
    chosen = set(names)
    changed = True
    while changed:
        changed = False
        for task, parents in spec.parents.items():
            if task not in chosen and any(parent in chosen for parent in parents):
                chosen.add(task)
                changed = True
    return chosen


def replayed_tasks(spec: WorkflowSpec, task: str | None, created: Collection[str]) -> set[str]:
    """What a replay re-runs, as Hatchet's engine does: of a whole run (``task`` None),
    its DAG and its on-failure task if that was created (re-armed: it runs again only if
    the DAG fails again); of one task, it and what is downstream of it in the DAG (the
    on-failure task is left as it is, not re-armed); of the on-failure task, itself."""
    if task is not None:
        return downstream(spec, [task])
    names = set(spec.parents)
    if spec.on_failure is not None and spec.on_failure in created:
        names.add(spec.on_failure)
    return names


# An ended run settles its replay: a task still waiting on the replay (only its
# on-failure task can be: every DAG task was created again or cancelled) stops waiting and
# keeps what it did before, as Hatchet marks a re-armed on-failure task skipped when the
# run completes; a later replay of one task then leaves it alone. Each store does this
# where it ends a run (memory_core, flowsim_sqlite.dag, flowsim_postgres.outcomes).


def replay_now(spec: WorkflowSpec, replayed: Collection[str]) -> list[str]:
    """Of the tasks of a run being replayed, those queued at once (no DAG parent of theirs
    is replayed), in definition order; the others wait, keeping their ids and what they
    did before, until their parents complete again (Hatchet re-triggers them then). The
    on-failure task waits while any DAG task is replayed (created again if one fails
    again), and is queued at once when replayed alone."""
    now = [
        name
        for name, parents in spec.parents.items()
        if name in replayed and not any(parent in replayed for parent in parents)
    ]
    on_failure = spec.on_failure
    alone = not any(name in replayed for name in spec.parents)
    if on_failure is not None and on_failure in replayed and alone:
        now.append(on_failure)
    return now


def unmet_parent(
    spec: WorkflowSpec, replayed: Collection[str], statuses: Mapping[str, RunStatus]
) -> tuple[str, str] | None:
    """A replayed task with a parent left out of the replay that did not complete, as
    (task, parent): it could never run again (None if every such parent completed)."""
    for name in replayed:
        for parent in spec.parents.get(name, ()):
            if parent not in replayed and statuses.get(parent) is not RunStatus.COMPLETED:
                return name, parent
    return None
