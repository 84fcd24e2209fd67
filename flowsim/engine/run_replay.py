"""``hatchet.runs.replay``: which task runs a replay of some ids queues again.

As Hatchet's engine chooses them (``ReplayTasks`` and its preflight check): an id names a
workflow run (every task of it) or one task run; a task run that has not ended (queued,
running, waiting out a backoff) is left as it is, without an error. A replayed task run
keeps its id and is queued as its next retry (``retry_count + 1``) with its whole retry
budget back; its run is not ended any more.

flowsim replays runs of one task (a standalone task, or a workflow of one task). A DAG
run (Hatchet re-runs the replayed tasks and everything downstream of them), a run of a
workflow or task with concurrency limits (Hatchet re-evaluates the keys), and a task with
``wait_for`` / ``skip_if`` / ``cancel_if`` conditions are refused, naming the run, before
anything is replayed.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from flowsim.errors import RunNotFoundError, UnsupportedFeatureError
from flowsim.store.protocol import RunView
from flowsim.store.records import WorkflowSpec


def replay_targets(
    ids: Sequence[str],
    runs: Callable[[Sequence[str]], list[RunView]],
    every_run: Callable[[], list[RunView]],
    spec_of: Callable[[str], WorkflowSpec],
    call: str,
) -> dict[str, str]:
    """The ended task runs to queue again, in the order named (each once), by id, each
    with its workflow run's id.
    ``runs`` reads runs by id, ``every_run`` all of them (to find a task run's run),
    ``spec_of`` a run's workflow; ``call`` names the caller in errors. An id that is no
    run and no task run raises ``RunNotFoundError``, a run flowsim cannot replay
    ``UnsupportedFeatureError``: in both cases nothing is replayed."""
    named = list(dict.fromkeys(ids))
    views = _views_by_id(named, runs, every_run, call)
    chosen: dict[str, str] = {}
    for given in named:
        view, task_ids = views[given]
        _check_replayable(view, spec_of(view.id), call)
        for task in view.tasks.values():
            if task.id in task_ids and task.status.is_terminal:
                chosen[task.id] = view.id
    return chosen


def _views_by_id(
    named: list[str],
    runs: Callable[[Sequence[str]], list[RunView]],
    every_run: Callable[[], list[RunView]],
    call: str,
) -> dict[str, tuple[RunView, set[str]]]:
    """Each id's run and the task run ids it names: all of a workflow run's, or one."""
    found: dict[str, tuple[RunView, set[str]]] = {}
    unknown = []
    for given in named:
        try:
            (view,) = runs([given])
        except RunNotFoundError:
            unknown.append(given)
            continue
        found[given] = (view, {task.id for task in view.tasks.values()})
    if unknown:
        owners = {task.id: view for view in every_run() for task in view.tasks.values()}
        missing = [given for given in unknown if given not in owners]
        if missing:
            raise RunNotFoundError(
                f"{call}: no workflow run or task run with id {missing[0]!r} on this backend; "
                "nothing was replayed. Pass workflow run ids (ref.workflow_run_id, view.id) "
                "or task run ids (ctx.step_run_id)"
            )
        found.update({given: (owners[given], {given}) for given in unknown})
    return found


def _check_replayable(view: RunView, spec: WorkflowSpec, call: str) -> None:
    reason = None
    if len(spec.tasks) > 1:
        reason = (
            f"it is a run of the DAG {spec.name!r} ({len(spec.tasks)} tasks); flowsim replays "
            "runs of one task (Hatchet re-runs the replayed tasks and all downstream of them)"
        )
    elif spec.limited:
        reason = (
            f"{spec.name!r} has concurrency limits, whose keys Hatchet evaluates again on a "
            "replay; flowsim does not model that"
        )
    elif any(task.conditions for task in spec.tasks.values()):
        reason = "its task has wait_for / skip_if / cancel_if conditions, not modelled on a replay"
    if reason is not None:
        raise UnsupportedFeatureError(
            f"{call}: cannot replay run {view.id}: {reason}. Nothing was replayed; trigger "
            "the workflow again instead"
        )
