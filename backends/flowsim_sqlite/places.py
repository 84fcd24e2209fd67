"""Concurrency limits on SQLite: units arrive, wait (their task runs parked), are admitted.

The decisions are ``flowsim.concurrency``'s, made on the rows of ``concurrency_slots``
(see migration 0002): ``arrive`` when a limited run or task run is created, ``settle``
at the end of every operation that ended a limited run's task (places free, waiting units
are admitted in round-robin order and their parked task runs join the queue with a fresh
sequence, as the in-memory store does). Runs without limits never reach this module.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from flowsim import concurrency, rules
from flowsim.concurrency import Gate, Group, Waiting
from flowsim_sqlite.dag import Changes, cancel_tasks
from flowsim_sqlite.rows import SpecCache, Tx, id_list, loads

#: ``task_runs.in_backoff`` of a task run waiting for its unit's place
PARKED = 2
_TERMINAL = "('COMPLETED', 'FAILED', 'CANCELLED')"


def _units(tx: Tx, group: Group, holding: int, most: int | None = None) -> list[str]:
    """The group's holders (or waiting units), oldest arrival first, ``most`` of them at
    most (all for None)."""
    return [
        row[0]
        for row in tx.execute(
            "SELECT unit_id FROM concurrency_slots WHERE strategy = ? AND group_key = ? "
            "AND holding = ? ORDER BY seq LIMIT ?",
            (*group, holding, -1 if most is None else most),
        )
    ]


def _count(tx: Tx, group: Group, holding: int) -> int:
    row = tx.execute(
        "SELECT COUNT(*) FROM concurrency_slots WHERE strategy = ? AND group_key = ? "
        "AND holding = ?",
        (*group, holding),
    ).fetchone()
    return int(row[0])


def arrive(
    tx: Tx,
    specs: SpecCache,
    unit: str,
    run_id: str,
    gates: tuple[Gate, ...],
    seq: int,
    now: float,
    changes: Changes,
) -> rules.Arrival:
    """A unit arrives: cancel the holders and waiting units its strategy cancels, then
    record it holding or waiting. With ``cancel_new`` nothing is recorded: the caller
    cancels the newcomer."""
    plan = concurrency.plan_arrival(
        gates, lambda g: _units(tx, g, 1), lambda g, most: _units(tx, g, 0, most)
    )
    if plan.cancel_new:
        return plan
    for cancelled in (*plan.cancel_holders, *plan.cancel_waiting):
        cancel_unit(tx, specs, cancelled, now, changes)
    tx.executemany(
        "INSERT INTO concurrency_slots (unit_id, position, run_id, strategy, group_key, "
        "max_runs, limit_strategy, seq, holding) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [
            (unit, position, run_id, gate.strategy_id, gate.key, gate.max_runs,
             gate.strategy.value, seq, int(plan.admit))
            for position, gate in enumerate(gates)
        ],
    )  # fmt: skip
    return plan


def park(tx: Tx, task_ids: Sequence[str]) -> None:
    """Queued task runs whose unit waits: out of the claim queue until it is admitted."""
    tx.execute(
        f"UPDATE task_runs SET in_backoff = {PARKED} WHERE status = 'QUEUED' "
        "AND id IN (SELECT value FROM json_each(?))",
        (id_list(task_ids),),
    )


def cancel_unit(tx: Tx, specs: SpecCache, unit: str, now: float, changes: Changes) -> None:
    """Cancel a run (with what it spawned) or a task run, with Hatchet's concurrency
    reason, as the in-memory store does."""
    from flowsim_sqlite import outcomes  # outcomes settles through this module

    reason = rules.CONCURRENCY_CANCEL_REASON
    if tx.execute("SELECT 1 FROM runs WHERE id = ?", (unit,)).fetchone() is not None:
        merge(changes, outcomes.cancel_run(tx, specs, unit, reason, now))
        return
    row = tx.execute("SELECT id, run_id, spec_id FROM task_runs WHERE id = ?", (unit,)).fetchone()
    cancel_tasks(tx, specs, [tuple(row)], [reason], now, changes, fence=True)


def merge(changes: Changes, other: Changes) -> None:
    changes.finished.extend(other.finished)
    changes.queued += other.queued
    changes.limited_runs.update(other.limited_runs)


def arrive_task(
    tx: Tx,
    specs: SpecCache,
    task: tuple[str, str, int, str, int],
    spec_input: tuple[Any, Any],
    now: float,
    changes: Changes,
) -> None:
    """A task run ``(id, run_id, spec_id, name, seq)`` with task-level limits was created
    QUEUED: it arrives in its groups, and waits parked, or is cancelled."""
    task_id, run_id, spec_id, name, seq = task
    spec = specs.spec(tx, spec_id)
    gates = concurrency.task_gates(spec, name, *spec_input)
    plan = arrive(tx, specs, task_id, run_id, gates, seq, now, changes)
    if plan.cancel_new:
        cancel_unit(tx, specs, task_id, now, changes)
    elif not plan.admit or _waiting(tx, run_id):
        park(tx, [task_id])


def queue_released(
    tx: Tx, specs: SpecCache, task: tuple[str, str, int, str, int], now: float, changes: Changes
) -> None:
    """A held task run ``(id, run_id, spec_id, name, seq)`` its conditions just queued: it
    arrives in its task-level groups then (as the in-memory store does), or waits parked
    while its run waits for a place."""
    task_id, run_id, spec_id, name, _ = task
    spec = specs.spec(tx, spec_id)
    if not spec.limited:
        return
    changes.limited_runs.add(run_id)
    if spec.tasks[name].concurrency:
        input_text, metadata_text = tx.execute(
            "SELECT input, additional_metadata FROM runs WHERE id = ?", (run_id,)
        ).fetchone()
        arrive_task(tx, specs, task, (loads(input_text), loads(metadata_text)), now, changes)
    elif _waiting(tx, run_id):
        park(tx, [task_id])


def late_queued(tx: Tx, now: float) -> list[Any]:
    """Queued task runs past their schedule deadline, claimable and parked alike (a place
    waited for too long is cancelled too), in deadline order; each arm of the union reads
    its own partial index."""
    return tx.execute(
        "SELECT id, run_id, spec_id, schedule_timeout, deadline, bucket, deadline_seq "
        "FROM task_runs WHERE status = 'QUEUED' AND in_backoff = 0 AND deadline <= ?1 "
        "UNION ALL SELECT id, run_id, spec_id, schedule_timeout, deadline, bucket, deadline_seq "
        f"FROM task_runs WHERE status = 'QUEUED' AND in_backoff = {PARKED} AND deadline <= ?1 "
        "ORDER BY 5, 6, 7",
        (now,),
    ).fetchall()


def parked_deadline(tx: Tx) -> float | None:
    """The earliest schedule deadline of a parked task run (for the wake-up timer)."""
    row = tx.execute(
        f"SELECT deadline FROM task_runs WHERE status = 'QUEUED' AND in_backoff = {PARKED} "
        "ORDER BY deadline LIMIT 1"
    ).fetchone()
    return None if row is None else float(row[0])


def placed(tx: Tx, unit: str) -> bool:
    """Whether the unit holds or waits for places (it arrived and has not ended)."""
    return (
        tx.execute("SELECT 1 FROM concurrency_slots WHERE unit_id = ?", (unit,)).fetchone()
        is not None
    )


def _waiting(tx: Tx, unit: str) -> bool:
    row = tx.execute(
        "SELECT 1 FROM concurrency_slots WHERE unit_id = ? AND holding = 0 LIMIT 1", (unit,)
    ).fetchone()
    return row is not None


def settle(tx: Tx, specs: SpecCache, now: float, changes: Changes) -> None:
    """Free the places of the units that ended in the runs this operation touched, and
    admit whom that lets in (``concurrency.admit_until_settled``)."""
    if not changes.limited_runs:
        return
    runs = id_list(sorted(changes.limited_runs))
    freed = tx.execute(
        "DELETE FROM concurrency_slots WHERE run_id IN (SELECT value FROM json_each(?1)) AND ("
        f"unit_id IN (SELECT id FROM task_runs WHERE run_id IN (SELECT value FROM json_each(?1)) "
        f"AND status IN {_TERMINAL}) OR unit_id IN (SELECT id FROM runs WHERE id IN "
        f"(SELECT value FROM json_each(?1)) AND status IN {_TERMINAL})) "
        "RETURNING strategy, group_key",
        (runs,),
    ).fetchall()
    changes.limited_runs.clear()
    if not freed:
        return

    def admit(units: list[Waiting]) -> None:
        for unit in units:
            tx.execute("UPDATE concurrency_slots SET holding = 1 WHERE unit_id = ?", (unit.unit,))
            _unpark(tx, unit.unit, now, changes)

    concurrency.admit_until_settled(
        {(row[0], row[1]) for row in freed},
        lambda groups: _candidates(tx, groups),
        lambda group: _count(tx, group, 1),
        admit,
    )


def _candidates(tx: Tx, groups: set[Group]) -> list[Waiting]:
    units: set[str] = set()
    for group in groups:  # each group's first waiters, as many as it has free places
        head = tx.execute(
            "SELECT max_runs FROM concurrency_slots WHERE strategy = ? AND group_key = ? "
            "AND holding = 0 ORDER BY seq LIMIT 1",
            group,
        ).fetchone()
        room = 0 if head is None else head[0] - _count(tx, group, 1)
        if room <= 0:
            continue
        units.update(
            row[0]
            for row in tx.execute(
                "SELECT unit_id FROM concurrency_slots WHERE strategy = ? AND group_key = ? "
                "AND holding = 0 ORDER BY seq LIMIT ?",
                (*group, room),
            )
        )
    if not units:
        return []
    return concurrency.waiting_units(
        tx.execute(
            "SELECT unit_id, strategy, group_key, max_runs, limit_strategy, seq "
            "FROM concurrency_slots WHERE unit_id IN (SELECT value FROM json_each(?)) "
            "ORDER BY unit_id, position",
            (id_list(sorted(units)),),
        ).fetchall()
    )


def _unpark(tx: Tx, unit: str, now: float, changes: Changes) -> None:
    """The unit was admitted: its parked task runs that wait on nothing else join the
    queue behind what is queued (fresh sequences, creation order); one whose scheduled
    time is still ahead waits it out as a retry does."""
    parked = [
        row
        for row in tx.execute(
            f"SELECT id, run_id, ready_at FROM task_runs WHERE in_backoff = {PARKED} "
            "AND status = 'QUEUED' AND (id = ?1 OR run_id = ?1) ORDER BY rowid",
            (unit,),
        ).fetchall()
        if not _waiting(tx, row[0]) and not _waiting(tx, row[1])
    ]
    for task_id, _, ready_at in parked:
        if ready_at > now:
            tx.execute("UPDATE task_runs SET in_backoff = 1 WHERE id = ?", (task_id,))
            continue
        seq = tx.sequence(1)
        tx.execute("UPDATE task_runs SET in_backoff = 0, seq = ? WHERE id = ?", (seq, task_id))
        changes.queued += 1
