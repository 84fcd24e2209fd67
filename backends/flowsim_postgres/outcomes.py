"""Fenced results, retries and cancellation, and what they do to the run's DAG.

Lock order, everywhere: a run's row first, then its task runs' rows (in id order when
several). Claims lock only queued task-run rows and never wait (SKIP LOCKED), so these
transactions cannot deadlock with them; nor with a set-wise completion of plain runs
(``batch``), which locks held task-run rows only and waits for no run row.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from flowsim import concurrency, rules
from flowsim.errors import TaskRunError
from flowsim.rules import RunStatus
from flowsim.store import sql_waits
from flowsim.store.dag import Step, advance, replay_now
from flowsim.store.failures import decide
from flowsim.store.protocol import Outcome
from flowsim.store.records import JSON, WorkflowSpec, error_to_json
from flowsim.store.views import run_not_found, task_run_not_found
from flowsim_postgres import conditions, places
from flowsim_postgres.rows import RELEASE, Session, dumps, dumps_or_null, end_attempt, new_ids
from flowsim_postgres.runs import NewTask, insert_tasks

_RUN = "SELECT id, spec_digest, terminal_status, priority FROM runs "


@dataclass(slots=True)
class LockedRun:
    """A run whose row this transaction holds: its DAG may be advanced."""

    id: str
    spec: WorkflowSpec
    terminal: bool
    priority: int


def _locked(session: Session, row: Sequence[Any] | None) -> LockedRun | None:
    if row is None:
        return None
    run_id, digest, terminal_status, priority = row
    spec = session.specs.get(session.conn, digest)
    return LockedRun(run_id, spec, terminal_status is not None, priority)


def lock_run(session: Session, run_id: str, skip_locked: bool = False) -> LockedRun | None:
    lock = "FOR NO KEY UPDATE SKIP LOCKED" if skip_locked else "FOR NO KEY UPDATE"
    query = _RUN + "WHERE id = %s " + lock
    return _locked(session, session.conn.execute(query, (run_id,)).fetchone())


_LOCK_RUN_OF_TASK = (
    _RUN + "WHERE id = (SELECT run_id FROM task_runs WHERE id = %s) FOR NO KEY UPDATE"
)


def advance_run(
    session: Session, run: LockedRun, ended: tuple[str, RunStatus], now: float
) -> Outcome:
    """After the task run named ``ended[0]`` reached ``ended[1]`` (run row locked): cancel
    what can no longer run, create what became ready (or skipped, cancelled or held by
    its conditions), end the run if it ended."""
    if len(run.spec.tasks) == 1:  # the common single-task run ends with its task
        return _write(session, run, [], ended[1], now)
    conn = session.conn
    state = conditions.dag_state(conn, run.id)
    state.statuses[ended[0]] = ended[1]
    step = advance(
        run.spec, state.statuses, run.terminal, state.skipped,
        lambda: conditions.outputs(conn, run.id),
    )  # fmt: skip
    return _write(session, run, step.created, step.finished, now, step, state.replayed)


def _write(
    session: Session,
    run: LockedRun,
    created: list[tuple[str, RunStatus]],
    finished: RunStatus | None,
    now: float,
    step: Step | None = None,
    replayed: dict[str, str] | None = None,
) -> Outcome:
    """Create the task runs ``created`` names, then end the run if ``finished``. One
    waiting on a replay of its parents (``replayed``, by name: its id) is queued (or
    cancelled) again under its id, and leaves ``replayed``."""
    conn = session.conn
    replayed = {} if replayed is None else replayed
    tasks = [
        NewTask(replayed.get(name) or task_id, run.id, run.spec, name, status, run.priority)
        for task_id, (name, status) in zip(new_ids(len(created)), created, strict=True)
    ]
    insert_tasks(conn, [task for task in tasks if task.name not in replayed], now)
    for task in tasks:
        if replayed.pop(task.name, None) is not None:
            conn.execute(_RETRIGGER, {"id": task.id, "status": task.status.value,
                                      "priority": task.priority, "now": now})  # fmt: skip
    held = {name for name, _ in step.held} if step is not None else set()
    if step is not None:
        conditions.start_conditions(conn, run.spec, step, {t.name: t.id for t in tasks}, now)
    if run.spec.limited:
        session.limited_runs.add(run.id)
        # a held task run arrives when its conditions queue it; a skipped one never does
        skipped = set(step.skipped) if step is not None else set()
        fresh = [t for t in tasks if t.name not in held and t.name not in skipped]
        _arrive_created(session, run, fresh, now)
    queued = sum(1 for name, status in created if status is RunStatus.QUEUED and name not in held)
    if finished is not None and not run.terminal:
        conn.execute(
            "UPDATE runs SET terminal_status = %s, finished_at = %s, "
            "finish_xid = pg_current_xact_id() WHERE id = %s",
            (finished.value, now, run.id),
        )
        run.terminal = True
        if replayed:  # an ended run settles its replay (flowsim.store.dag)
            conn.execute(
                "UPDATE task_runs SET replay_pending = false WHERE id = ANY(%s)",
                (list(replayed.values()),),
            )
    else:
        finished = None
    if queued or finished is not None:
        session.changed = True
    return Outcome(True, (run.id,) if finished is not None else (), queued)


def _arrive_created(session: Session, run: LockedRun, new: list[NewTask], now: float) -> None:
    """DAG task runs just created QUEUED with task-level limits arrive in their groups."""
    limited = [
        task
        for task in new
        if task.status is RunStatus.QUEUED and run.spec.tasks[task.name].concurrency
    ]
    if not limited:
        return
    row = session.conn.execute(
        "SELECT input, additional_metadata FROM runs WHERE id = %s", (run.id,)
    ).fetchone()
    assert row is not None  # the run's row is locked by this transaction
    for task in limited:
        places.arrive_task(session, task.id, run.id, task.name, (row[0], row[1]), now)


_COMPLETE = f"""
UPDATE task_runs SET status = 'COMPLETED', output = %(output)s::jsonb, {RELEASE},
    {end_attempt("COMPLETED", "%(now)s")}
WHERE id = %(id)s AND held_token = %(token)s
RETURNING name
"""


def complete(session: Session, task_run_id: str, token: int, output: JSON, now: float) -> Outcome:
    conn = session.conn
    # sent together: lock the run, then write the result if the token still holds the task
    locking = conn.execute(_LOCK_RUN_OF_TASK, (task_run_id,))
    params = {"id": task_run_id, "token": token, "output": dumps_or_null(output), "now": now}
    writing = conn.cursor().execute(_COMPLETE, params)
    run, row = _locked(session, locking.fetchone()), writing.fetchone()
    if run is None or row is None:  # not held with this token: a late or unknown result
        return Outcome(accepted=False)
    outcome = advance_run(session, run, (row[0], RunStatus.COMPLETED), now)
    return places.settled(session, outcome, now)


_FAILED_ATTEMPT = end_attempt("FAILED", "%(now)s", "%(error)s")
_RETRY = f"""
UPDATE task_runs
SET status = 'QUEUED', worker_id = NULL, retry_count = %(retry_count)s, spawn_index = 0,
    priority = %(priority)s, seq = nextval('claim_seq'), enqueued_at = %(now)s,
    ready_at = %(ready_at)s, deadline = %(ready_at)s + schedule_timeout,
    in_backoff = %(backoff)s, {RELEASE}, {_FAILED_ATTEMPT}
WHERE id = %(id)s
"""


def fail(
    session: Session,
    task_run_id: str,
    token: int,
    error: TaskRunError,
    non_retryable: bool,
    now: float,
    retry_after: float | None = None,
) -> Outcome:
    conn = session.conn
    locking = conn.execute(_LOCK_RUN_OF_TASK, (task_run_id,))
    holding = conn.cursor().execute(
        "SELECT name, retry_count, replay_base FROM task_runs "
        "WHERE id = %s AND held_token = %s FOR NO KEY UPDATE",
        (task_run_id, token),
    )
    run, row = _locked(session, locking.fetchone()), holding.fetchone()
    if run is None or row is None:
        return Outcome(accepted=False)
    name, retry_count, replay_base = row
    task = run.spec.tasks[name]
    decision = decide(task, retry_count, non_retryable, now, retry_after, replay_base)
    if not decision.retry:
        conn.execute(
            f"UPDATE task_runs SET status = 'FAILED', error = %(json)s::jsonb, {RELEASE}, "
            f"{_FAILED_ATTEMPT} WHERE id = %(id)s",
            {"json": dumps(error_to_json(error)), "id": task_run_id, "now": now,
             "error": str(error)},
        )  # fmt: skip
        outcome = advance_run(session, run, (name, RunStatus.FAILED), now)
        return places.settled(session, outcome, now)
    backoff = decision.ready_at > now
    conn.execute(
        _RETRY,
        {
            "id": task_run_id,
            "retry_count": decision.retry_count,
            "priority": rules.RETRY_PRIORITY,
            "now": now,
            "ready_at": decision.ready_at,
            "backoff": backoff,
            "error": str(error),
        },
    )
    session.changed = True  # queued now, or a new instant for other workers' timers
    return Outcome(True, (), 0 if backoff else 1)


#: what a replay resets of a task run it queues again: the next retry, with the whole
#: retry budget back (``replay_base``), nothing of what it did before but its attempts
_REQUEUE_REPLAYED = f"""
    worker_id = NULL, output = NULL, error = NULL, skipped = false, replay_pending = false,
    retry_count = retry_count + 1, replay_base = retry_count + 1, spawn_index = 0,
    seq = nextval('claim_seq'), enqueued_at = %(now)s, ready_at = %(now)s,
    deadline = %(now)s + schedule_timeout, in_backoff = false, rate_wait_until = NULL,
    finish_xid = NULL, {RELEASE}
"""
#: an ended task run queued again at once by a replay
_REPLAY = f"""
UPDATE task_runs SET status = 'QUEUED', priority = %(priority)s, {_REQUEUE_REPLAYED}
WHERE id = %(id)s AND status IN ('COMPLETED', 'FAILED', 'CANCELLED')
"""
#: a task run waiting on a replay of its parents, queued (or cancelled) as the DAG
#: creates it
_RETRIGGER = f"""
UPDATE task_runs SET status = %(status)s, priority = %(priority)s, {_REQUEUE_REPLAYED}
WHERE id = %(id)s
"""


def replay_tasks(session: Session, task_run_ids: Sequence[str], now: float) -> Outcome:
    """Each ended task run named replayed, run by run in the order first named (each
    run's row locked, as a completion locks it): queued at once, or (a DAG parent of it
    replayed too) marked to wait for its parents (``dag.replay_now``); its run no longer
    ended. With concurrency limits the replay arrives in its groups as a newcomer, as the
    in-memory store's ``replay_run`` says."""
    conn = session.conn
    found = {
        row[0]: row
        for row in conn.execute(
            "SELECT id, run_id, name FROM task_runs WHERE id = ANY(%s)",
            (list(task_run_ids),),
        )
    }
    for task_run_id in task_run_ids:
        if task_run_id not in found:
            raise task_run_not_found(task_run_id)
    by_run: dict[str, dict[str, str]] = {}
    for task_run_id in task_run_ids:
        _, run_id, name = found[task_run_id]
        by_run.setdefault(run_id, {})[name] = task_run_id
    queued = 0
    for run_id, named in by_run.items():
        run = lock_run(session, run_id)
        if run is None:  # a task run's run is never deleted: cannot happen
            raise run_not_found(run_id)
        ended = {  # read under the run's lock: another replay may have come first
            task_id
            for (task_id,) in conn.execute(
                "SELECT id FROM task_runs WHERE id = ANY(%s) "
                "AND status IN ('COMPLETED', 'FAILED', 'CANCELLED')",
                (list(named.values()),),
            )
        }
        ids = {name: task_id for name, task_id in named.items() if task_id in ended}
        if not ids:
            continue
        at_once = replay_now(run.spec, ids)
        later = [task_id for name, task_id in ids.items() if name not in at_once]
        conn.execute("UPDATE task_runs SET replay_pending = true WHERE id = ANY(%s)", (later,))
        conn.execute(
            "UPDATE runs SET terminal_status = NULL, finished_at = NULL, finish_xid = NULL "
            "WHERE id = %s",
            (run_id,),
        )
        if run.spec.limited:
            _replay_limited(session, run, ids, at_once, now)
        else:
            for name in at_once:
                replayed = {"id": ids[name], "priority": rules.RETRY_PRIORITY, "now": now}
                conn.execute(_REPLAY, replayed)
        queued += len(at_once)
    session.changed = session.changed or bool(queued)
    cancelled = tuple(dict.fromkeys(session.cancelled_by_limits))
    return places.settled(session, Outcome(True, cancelled, queued), now)


def _replay_limited(
    session: Session, run: LockedRun, ids: dict[str, str], at_once: list[str], now: float
) -> None:
    """Queue a limited run's replayed task runs as newcomers to their groups: the run
    first (if it had left its places), then each task run with task-level limits."""
    conn = session.conn
    session.limited_runs.add(run.id)
    row = conn.execute(
        "SELECT input, additional_metadata FROM runs WHERE id = %s", (run.id,)
    ).fetchone()
    assert row is not None
    given = (row[0], row[1])
    plan = None
    if run.spec.concurrency and not places.placed(conn, run.id):
        (arrival,) = conn.execute("SELECT nextval('claim_seq')").fetchone()  # type: ignore[misc]
        gates = concurrency.run_gates(run.spec, *given)
        plan = places.arrive(session, run.id, run.id, gates, int(arrival), now)
    cancel_run = plan is not None and plan.cancel_new
    for name in at_once:
        conn.execute(_REPLAY, {"id": ids[name], "priority": rules.RETRY_PRIORITY, "now": now})
        if not cancel_run and run.spec.tasks[name].concurrency:
            places.arrive_task(session, ids[name], run.id, name, given, now)
    if plan is not None and not plan.admit and not cancel_run:
        places.park(conn, [ids[name] for name in at_once])
    if cancel_run:
        places.cancel_unit(session, run.id, now)


_CANCEL = f"""
UPDATE task_runs
SET status = 'CANCELLED', token = token + 1, in_backoff = false, {RELEASE},
    error = jsonb_build_object('exc', %(reason)s::text, 'exc_type', 'CancelledError',
                               'trace', '', 'task_run_external_id', id),
    {end_attempt("CANCELLED", "%(now)s")}
WHERE id = ANY(%(ids)s)
"""


def cancel_tasks(
    session: Session,
    run: LockedRun,
    state: conditions.DagState,
    targets: Sequence[tuple[str, str]],
    reason: str,
    now: float,
) -> Outcome:
    """Cancel ``targets`` ((id, name), locked, in creation order) of a locked run, advancing
    its DAG after each as the reference does; ``state`` is kept up to date."""
    if not targets:
        return Outcome(True)
    conn = session.conn
    ids = [task_id for task_id, _ in targets]
    conn.execute(_CANCEL, {"reason": reason, "ids": ids, "now": now})
    sql_waits.close_for(conditions.PgDb(conn), ids)
    created: list[tuple[str, RunStatus]] = []
    finished: RunStatus | None = None
    for _, name in targets:
        state.statuses[name] = RunStatus.CANCELLED
        step = advance(run.spec, state.statuses, run.terminal or finished is not None)
        created.extend(step.created)
        finished = finished or step.finished
    session.changed = True
    return _write(session, run, created, finished, now, replayed=state.replayed)


#: a run and every run it spawned, at any depth, in creation order; each level reads the
#: index on parent_run_id (migration 0010)
FAMILY = """
WITH RECURSIVE family(id) AS (
    SELECT id FROM runs WHERE id = %s
    UNION SELECT runs.id FROM runs JOIN family ON runs.parent_run_id = family.id
)
SELECT runs.id FROM runs JOIN family USING (id) ORDER BY runs.ord
"""


def cancel_run(session: Session, run_id: str, reason: str, now: float) -> Outcome:
    """Cancel the run and every run spawned below it, oldest first. Run rows are locked in
    creation order, the order any other cancel locks them in, so two cancels cannot
    deadlock."""
    family = [row[0] for row in session.conn.execute(FAMILY, (run_id,))]
    if not family:
        raise run_not_found(run_id)
    finished: list[str] = []
    queued = 0
    for member in family:
        outcome = _cancel_one(session, member, reason, now)
        finished.extend(outcome.finished)
        queued += outcome.queued
    return places.settled(session, Outcome(True, tuple(finished), queued), now)


def _cancel_one(session: Session, run_id: str, reason: str, now: float) -> Outcome:
    run = lock_run(session, run_id)
    if run is None:
        return Outcome(True)
    rows = session.conn.execute(
        "SELECT id, name, status, ord FROM task_runs WHERE run_id = %s ORDER BY id "
        "FOR NO KEY UPDATE",
        (run_id,),
    ).fetchall()
    rows.sort(key=lambda row: row[3])
    targets = [
        (task_id, name) for task_id, name, status, _ in rows if not RunStatus(status).is_terminal
    ]
    return cancel_tasks(session, run, conditions.dag_state(session.conn, run_id), targets,
                        reason, now)  # fmt: skip
