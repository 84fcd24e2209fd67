"""Durable tasks in Postgres: the event log, eviction, and restoring a parked task run.

See ``flowsim.store.durable_log`` for the semantics. An evicted task run is a QUEUED row
in backoff: until its wake time (a sleep), or until ``PARKED_UNTIL`` with one
``durable_parked`` row per awaited run, which ``release_parked`` (called by ``expire``)
clears once those runs are all terminal. Two processes releasing at once are harmless:
the second's update finds the row no longer parked.
"""

from __future__ import annotations

from collections.abc import Sequence

from psycopg.types.json import Jsonb

from flowsim.store.durable_log import (
    EVICTED,
    PARKED_UNTIL,
    DurableStep,
    StepKind,
    check_parking,
)
from flowsim.store.protocol import Outcome
from flowsim_postgres.rows import RELEASE, Conn, Session, end_attempt, ended_status

_STEP = "SELECT position, kind, key, data, created_at FROM durable_steps "


def durable_steps(conn: Conn, task_run_id: str) -> list[DurableStep]:
    rows = conn.execute(_STEP + "WHERE task_run_id = %s ORDER BY position", (task_run_id,))
    return [
        DurableStep(position, StepKind(kind), key, data, created_at)
        for position, kind, key, data, created_at in rows
    ]


def record_steps(
    session: Session, task_run_id: str, steps: Sequence[DurableStep]
) -> list[DurableStep]:
    conn = session.conn
    conn.cursor().executemany(
        "INSERT INTO durable_steps (task_run_id, position, kind, key, data, created_at) "
        "VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT DO NOTHING",
        [
            (task_run_id, s.position, s.kind.value, s.key, Jsonb(s.data), s.created_at)
            for s in steps
        ],
    )
    logged = {step.position: step for step in durable_steps(conn, task_run_id)}
    return [logged[step.position] for step in steps]


_EVICT = f"""
UPDATE task_runs
SET status = 'QUEUED', worker_id = NULL, spawn_index = 0, seq = nextval('claim_seq'),
    enqueued_at = %(now)s, ready_at = %(ready_at)s, in_backoff = %(backoff)s,
    deadline = %(ready_at)s + schedule_timeout, {RELEASE},
    {end_attempt(EVICTED, "%(now)s", "%(reason)s")}
WHERE id = %(id)s AND held_token = %(token)s
RETURNING id
"""


def evict(
    session: Session,
    task_run_id: str,
    token: int,
    resume_at: float | None,
    awaiting: Sequence[str],
    reason: str,
    now: float,
) -> Outcome:
    check_parking(resume_at, awaiting)
    conn = session.conn
    ready_at = PARKED_UNTIL if resume_at is None else max(resume_at, now)
    waits = ready_at > now
    params = {
        "id": task_run_id, "token": token, "now": now, "ready_at": ready_at, "backoff": waits,
        "reason": reason,
    }  # fmt: skip
    if conn.execute(_EVICT, params).fetchone() is None:
        return Outcome(accepted=False)
    session.changed = True
    queued = 0 if waits else 1
    if resume_at is None:
        conn.cursor().executemany(
            "INSERT INTO durable_parked (task_run_id, run_id) VALUES (%s, %s) "
            "ON CONFLICT DO NOTHING",
            [(task_run_id, run_id) for run_id in awaiting],
        )
        queued += release_parked(session, now)
    return Outcome(True, (), queued)


_READY = f"""
SELECT DISTINCT p.task_run_id FROM durable_parked p
WHERE NOT EXISTS (
    SELECT 1 FROM durable_parked q JOIN runs r ON r.id = q.run_id
    WHERE q.task_run_id = p.task_run_id AND {ended_status("r")} IS NULL)
ORDER BY p.task_run_id
"""
_RELEASE_PARKED = """
UPDATE task_runs SET in_backoff = false, ready_at = %(now)s,
    deadline = %(now)s + schedule_timeout, seq = nextval('claim_seq')
WHERE id = ANY(%(ids)s) AND status = 'QUEUED' AND in_backoff AND ready_at >= %(parked)s
RETURNING id
"""


def release_parked(session: Session, now: float) -> int:
    """Queue the parked task runs whose awaited runs have all ended (their schedule
    clocks start now); forget parked rows of task runs that moved on (cancelled)."""
    conn = session.conn
    ready = [task_run_id for (task_run_id,) in conn.execute(_READY)]
    if not ready:
        return 0
    conn.execute("DELETE FROM durable_parked WHERE task_run_id = ANY(%s)", (ready,))
    released = len(
        conn.execute(_RELEASE_PARKED, {"ids": ready, "now": now, "parked": PARKED_UNTIL}).fetchall()
    )
    if released:
        session.changed = True
    return released
