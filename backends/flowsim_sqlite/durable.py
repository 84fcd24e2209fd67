"""Durable tasks in SQLite: the event log, eviction, and restoring a parked task run.

See ``flowsim.store.durable_log`` for the semantics. An evicted task run is a QUEUED row
in backoff: until its wake time (a sleep), or until ``PARKED_UNTIL`` with one
``durable_parked`` row per awaited run, which ``release_parked`` (called by ``expire``)
clears once those runs are all terminal.
"""

from __future__ import annotations

from collections.abc import Sequence

from flowsim.store.durable_log import (
    EVICTED,
    PARKED_UNTIL,
    DurableStep,
    StepKind,
    check_parking,
)
from flowsim_sqlite.dag import Changes
from flowsim_sqlite.rows import TERMINAL, Tx, dumps, loads

_STEPS = (
    "SELECT position, kind, key, data, created_at FROM durable_steps "
    "WHERE task_run_id = ? ORDER BY position"
)


def durable_steps(tx: Tx, task_run_id: str) -> list[DurableStep]:
    return [
        DurableStep(position, StepKind(kind), key, loads(data), created_at)
        for position, kind, key, data, created_at in tx.execute(_STEPS, (task_run_id,))
    ]


def record_steps(tx: Tx, task_run_id: str, steps: Sequence[DurableStep]) -> list[DurableStep]:
    tx.executemany(
        "INSERT OR IGNORE INTO durable_steps (task_run_id, position, kind, key, data, "
        "created_at) VALUES (?, ?, ?, ?, ?, ?)",
        [
            (task_run_id, s.position, s.kind.value, s.key, dumps(s.data), s.created_at)
            for s in steps
        ],
    )
    logged = {step.position: step for step in durable_steps(tx, task_run_id)}
    return [logged[step.position] for step in steps]


#: ends the running attempt as EVICTED and queues the task run again (no retry consumed);
#: the finish time is JSON text, as everywhere attempts are written (see outcomes.py)
_EVICT = (
    "UPDATE task_runs SET status = 'QUEUED', worker_id = NULL, spawn_index = 0, seq = ?, "
    "enqueued_at = ?, ready_at = ?, in_backoff = ?, deadline = ? + schedule_timeout, "
    "deadline_seq = ?, lease_expires_at = NULL, lease_batch = NULL, waiting_on = NULL, "
    "attempts = json_replace(attempts, '$[#-1][4]', json(?), '$[#-1][5]', ?, '$[#-1][6]', ?) "
    "WHERE id = ? AND status = 'RUNNING' AND token = ?"
)


def evict(
    tx: Tx,
    task_run_id: str,
    token: int,
    resume_at: float | None,
    awaiting: Sequence[str],
    reason: str,
    now: float,
) -> Changes | None:
    """``None`` when the token does not hold the task run (nothing changed)."""
    check_parking(resume_at, awaiting)
    ready_at = PARKED_UNTIL if resume_at is None else max(resume_at, now)
    waits = ready_at > now
    seq = tx.sequence(1)
    cursor = tx.execute(
        _EVICT,
        (seq, now, ready_at, int(waits), ready_at, seq, dumps(now), EVICTED, reason,
         task_run_id, token),
    )  # fmt: skip
    if cursor.rowcount == 0:
        return None
    changes = Changes(queued=0 if waits else 1)
    if resume_at is None:
        tx.executemany(
            "INSERT OR IGNORE INTO durable_parked (task_run_id, run_id) VALUES (?, ?)",
            [(task_run_id, run_id) for run_id in awaiting],
        )
        changes.queued += release_parked(tx, now)
    return changes


_READY = (
    "SELECT DISTINCT p.task_run_id FROM durable_parked p "
    "WHERE NOT EXISTS (SELECT 1 FROM durable_parked q JOIN runs r ON r.id = q.run_id "
    f"  WHERE q.task_run_id = p.task_run_id AND r.status NOT IN {TERMINAL!r}) "
    "ORDER BY p.task_run_id"
)


def parked_ready(tx: Tx) -> bool:
    """Whether a parked task run's awaited runs have all ended (``release_parked`` would
    queue it): what ``expire``'s read-only look for work due asks besides the clocks."""
    return tx.execute(f"{_READY} LIMIT 1").fetchone() is not None


def release_parked(tx: Tx, now: float) -> int:
    """Queue the parked task runs whose awaited runs have all ended (their schedule
    clocks start now); forget parked rows of task runs that moved on (cancelled)."""
    ready = [task_run_id for (task_run_id,) in tx.execute(_READY)]
    if not ready:
        return 0
    tx.executemany("DELETE FROM durable_parked WHERE task_run_id = ?", [(t,) for t in ready])
    released = 0
    for task_run_id in ready:
        seq = tx.sequence(1)
        cursor = tx.execute(
            "UPDATE task_runs SET in_backoff = 0, ready_at = ?, deadline = ? + schedule_timeout,"
            " deadline_seq = ? WHERE id = ? AND status = 'QUEUED' AND in_backoff = 1 "
            "AND ready_at >= ?",
            (now, now, seq, task_run_id, PARKED_UNTIL),
        )
        released += cursor.rowcount
    return released
