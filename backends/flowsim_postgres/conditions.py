"""Conditions on Postgres: holding task runs, and acting on the waits that fire.

As on SQLite: a held task run is QUEUED with ``in_backoff`` and ``ready_at = 'Infinity'``
(the claim, the backoff release and the schedule deadline all pass it by; cancelling its
run cancels it as any queued task), its wait lives in ``condition_waits``
(``flowsim.store.sql_waits``, the same statements as SQLite's), and a wait that fires
queues, skips or cancels it, under its run's row lock, in the transaction that pushed the
event or noticed the time. A fired wait is announced (NOTIFY), so a durable task waiting
in another process re-reads its result.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from flowsim.rules import RunStatus
from flowsim.store import conditions as cond
from flowsim.store import sql_waits
from flowsim.store.dag import Step, start_task
from flowsim.store.protocol import Outcome, RunView
from flowsim.store.records import JSON, WorkflowSpec
from flowsim_postgres import places
from flowsim_postgres.rows import Conn, Session, dumps

#: ``ready_at`` of a held task run: no instant releases it
HELD = math.inf


class PgDb:
    """``sql_waits.Db`` over an open Postgres transaction (``?`` becomes ``%s``)."""

    lock_clause = " FOR UPDATE OF w"

    def __init__(self, conn: Conn) -> None:
        self.conn = conn

    def rows(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        return list(self.conn.execute(sql.replace("?", "%s"), params).fetchall())

    def run(self, sql: str, params: Sequence[Any] = ()) -> None:
        self.conn.execute(sql.replace("?", "%s"), params)


def hold(
    conn: Conn,
    task_run_id: str,
    conditions: Sequence[cond.ConditionSpec],
    registered_at: float,
    satisfied: cond.Satisfied,
) -> None:
    """Hold a just-created QUEUED task run until its conditions decide."""
    conn.execute(
        # a run waiting for a concurrency place parked it: its conditions queue it now
        "UPDATE task_runs SET in_backoff = true, ready_at = %s, deadline = %s, "
        "parked_ready_at = NULL WHERE id = %s",
        (HELD, HELD, task_run_id),
    )
    sql_waits.register(PgDb(conn), task_run_id, task_run_id, False, conditions, registered_at,
                       satisfied)  # fmt: skip


def mark_skipped(conn: Conn, task_run_ids: Sequence[str]) -> None:
    if task_run_ids:
        conn.execute(
            "UPDATE task_runs SET status = 'COMPLETED', output = %s::jsonb, skipped = true, "
            "in_backoff = false WHERE id = ANY(%s)",
            (dumps(cond.SKIPPED_OUTPUT), list(task_run_ids)),
        )


def start_conditions(
    conn: Conn, spec: WorkflowSpec, step: Step, ids: dict[str, str], now: float
) -> None:
    """Give the task runs ``step`` created by their conditions what the insert could not:
    a skipped one its output, a cancelled one its reason, a held one its wait."""
    mark_skipped(conn, [ids[name] for name in step.skipped])
    for name in step.cancelled:
        conn.execute(
            "UPDATE task_runs SET error = jsonb_build_object('exc', %s::text, 'exc_type', "
            "'CancelledError', 'trace', '', 'task_run_external_id', id) WHERE id = %s",
            (cond.cancel_reason(name), ids[name]),
        )
    for name, satisfied in step.held:
        hold(conn, ids[name], spec.tasks[name].conditions, now, satisfied)


@dataclass(frozen=True, slots=True)
class DagState:
    """A run's task runs as its DAG sees them: statuses by name (creation order) and the
    skipped ones; those waiting on a replay of their parents (by name, their ids) count
    as not created yet."""

    statuses: dict[str, RunStatus]
    skipped: set[str]
    replayed: dict[str, str]


def dag_state(conn: Conn, run_id: str) -> DagState:
    state = DagState({}, set(), {})
    for name, status, was_skipped, pending, task_id in conn.execute(
        "SELECT name, status, skipped, replay_pending, id FROM task_runs WHERE run_id = %s "
        "ORDER BY ord",
        (run_id,),
    ):
        if pending:
            state.replayed[name] = task_id
            continue
        state.statuses[name] = RunStatus(status)
        if was_skipped:
            state.skipped.add(name)
    return state


def outputs(conn: Conn, run_id: str) -> dict[str, JSON]:
    return dict(
        conn.execute("SELECT name, output FROM task_runs WHERE run_id = %s", (run_id,)).fetchall()
    )


def resolve(session: Session, fired: Sequence[sql_waits.FiredWait], now: float) -> Outcome:
    """Act on the task waits that fired (a durable wait only recorded its result)."""
    from flowsim_postgres.outcomes import advance_run, cancel_tasks, lock_run

    conn = session.conn
    if fired:
        session.changed = True
    finished: list[str] = []
    queued = 0
    for wait in fired:
        if wait.durable:
            continue
        row = conn.execute("SELECT run_id FROM task_runs WHERE id = %s", (wait.task_run_id,))
        found = row.fetchone()
        run = lock_run(session, found[0]) if found is not None else None
        if run is None:
            continue
        task = conn.execute(
            "SELECT name, status FROM task_runs WHERE id = %s FOR NO KEY UPDATE",
            (wait.task_run_id,),
        ).fetchone()
        if task is None or task[1] != RunStatus.QUEUED.value:  # cancelled while it waited
            continue
        name = task[0]
        if wait.action is cond.Action.QUEUE:
            conn.execute(
                "UPDATE task_runs SET in_backoff = false, seq = nextval('claim_seq'), "
                "enqueued_at = %(now)s, ready_at = %(now)s, parked_ready_at = NULL, "
                "deadline = %(now)s + schedule_timeout WHERE id = %(id)s",
                {"now": now, "id": wait.task_run_id},
            )
            queued += 1
            places.queue_released(session, wait.task_run_id, run.id, name, run.spec, now)
            continue
        if wait.action is cond.Action.SKIP:
            mark_skipped(conn, [wait.task_run_id])
            outcome = advance_run(session, run, (name, RunStatus.COMPLETED), now)
        else:
            reason = cond.cancel_reason(name)
            outcome = cancel_tasks(session, run, dag_state(conn, run.id),
                                   [(wait.task_run_id, name)], reason, now)  # fmt: skip
        finished.extend(outcome.finished)
        queued += outcome.queued
    return Outcome(True, tuple(finished), queued)


def start_roots(session: Session, view: RunView, spec: WorkflowSpec, now: float,
                ready_at: float) -> None:  # fmt: skip
    """A new run's root tasks with conditions: held from their ready time (a scheduled
    run's ``run_at``), or decided at once as a DAG task would be."""
    for name in spec.roots:
        conditions = spec.tasks[name].conditions
        if not conditions:
            continue
        _, action, satisfied = start_task(spec, name, set(), dict)
        task_id = view.tasks[name].id
        found = session.conn.execute(
            "SELECT 1 FROM task_runs WHERE id = %s AND status = 'QUEUED'", (task_id,)
        ).fetchone()
        if found is None:  # its run was cancelled on arrival (a concurrency strategy)
            continue
        if action is None:
            hold(session.conn, task_id, conditions, ready_at, satisfied)
        elif action is cond.Action.QUEUE:
            places.queue_released(session, task_id, view.id, name, spec, now)
        else:
            resolve(session, [sql_waits.FiredWait(task_id, task_id, False, action)], now)


def push_event(
    session: Session, key: str, payload: JSON, additional_metadata: JSON, now: float
) -> Outcome:
    fired = sql_waits.on_event(PgDb(session.conn), key, payload, additional_metadata, now)
    return places.settled(session, resolve(session, fired, now), now)


def fire_due(session: Session, now: float) -> Outcome:
    """The sleeps that elapsed by ``now`` (called by ``expire``)."""
    fired = sql_waits.on_time(PgDb(session.conn), now)
    return places.settled(session, resolve(session, fired, now), now)


def open_wait(
    session: Session,
    wait_id: str,
    task_run_id: str,
    conditions: Sequence[cond.ConditionSpec],
    now: float,
) -> None:
    satisfied = cond.on_register(conditions, {})
    sql_waits.register(PgDb(session.conn), wait_id, task_run_id, True, conditions, now,
                       satisfied)  # fmt: skip
    session.changed = True  # another worker's timer learns of its sleep


def wait_result(conn: Conn, wait_id: str) -> JSON:
    return sql_waits.result(PgDb(conn), wait_id)


def next_wake(conn: Conn) -> float | None:
    return sql_waits.next_wake(PgDb(conn))
