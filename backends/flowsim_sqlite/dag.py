"""Task runs coming into being and ending: creation, cancellation, and moving a run's DAG
forward once one of its tasks is terminal.

Every decision is ``flowsim.rules``' (which tasks are ready or can never run, the run's
rolled-up status); this module reads the statuses it needs and writes the result, in the
order the in-memory store does it, so sequence numbers come out in the same order.
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from flowsim.errors import TaskRunError
from flowsim.rules import RunStatus
from flowsim.store import conditions as cond
from flowsim.store import sql_waits
from flowsim.store.dag import Step
from flowsim.store.dag import advance as plan_advance
from flowsim.store.protocol import Outcome
from flowsim.store.records import JSON, WorkflowSpec, error_to_json
from flowsim.store.views import STATUS
from flowsim_sqlite.rows import SpecCache, Tx, dumps, loads

INSERT_TASK = (
    "INSERT INTO task_runs (id, run_id, workflow, name, spec_id, pool, slot_cost, "
    "schedule_timeout, bucket, status, priority, seq, enqueued_at, ready_at, deadline, "
    "deadline_seq, in_backoff) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
)

#: what a replay resets of a task run it queues again: the next retry, with the whole
#: retry budget back (``replay_base``), nothing of what it did before but its attempts
REQUEUE_REPLAYED = (
    "worker_id = NULL, output = NULL, error = NULL, skipped = 0, replay_pending = 0, "
    "retry_count = retry_count + 1, replay_base = retry_count + 1, spawn_index = 0, "
    "rate_wait_until = NULL, lease_expires_at = NULL, lease_batch = NULL, waiting_on = NULL"
)
#: a task run waiting on a replay of its parents, queued (or cancelled) as the DAG creates
#: it: the values of a new one's ``task_row``, from its status on
_RETRIGGER = (
    f"UPDATE task_runs SET {REQUEUE_REPLAYED}, status = ?, priority = ?, seq = ?, "
    "enqueued_at = ?, ready_at = ?, deadline = ?, deadline_seq = ?, in_backoff = ? WHERE id = ?"
)

#: the highest finish_seq, read through its (partial) index: max() would scan the table
LAST_FINISH_SEQ = (
    "SELECT finish_seq FROM runs WHERE finish_seq IS NOT NULL ORDER BY finish_seq DESC LIMIT 1"
)

TaskRow = tuple[str, str, str, str, int, str, int, float, int, str, int, int, float, float,
                float, int, int]  # fmt: skip


@dataclass(slots=True)
class Changes:
    """What one operation changed: runs that finished, task runs that became claimable."""

    finished: list[str] = field(default_factory=list)
    queued: int = 0
    #: runs with concurrency limits whose tasks ended: ``places.settle`` frees their places
    limited_runs: set[str] = field(default_factory=set)


REFUSED = Outcome(accepted=False)


def outcome(changes: Changes | None) -> Outcome:
    """The protocol's answer for what an operation changed (``None``: its token did not
    hold, nothing changed)."""
    if changes is None:
        return REFUSED
    return Outcome(True, tuple(changes.finished), changes.queued)


def task_row(
    task_id: str,
    run_id: str,
    spec: WorkflowSpec,
    spec_id: int,
    name: str,
    bucket: int,
    status: str,
    priority: int,
    seq: int,
    now: float,
    ready_at: float | None = None,
) -> TaskRow:
    """A new task run, enqueued at ``now`` with its schedule deadline set in creation order.
    A later ``ready_at`` (a scheduled run's root task) waits as a retry in backoff does:
    not claimable before it, its schedule clock starting then."""
    task = spec.tasks[name]
    ready = now if ready_at is None else max(now, ready_at)
    return (
        task_id, run_id, spec.name, name, spec_id, task.pool.value, task.slot_cost,
        task.schedule_timeout, bucket, status, priority, seq, now, ready,
        ready + task.schedule_timeout, seq, int(ready > now),
    )  # fmt: skip


#: ``ready_at`` of a held task run: no instant releases it
HELD = math.inf


class WaitDb:
    """``sql_waits.Db`` over an open SQLite transaction (serialised: no row locks)."""

    lock_clause = ""

    def __init__(self, tx: Tx) -> None:
        self.tx = tx

    def rows(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        return list(self.tx.execute(sql, params).fetchall())

    def run(self, sql: str, params: Sequence[Any] = ()) -> None:
        self.tx.execute(sql, params)


def hold(
    tx: Tx,
    task_run_id: str,
    conditions: Sequence[cond.ConditionSpec],
    registered_at: float,
    satisfied: cond.Satisfied,
) -> None:
    """Hold a just-created QUEUED task run until its conditions decide."""
    tx.execute(
        "UPDATE task_runs SET in_backoff = 1, ready_at = ?, deadline = ? WHERE id = ?",
        (HELD, HELD, task_run_id),
    )
    sql_waits.register(WaitDb(tx), task_run_id, task_run_id, False, conditions, registered_at,
                       satisfied)  # fmt: skip


def mark_skipped(tx: Tx, task_run_ids: Sequence[str]) -> None:
    tx.executemany(
        "UPDATE task_runs SET status = 'COMPLETED', output = ?, skipped = 1, in_backoff = 0 "
        "WHERE id = ?",
        [(dumps(cond.SKIPPED_OUTPUT), task_id) for task_id in task_run_ids],
    )


def start_conditions(
    tx: Tx, spec: WorkflowSpec, step: Step, ids: dict[str, str], now: float
) -> None:
    """Give the task runs ``step`` created by their conditions what the insert could not:
    a skipped one its output, a cancelled one its reason, a held one its wait."""
    mark_skipped(tx, [ids[name] for name in step.skipped])
    for name in step.cancelled:
        reason = cond.cancel_reason(name)
        error = dumps(error_to_json(TaskRunError(reason, "CancelledError", "", ids[name])))
        tx.execute("UPDATE task_runs SET error = ? WHERE id = ?", (error, ids[name]))
    for name, satisfied in step.held:
        hold(tx, ids[name], spec.tasks[name].conditions, now, satisfied)


def _outputs(tx: Tx, run_id: str) -> dict[str, JSON]:
    return {
        name: None if output is None else json.loads(output)
        for name, output in tx.execute(
            "SELECT name, output FROM task_runs WHERE run_id = ?", (run_id,)
        )
    }


def finish_run(tx: Tx, run_id: str, status: RunStatus, now: float, changes: Changes) -> None:
    """Give the run its terminal status, unless it already has one, and the next place
    in the order runs ended (``finished_since``)."""
    cursor = tx.execute(
        "UPDATE runs SET status = ?, finished_at = ?, "
        f"finish_seq = coalesce(({LAST_FINISH_SEQ}), 0) + 1 "
        "WHERE id = ? AND status IN ('QUEUED', 'RUNNING')",
        (status.value, now, run_id),
    )
    if cursor.rowcount:
        changes.finished.append(run_id)


def advance(
    tx: Tx,
    specs: SpecCache,
    run_id: str,
    spec_id: int,
    status: RunStatus,
    now: float,
    changes: Changes,
) -> None:
    """After a task of the run reached terminal ``status``: cancel what can no longer run,
    create what became ready, and roll the run's status up."""
    spec = specs.spec(tx, spec_id)
    if spec.limited:
        changes.limited_runs.add(run_id)
    if len(spec.tasks) == 1:  # the common single-task run: its task's status is the run's
        finish_run(tx, run_id, status, now, changes)
        return
    statuses: dict[str, RunStatus] = {}
    skipped: set[str] = set()
    replayed: dict[str, str] = {}  # waiting on a replay of its parents: not created yet
    for name, state, was_skipped, pending, task_id in tx.execute(
        "SELECT name, status, skipped, replay_pending, id FROM task_runs WHERE run_id = ?",
        (run_id,),
    ):
        if pending:
            replayed[name] = task_id
            continue
        statuses[name] = STATUS[state]
        if was_skipped:
            skipped.add(name)
    # the run may be terminal already: finish_run then changes nothing
    step = plan_advance(spec, statuses, False, skipped, lambda: _outputs(tx, run_id))
    if step.created:
        (priority,) = tx.execute("SELECT priority FROM runs WHERE id = ?", (run_id,)).fetchone()
        first = tx.sequence(len(step.created))
        ids = {name: replayed.get(name) or tx.new_id() for name, _ in step.created}
        rows = [
            task_row(ids[name], run_id, spec, spec_id, name,
                     specs.bucket(tx, spec.tasks[name].schedule_timeout),
                     state.value, priority, first + offset, now)
            for offset, (name, state) in enumerate(step.created)
        ]  # fmt: skip
        tx.executemany(INSERT_TASK, [row for row in rows if row[3] not in replayed])
        tx.executemany(_RETRIGGER, [(*row[9:], row[0]) for row in rows if row[3] in replayed])
        held = {name for name, _ in step.held}
        changes.queued += sum(
            1 for name, state in step.created if state is RunStatus.QUEUED and name not in held
        )
        start_conditions(tx, spec, step, ids, now)
        if spec.limited:  # a held task run arrives when its conditions queue it
            fresh = [row for row in rows if row[3] not in held and row[3] not in step.skipped]
            _arrive_created(tx, specs, run_id, spec_id, spec, fresh, now, changes)
    if step.finished is not None:
        finish_run(tx, run_id, step.finished, now, changes)
        created = {name for name, _ in step.created}
        waiting = [task_id for name, task_id in replayed.items() if name not in created]
        if waiting:  # an ended run settles its replay (flowsim.store.dag)
            tx.execute(
                "UPDATE task_runs SET replay_pending = 0 "
                "WHERE id IN (SELECT value FROM json_each(?))",
                (json.dumps(waiting),),
            )


def _arrive_created(
    tx: Tx,
    specs: SpecCache,
    run_id: str,
    spec_id: int,
    spec: WorkflowSpec,
    rows: Sequence[TaskRow],
    now: float,
    changes: Changes,
) -> None:
    """DAG task runs just created QUEUED with task-level limits arrive in their groups."""
    from flowsim_sqlite import places  # places cancels through this module

    limited = [row for row in rows if row[9] == "QUEUED" and spec.tasks[row[3]].concurrency]
    if not limited:
        return
    input_text, metadata_text = tx.execute(
        "SELECT input, additional_metadata FROM runs WHERE id = ?", (run_id,)
    ).fetchone()
    given = (loads(input_text), loads(metadata_text))
    for row in limited:
        places.arrive_task(tx, specs, (row[0], run_id, spec_id, row[3], row[11]), given, now,
                           changes)  # fmt: skip


def cancel_tasks(
    tx: Tx,
    specs: SpecCache,
    rows: Sequence[tuple[str, str, int]],
    reasons: Sequence[str],
    now: float,
    changes: Changes,
    fence: bool,
) -> None:
    """Cancel task runs ``(id, run_id, spec_id)``, each with its reason, one after the
    other (each advances its run's DAG before the next is cancelled); a running attempt
    ends CANCELLED. ``fence`` also moves the fencing token on, so that attempt's late
    result is refused."""
    bump = 1 if fence else 0
    finished_at = dumps(now)
    for (task_id, run_id, spec_id), reason in zip(rows, reasons, strict=True):
        error = dumps(error_to_json(TaskRunError(reason, "CancelledError", "", task_id)))
        tx.execute(
            "UPDATE task_runs SET status = 'CANCELLED', error = ?, token = token + ?, "
            "lease_expires_at = NULL, lease_batch = NULL, waiting_on = NULL, "
            "attempts = CASE WHEN status = 'RUNNING' THEN json_replace(attempts, "
            "'$[#-1][4]', json(?), '$[#-1][5]', 'CANCELLED') ELSE attempts END WHERE id = ?",
            (error, bump, finished_at, task_id),
        )
        sql_waits.close_for(WaitDb(tx), [task_id])
        advance(tx, specs, run_id, spec_id, RunStatus.CANCELLED, now, changes)
