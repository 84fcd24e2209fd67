"""Conditions on SQLite: holding task runs, and acting on the waits that fire.

A held task run is QUEUED with ``in_backoff = 1`` and ``ready_at = +inf``: the queue, the
backoff release and the schedule deadline all pass it by, and cancelling its run cancels
it as any queued task. Its wait lives in ``condition_waits`` (``flowsim.store.sql_waits``,
shared with Postgres); when the wait fires, the task run is queued (its schedule clock
starting then), skipped (COMPLETED with ``{"skipped": true}``) or cancelled, and its DAG
moves on, in the transaction that pushed the event or noticed the time.
"""

from __future__ import annotations

from collections.abc import Sequence

from flowsim.rules import RunStatus
from flowsim.store import conditions as cond
from flowsim.store import sql_waits
from flowsim.store.dag import start_task
from flowsim.store.protocol import RunView
from flowsim.store.records import JSON
from flowsim_sqlite import places
from flowsim_sqlite.dag import Changes, WaitDb, advance, cancel_tasks, hold, mark_skipped
from flowsim_sqlite.rows import SpecCache, Tx


def _resolve(
    tx: Tx, specs: SpecCache, fired: Sequence[sql_waits.FiredWait], now: float, changes: Changes
) -> None:
    """Act on the task waits that fired (durable waits only record their result)."""
    for wait in fired:
        if wait.durable:
            continue
        row = tx.execute(
            "SELECT run_id, spec_id, schedule_timeout FROM task_runs "
            "WHERE id = ? AND status = 'QUEUED'",
            (wait.task_run_id,),
        ).fetchone()
        if row is None:  # cancelled while it waited
            continue
        run_id, spec_id, timeout = row
        if wait.action is cond.Action.QUEUE:
            seq = tx.sequence(1)
            tx.execute(
                "UPDATE task_runs SET in_backoff = 0, seq = ?, enqueued_at = ?, ready_at = ?, "
                "deadline = ?, deadline_seq = ? WHERE id = ?",
                (seq, now, now, now + timeout, seq, wait.task_run_id),
            )
            changes.queued += 1
            task = (wait.task_run_id, run_id, spec_id, _name(tx, wait.task_run_id), seq)
            places.queue_released(tx, specs, task, now, changes)
        elif wait.action is cond.Action.SKIP:
            mark_skipped(tx, [wait.task_run_id])
            advance(tx, specs, run_id, spec_id, RunStatus.COMPLETED, now, changes)
        else:
            reason = cond.cancel_reason(_name(tx, wait.task_run_id))
            rows = [(wait.task_run_id, run_id, spec_id)]
            cancel_tasks(tx, specs, rows, [reason], now, changes, fence=False)


def start_roots(
    tx: Tx, specs: SpecCache, spec_id: int, view: RunView, now: float, ready_at: float
) -> None:
    """A new run's root tasks with conditions: held from their ready time (a scheduled
    run's ``run_at``), or decided at once as a DAG task would be."""
    spec = specs.spec(tx, spec_id)
    for name in spec.roots:
        conditions = spec.tasks[name].conditions
        if not conditions:
            continue
        _, action, satisfied = start_task(spec, name, set(), dict)
        task_id = view.tasks[name].id
        row = tx.execute(
            "SELECT seq FROM task_runs WHERE id = ? AND status = 'QUEUED'", (task_id,)
        ).fetchone()
        if row is None:  # its run was cancelled on arrival (a concurrency strategy)
            continue
        if action is None:
            hold(tx, task_id, conditions, ready_at, satisfied)
        elif action is cond.Action.QUEUE:
            changes = Changes()
            places.queue_released(tx, specs, (task_id, view.id, spec_id, name, row[0]), now,
                                  changes)  # fmt: skip
            places.settle(tx, specs, now, changes)
        else:
            fired = sql_waits.FiredWait(task_id, task_id, False, action)
            _resolve(tx, specs, [fired], now, Changes())


def _name(tx: Tx, task_run_id: str) -> str:
    (name,) = tx.execute("SELECT name FROM task_runs WHERE id = ?", (task_run_id,)).fetchone()
    return str(name)


def push_event(
    tx: Tx, specs: SpecCache, key: str, payload: JSON, additional_metadata: JSON, now: float
) -> Changes:
    changes = Changes()
    _resolve(tx, specs, sql_waits.on_event(WaitDb(tx), key, payload, additional_metadata, now), now,
             changes)  # fmt: skip
    places.settle(tx, specs, now, changes)
    return changes


def fire_due(tx: Tx, specs: SpecCache, now: float, changes: Changes) -> None:
    """The sleeps that elapsed by ``now`` (called by ``expire``)."""
    _resolve(tx, specs, sql_waits.on_time(WaitDb(tx), now), now, changes)


def open_wait(
    tx: Tx, task_run_id: str, wait_id: str, conditions: Sequence[cond.ConditionSpec], now: float
) -> None:
    satisfied = cond.on_register(conditions, {})
    sql_waits.register(WaitDb(tx), wait_id, task_run_id, True, conditions, now, satisfied)


def wait_result(tx: Tx, wait_id: str) -> JSON:
    return sql_waits.result(WaitDb(tx), wait_id)


def next_wake(tx: Tx) -> float | None:
    return sql_waits.next_wake(WaitDb(tx))
