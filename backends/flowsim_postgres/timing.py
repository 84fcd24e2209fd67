"""What time alone does: backoffs end, schedule deadlines pass, leases lapse.

Each expiring row is taken with SKIP LOCKED (and each run with SKIP LOCKED before its task
runs), so any number of workers may expire at once without waiting on each other: a row
another transaction holds is left for the next call.
"""

from __future__ import annotations

import psycopg
from psycopg.rows import TupleRow

from flowsim.rules import RunStatus
from flowsim.store.failures import schedule_timeout_reason
from flowsim.store.protocol import Outcome
from flowsim_postgres import conditions, places, rate_limits
from flowsim_postgres.durable import release_parked
from flowsim_postgres.outcomes import LockedRun, cancel_tasks, lock_run
from flowsim_postgres.rows import RELEASE, Conn, Session, end_attempt

_RELEASE_RETRIES = """
UPDATE task_runs SET in_backoff = false
WHERE id IN (SELECT id FROM task_runs WHERE in_backoff AND ready_at <= %s
             FOR NO KEY UPDATE SKIP LOCKED)
RETURNING id
"""


def release_due_retries(conn: Conn, now: float) -> psycopg.Cursor[TupleRow]:
    """Retries whose backoff ended join the queue (their schedule clock started at their
    ready time, already recorded as ``deadline``); the cursor returns their ids."""
    return conn.cursor().execute(_RELEASE_RETRIES, (now,))


#: ``t.worker_id``: the SET clause reads the row as it was, before worker_id is cleared
_LOST_ATTEMPT = end_attempt(
    "LOST", "%(now)s", "'worker ' || t.worker_id || ' stopped heartbeating; lease expired'"
)
_REQUEUE_LOST = f"""
WITH lost AS (
    SELECT id, i FROM (
        SELECT id, row_number() OVER (ORDER BY lease_expires_at, lease_batch, lease_pos) AS i
        FROM task_runs WHERE id = ANY(%(ids)s)
    ) ordered ORDER BY i
),
fresh AS (SELECT id, nextval('claim_seq') AS seq FROM lost ORDER BY i)
UPDATE task_runs t
SET status = 'QUEUED', worker_id = NULL, spawn_index = 0, seq = fresh.seq,
    enqueued_at = %(now)s, ready_at = %(now)s, deadline = %(now)s + t.schedule_timeout,
    {RELEASE}, {_LOST_ATTEMPT}
FROM fresh WHERE t.id = fresh.id
"""


def requeue_lost(conn: Conn, now: float) -> int:
    """Task runs whose lease lapsed (their worker stopped heartbeating) are queued again
    as a new attempt, in lease order, without consuming a retry."""
    ids = [
        task_id
        for (task_id,) in conn.execute(
            "SELECT id FROM task_runs WHERE lease_expires_at <= %s "
            "ORDER BY lease_expires_at, lease_batch, lease_pos FOR NO KEY UPDATE SKIP LOCKED",
            (now,),
        )
    ]
    if ids:
        conn.execute(_REQUEUE_LOST, {"ids": ids, "now": now})
    return len(ids)


def expire_schedule_timeouts(session: Session, now: float) -> Outcome:
    """Queued task runs past their schedule deadline are cancelled (Hatchet's
    SCHEDULING_TIMED_OUT; never retried), oldest deadline first."""
    conn = session.conn
    due = conn.execute(
        "SELECT id, run_id FROM task_runs WHERE status = 'QUEUED' AND NOT in_backoff "
        "AND deadline <= %s ORDER BY deadline, seq",
        (now,),
    ).fetchall()
    runs: dict[str, LockedRun | None] = {}
    states: dict[str, conditions.DagState] = {}
    finished: list[str] = []
    queued = 0
    for task_id, run_id in due:
        if run_id not in runs:
            runs[run_id] = lock_run(session, run_id, skip_locked=True)
        run = runs[run_id]
        if run is None:  # another transaction is working on this run: next time
            continue
        row = conn.execute(
            "SELECT name, status, in_backoff, deadline FROM task_runs WHERE id = %s "
            "FOR NO KEY UPDATE",
            (task_id,),
        ).fetchone()
        if row is None or row[1] != RunStatus.QUEUED.value or row[2] or row[3] > now:
            continue  # claimed (or cancelled) meanwhile
        if run_id not in states:
            states[run_id] = conditions.dag_state(conn, run_id)
        reason = schedule_timeout_reason(run.spec.tasks[row[0]].schedule_timeout)
        outcome = cancel_tasks(session, run, states[run_id], [(task_id, row[0])], reason, now)
        finished.extend(outcome.finished)
        queued += outcome.queued
    return Outcome(True, tuple(finished), queued)


def expire(session: Session, now: float) -> Outcome:
    fired = conditions.fire_due(session, now)  # first, as the in-memory store does
    released = len(release_due_retries(session.conn, now).fetchall())
    released += release_parked(session, now)
    released += rate_limits.release_due(session.conn, now)
    timed_out = places.settled(session, expire_schedule_timeouts(session, now), now)
    lost = requeue_lost(session.conn, now)
    if released or lost or timed_out.finished or timed_out.queued:
        session.changed = True
    finished = fired.finished + timed_out.finished
    return Outcome(True, finished, fired.queued + released + timed_out.queued + lost)


_NEXT_WAKEUP = f"""
SELECT least(
    (SELECT ready_at FROM task_runs WHERE in_backoff AND ready_at < 'Infinity'
     ORDER BY ready_at LIMIT 1),
    (SELECT deadline FROM task_runs WHERE status = 'QUEUED' AND NOT in_backoff
     ORDER BY deadline LIMIT 1),
    (SELECT lease_expires_at FROM task_runs WHERE lease_expires_at IS NOT NULL
     ORDER BY lease_expires_at LIMIT 1),
    {rate_limits.NEXT_REFILL}
)
"""


def next_wakeup(conn: Conn) -> float | None:
    """The earliest instant a backoff ends, a schedule deadline or a lease passes (the
    reference reports a past instant too until ``expire`` handles it)."""
    row = conn.execute(_NEXT_WAKEUP).fetchone()
    times = [float(row[0])] if row is not None and row[0] is not None else []
    sleep = conditions.next_wake(conn)  # a condition's sleep (held task runs wait at +inf)
    if sleep is not None:
        times.append(sleep)
    return min(times, default=None)
