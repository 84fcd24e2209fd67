"""Concurrency limits on Postgres: units arrive, wait (their task runs parked), are admitted.

The decisions are ``flowsim.concurrency``'s, made on the rows of ``concurrency_slots``
(migration 0002): ``arrive`` when a limited run or task run is created, ``settle`` at the
end of every operation that ended a limited run's task (places free, waiting units are
admitted in round-robin order, their parked task runs queued with a fresh sequence, as the
in-memory store does). Every such decision holds one transaction-scoped advisory lock per
schema, so two processes never both take the last place of a group. A transaction that
takes it and then a run's row can meet one that holds the row and waits for the lock:
Postgres reports the deadlock and the store runs the loser again. Runs without limits
never reach this module.
"""

from __future__ import annotations

from typing import Any

from flowsim import concurrency, rules
from flowsim.concurrency import Gate, Group, Waiting
from flowsim.store.protocol import Outcome
from flowsim.store.records import WorkflowSpec
from flowsim_postgres.rows import Conn, Session

_LOCK = "SELECT pg_advisory_xact_lock(hashtext(current_schema() || '/flowsim-concurrency'))"
_PARK = (
    "UPDATE task_runs SET parked_ready_at = ready_at, ready_at = 'infinity' "
    "WHERE id = ANY(%s) AND status = 'QUEUED' AND parked_ready_at IS NULL"
)


def lock(conn: Conn) -> None:
    conn.execute(_LOCK)


def _units(conn: Conn, group: Group, holding: bool, most: int | None = None) -> list[str]:
    """The group's holders (or waiting units), oldest arrival first, ``most`` of them at
    most (all for None: LIMIT NULL)."""
    return [
        row[0]
        for row in conn.execute(
            "SELECT unit_id FROM concurrency_slots WHERE strategy = %s AND group_key = %s "
            "AND holding = %s ORDER BY seq LIMIT %s",
            (*group, holding, most),
        )
    ]


def _count(conn: Conn, group: Group, holding: bool) -> int:
    row = conn.execute(
        "SELECT count(*) FROM concurrency_slots WHERE strategy = %s AND group_key = %s "
        "AND holding = %s",
        (*group, holding),
    ).fetchone()
    return int(row[0]) if row is not None else 0


def placed(conn: Conn, unit: str) -> bool:
    """Whether the unit holds or waits for places (it arrived and has not ended)."""
    row = conn.execute("SELECT 1 FROM concurrency_slots WHERE unit_id = %s LIMIT 1", (unit,))
    return row.fetchone() is not None


def _waiting(conn: Conn, unit: str) -> bool:
    row = conn.execute(
        "SELECT 1 FROM concurrency_slots WHERE unit_id = %s AND NOT holding LIMIT 1", (unit,)
    ).fetchone()
    return row is not None


def arrive(
    session: Session, unit: str, run_id: str, gates: tuple[Gate, ...], seq: int, now: float
) -> rules.Arrival:
    """A unit arrives: cancel the holders and waiting units its strategy cancels, then
    record it holding or waiting. With ``cancel_new`` nothing is recorded: the caller
    cancels the newcomer."""
    conn = session.conn
    lock(conn)
    plan = concurrency.plan_arrival(
        gates, lambda g: _units(conn, g, True), lambda g, most: _units(conn, g, False, most)
    )
    if plan.cancel_new:
        return plan
    for cancelled in (*plan.cancel_holders, *plan.cancel_waiting):
        cancel_unit(session, cancelled, now)
    with conn.cursor() as cursor:
        cursor.executemany(
            "INSERT INTO concurrency_slots (unit_id, position, run_id, strategy, group_key, "
            "max_runs, limit_strategy, seq, holding) "
            "VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s)",
            [
                (unit, position, run_id, gate.strategy_id, gate.key, gate.max_runs,
                 gate.strategy.value, seq, plan.admit)
                for position, gate in enumerate(gates)
            ],
        )  # fmt: skip
    return plan


def park(conn: Conn, task_ids: list[str]) -> None:
    """Queued task runs whose unit waits: no claim takes them until it is admitted."""
    conn.execute(_PARK, (task_ids,))


def cancel_unit(session: Session, unit: str, now: float) -> None:
    """Cancel a run (with what it spawned) or a task run, with Hatchet's concurrency
    reason, as the in-memory store does."""
    from flowsim_postgres import conditions, outcomes  # both settle through this module

    reason = rules.CONCURRENCY_CANCEL_REASON
    conn = session.conn
    if conn.execute("SELECT 1 FROM runs WHERE id = %s", (unit,)).fetchone() is not None:
        ended = outcomes.cancel_run(session, unit, reason, now)
        session.cancelled_by_limits.extend(ended.finished)
        return
    row = conn.execute("SELECT run_id, name FROM task_runs WHERE id = %s", (unit,)).fetchone()
    if row is None:
        return
    run = outcomes.lock_run(session, row[0])
    if run is None:
        return
    state = conditions.dag_state(conn, row[0])
    if not state.statuses[row[1]].is_terminal:
        conn.execute("SELECT 1 FROM task_runs WHERE id = %s FOR NO KEY UPDATE", (unit,))
        ended = outcomes.cancel_tasks(session, run, state, [(unit, row[1])], reason, now)
        session.cancelled_by_limits.extend(ended.finished)


def arrive_task(
    session: Session, task_id: str, run_id: str, name: str, given: tuple[Any, Any], now: float
) -> None:
    """A task run with task-level limits was created QUEUED: it arrives in its groups, and
    waits parked, or is cancelled."""
    conn = session.conn
    spec_row = conn.execute(
        "SELECT r.spec_digest, t.seq FROM task_runs t JOIN runs r ON r.id = t.run_id "
        "WHERE t.id = %s",
        (task_id,),
    ).fetchone()
    if spec_row is None:
        return
    spec = session.specs.get(conn, spec_row[0])
    gates = concurrency.task_gates(spec, name, *given)
    plan = arrive(session, task_id, run_id, gates, int(spec_row[1]), now)
    if plan.cancel_new:
        cancel_unit(session, task_id, now)
    elif not plan.admit or _waiting(conn, run_id):
        park(conn, [task_id])


def queue_released(
    session: Session, task_id: str, run_id: str, name: str, spec: WorkflowSpec, now: float
) -> None:
    """A held task run its conditions just queued: it arrives in its task-level groups
    then (as the in-memory store does), or waits parked while its run waits for a place."""
    if not spec.limited:
        return
    session.limited_runs.add(run_id)
    conn = session.conn
    if spec.tasks[name].concurrency:
        row = conn.execute(
            "SELECT input, additional_metadata FROM runs WHERE id = %s", (run_id,)
        ).fetchone()
        assert row is not None
        arrive_task(session, task_id, run_id, name, (row[0], row[1]), now)
        return
    lock(conn)
    if _waiting(conn, run_id):
        park(conn, [task_id])


def settled(session: Session, outcome: Outcome, now: float) -> Outcome:
    """``outcome`` with what settling added: the task runs admission queued."""
    queued = settle(session, now)
    if not queued:
        return outcome
    return Outcome(outcome.accepted, outcome.finished, outcome.queued + queued)


def settle(session: Session, now: float) -> int:
    """Free the places of the units that ended in the runs this transaction touched, and
    admit whom that lets in; returns how many task runs became claimable."""
    if not session.limited_runs:
        return 0
    conn = session.conn
    lock(conn)
    runs = sorted(session.limited_runs)
    session.limited_runs.clear()
    freed = conn.execute(
        "DELETE FROM concurrency_slots s WHERE s.run_id = ANY(%(runs)s) AND ("
        "EXISTS (SELECT 1 FROM task_runs t WHERE t.id = s.unit_id "
        "        AND t.status IN ('COMPLETED', 'FAILED', 'CANCELLED')) "
        "OR EXISTS (SELECT 1 FROM runs r WHERE r.id = s.unit_id "
        "           AND r.terminal_status IS NOT NULL)) "
        "RETURNING s.strategy, s.group_key",
        {"runs": runs},
    ).fetchall()
    if not freed:
        return 0
    queued = 0

    def admit(units: list[Waiting]) -> None:
        nonlocal queued
        for unit in units:
            conn.execute(
                "UPDATE concurrency_slots SET holding = true WHERE unit_id = %s", (unit.unit,)
            )
            queued += _unpark(conn, unit.unit)

    concurrency.admit_until_settled(
        {(row[0], row[1]) for row in freed},
        lambda groups: _candidates(conn, groups),
        lambda group: _count(conn, group, True),
        admit,
    )
    if queued:
        session.changed = True
    return queued


def _candidates(conn: Conn, groups: set[Group]) -> list[Waiting]:
    units: set[str] = set()
    for group in groups:  # each group's first waiters, as many as it has free places
        head = conn.execute(
            "SELECT max_runs FROM concurrency_slots WHERE strategy = %s AND group_key = %s "
            "AND NOT holding ORDER BY seq LIMIT 1",
            group,
        ).fetchone()
        room = 0 if head is None else int(head[0]) - _count(conn, group, True)
        if room <= 0:
            continue
        units.update(
            row[0]
            for row in conn.execute(
                "SELECT unit_id FROM concurrency_slots WHERE strategy = %s AND group_key = %s "
                "AND NOT holding ORDER BY seq LIMIT %s",
                (*group, room),
            )
        )
    if not units:
        return []
    return concurrency.waiting_units(
        conn.execute(
            "SELECT unit_id, strategy, group_key, max_runs, limit_strategy, seq "
            "FROM concurrency_slots WHERE unit_id = ANY(%s) ORDER BY unit_id, position",
            (sorted(units),),
        ).fetchall()
    )


def _unpark(conn: Conn, unit: str) -> int:
    """The unit was admitted: its parked task runs that wait on nothing else get their
    ready time back and, if ready, a fresh sequence (behind what is queued, in creation
    order). Returns how many became claimable."""
    parked = [
        row
        for row in conn.execute(
            "SELECT id, run_id, in_backoff FROM task_runs WHERE parked_ready_at IS NOT NULL "
            "AND status = 'QUEUED' AND (id = %(u)s OR run_id = %(u)s) ORDER BY ord "
            "FOR NO KEY UPDATE",
            {"u": unit},
        ).fetchall()
        if not _waiting(conn, row[0]) and not _waiting(conn, row[1])
    ]
    for task_id, _, _ in parked:
        conn.execute(
            "UPDATE task_runs SET ready_at = parked_ready_at, parked_ready_at = NULL, "
            "seq = CASE WHEN in_backoff THEN seq ELSE nextval('claim_seq') END WHERE id = %s",
            (task_id,),
        )
    return sum(1 for row in parked if not row[2])
