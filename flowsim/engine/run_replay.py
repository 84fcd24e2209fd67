"""``hatchet.runs.replay``: which task runs a replay of some ids queues again.

As Hatchet's engine chooses them (``ReplayTasks`` and its preflight check): a workflow run
id names every task of the run (its on-failure task too, if created: it waits, and runs
again only if the DAG fails again), a task run id that task and every task downstream of
it in the DAG (``flowsim.store.dag.replayed_tasks``); a run whose named tasks have not
all ended (one queued, running, waiting out a backoff), or whose DAG is not all created
yet, is left as it is, without an error. The store then queues each chosen task run
again under its id as its next retry, with its whole retry budget back: at once if no DAG
parent of it is replayed, else when its parents complete again
(``flowsim.store.dag.replay_now``).

A replayed run of a workflow with concurrency limits arrives in its groups again as a
newcomer (Hatchet evaluates the keys of a replayed task again): the store's
``replay_tasks`` does it.

Refused, naming the run, before anything is replayed: a run of a workflow with
``wait_for`` / ``skip_if`` / ``cancel_if`` conditions, and a run of a workflow this
process does not define (its DAG is needed to know what is downstream); a task replayed
without a parent of it that did not complete (it could never run) is an
``InvalidInputError``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence

from flowsim.errors import InvalidInputError, RunNotFoundError, UnsupportedFeatureError
from flowsim.store.dag import replayed_tasks, unmet_parent
from flowsim.store.protocol import RunView
from flowsim.store.records import WorkflowSpec


def replay_targets(
    ids: Sequence[str],
    runs: Callable[[Sequence[str]], list[RunView]],
    every_run: Callable[[], list[RunView]],
    spec_of: Callable[[RunView], WorkflowSpec | None],
    call: str,
) -> dict[str, str]:
    """The ended task runs to queue again, by id, each with its workflow run's id, run by
    run in the order first named. ``runs`` reads runs by id, ``every_run`` all of them (to
    find a task run's run), ``spec_of`` a run's workflow (None: not defined here); ``call``
    names the caller in errors. An id that is no run and no task run raises
    ``RunNotFoundError``, a run flowsim cannot replay ``UnsupportedFeatureError``, a task
    named without a parent that did not complete ``InvalidInputError`` (it could never
    run): in each case nothing is replayed."""
    named: dict[str, tuple[RunView, WorkflowSpec, set[str]]] = {}
    for view, task_name in _views_by_id(list(dict.fromkeys(ids)), runs, every_run, call):
        spec = _replayable_spec(view, spec_of(view), call)
        names = replayed_tasks(spec, task_name, view.tasks)
        named.setdefault(view.id, (view, spec, set()))[2].update(names)
    chosen: dict[str, str] = {}
    for view, spec, names in named.values():
        created = set(spec.parents) <= set(view.tasks)
        if not created or not all(view.tasks[name].status.is_terminal for name in names):
            continue  # in progress: left alone, as Hatchet's preflight drops it
        statuses = {name: task.status for name, task in view.tasks.items()}
        unmet = unmet_parent(spec, names, statuses)
        if unmet is not None:
            task, parent = unmet
            raise InvalidInputError(
                f"{call}: cannot replay task {task!r} of run {view.id} without its parent "
                f"{parent!r}, which is {statuses[parent].value}: it could not run. Replay "
                f"{parent!r} (its task run id) or the whole run; nothing was replayed"
            )
        chosen.update((task.id, view.id) for name, task in view.tasks.items() if name in names)
    return chosen


def _views_by_id(
    named: list[str],
    runs: Callable[[Sequence[str]], list[RunView]],
    every_run: Callable[[], list[RunView]],
    call: str,
) -> list[tuple[RunView, str | None]]:
    """Each id's run, and the task it names (None: a workflow run id names them all). The
    runs are read in one call (a bulk replay by filter names up to 1,000); only if some id
    is no workflow run are they read one by one, and the task runs looked through."""
    try:
        return [(view, None) for view in runs(named)]
    except RunNotFoundError:
        pass
    found: dict[str, tuple[RunView, str | None]] = {}
    unknown = []
    for given in named:
        try:
            (view,) = runs([given])
        except RunNotFoundError:
            unknown.append(given)
            continue
        found[given] = (view, None)
    if unknown:
        owners = {
            task.id: (view, task.name) for view in every_run() for task in view.tasks.values()
        }
        missing = [given for given in unknown if given not in owners]
        if missing:
            raise RunNotFoundError(
                f"{call}: no workflow run or task run with id {missing[0]!r} on this backend; "
                "nothing was replayed. Pass workflow run ids (ref.workflow_run_id, view.id) "
                "or task run ids (ctx.step_run_id)"
            )
        found.update({given: owners[given] for given in unknown})
    return [found[given] for given in named]


def _replayable_spec(view: RunView, spec: WorkflowSpec | None, call: str) -> WorkflowSpec:
    reason = None
    if spec is None:
        reason = (
            f"its workflow {view.workflow!r} is defined neither through this Hatchet client "
            "nor in this process, and its DAG says what a replay re-runs; replay it through "
            "the client that defines it (import its module)"
        )
    elif any(task.conditions for task in spec.tasks.values()):
        reason = (
            f"{spec.name!r} has wait_for / skip_if / cancel_if conditions, not modelled on a replay"
        )
    if reason is not None or spec is None:
        raise UnsupportedFeatureError(
            f"{call}: cannot replay run {view.id}: {reason}. Nothing was replayed; trigger "
            "the workflow again instead"
        )
    return spec
