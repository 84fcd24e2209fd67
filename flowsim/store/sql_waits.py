"""Condition waits in a SQL store: one implementation for SQLite and Postgres.

Both backends keep open waits in the same two tables (created by their
``0007_conditions.sql``): ``condition_waits`` (one row per held DAG task or durable wait:
its conditions, registration time, what holds so far, the next sleep to elapse, and a
durable wait's result once it fired) and ``condition_events`` (which waits listen for
which event key). The statements below use only what both dialects share (text JSON,
integer flags, ``?`` placeholders that the Postgres adapter rewrites), and every decision
is ``flowsim.store.conditions``', as the in-memory ``WaitBook`` makes it; the backend acts
on the waits that fired (queue, skip or cancel a task run) in the same transaction, so a
worker in another process sees an event pushed anywhere.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from flowsim.store import conditions as cond
from flowsim.store.records import JSON


class Db(Protocol):
    """The two calls this module makes on a backend's open transaction, and the clause
    that locks the waits it reads (Postgres: ``FOR UPDATE``, so two processes pushing
    events at once cannot both fire a wait or lose each other's satisfied conditions;
    SQLite: none, its writers are serialised by ``BEGIN IMMEDIATE``)."""

    lock_clause: str

    def rows(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]: ...

    def run(self, sql: str, params: Sequence[Any] = ()) -> None: ...


@dataclass(frozen=True, slots=True)
class FiredWait:
    id: str
    task_run_id: str
    durable: bool
    action: cond.Action


def _dumps(value: JSON) -> str:
    return json.dumps(value, separators=(",", ":"))


def _satisfied(text: str) -> cond.Satisfied:
    return {int(index): data for index, data in json.loads(text).items()}


def register(
    db: Db,
    wait_id: str,
    task_run_id: str,
    durable: bool,
    conditions: Sequence[cond.ConditionSpec],
    registered_at: float,
    satisfied: cond.Satisfied,
) -> FiredWait | None:
    """Open a wait (a durable one once per id); the wait itself if it fired at once."""
    if durable and db.rows("SELECT 1 FROM condition_waits WHERE id = ?", (wait_id,)):
        return None
    action = cond.decide(conditions, satisfied) if durable else None
    result = cond.wait_result(conditions, satisfied, action) if action is not None else None
    wake = None if action is not None else cond.wake_at(conditions, registered_at, satisfied)
    db.run(
        "INSERT INTO condition_waits (id, task_run_id, durable, conditions, registered_at, "
        "satisfied, wake_at, open, result) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (
            wait_id, task_run_id, int(durable), _dumps(cond.conditions_to_json(conditions)),
            registered_at, _dumps({str(k): v for k, v in satisfied.items()}), wake,
            int(action is None), None if result is None else _dumps(result),
        ),
    )  # fmt: skip
    if action is not None:
        return FiredWait(wait_id, task_run_id, durable, action)
    for key in cond.event_keys(conditions):
        db.run("INSERT INTO condition_events (event_key, wait_id) VALUES (?, ?)", (key, wait_id))
    return None


_SELECT = (
    "SELECT w.id, w.task_run_id, w.durable, w.conditions, w.registered_at, w.satisfied "
    "FROM condition_waits w "
)


def on_event(
    db: Db, key: str, payload: JSON, additional_metadata: JSON, now: float
) -> list[FiredWait]:
    """Satisfy the open waits' conditions on this event (and their sleeps that elapsed
    by ``now``, not fired yet); the waits that fired."""
    rows = db.rows(
        _SELECT + "JOIN condition_events e ON e.wait_id = w.id "
        "WHERE e.event_key = ? AND w.open = 1 ORDER BY w.registered_at, w.id" + db.lock_clause,
        (key,),
    )
    fired: list[FiredWait] = []
    for row in rows:
        wait = _Open.of(row)
        hits = cond.on_event(wait.conditions, wait.satisfied, key, payload, additional_metadata)
        if not hits:
            continue
        for index in hits:
            wait.satisfied[index] = payload
        for index in cond.on_time(wait.conditions, wait.registered_at, wait.satisfied, now):
            wait.satisfied[index] = {}
        _settle(db, wait, fired)
    return fired


def on_time(db: Db, now: float) -> list[FiredWait]:
    """Satisfy the sleeps that elapsed by ``now``; the waits that fired."""
    rows = db.rows(_SELECT + "WHERE w.open = 1 AND w.wake_at <= ? ORDER BY w.wake_at, w.id", (now,))
    fired: list[FiredWait] = []
    for row in rows:
        wait = _Open.of(row)
        for index in cond.on_time(wait.conditions, wait.registered_at, wait.satisfied, now):
            wait.satisfied[index] = {}
        _settle(db, wait, fired)
    return fired


@dataclass(slots=True)
class _Open:
    """An open wait as read from ``condition_waits`` (``_SELECT``'s columns)."""

    id: str
    task_run_id: str
    durable: bool
    conditions: tuple[cond.ConditionSpec, ...]
    registered_at: float
    satisfied: cond.Satisfied

    @staticmethod
    def of(row: tuple[Any, ...]) -> _Open:
        wait_id, task_run_id, durable, text, registered_at, satisfied = row
        conditions = cond.conditions_from_json(json.loads(text))
        return _Open(wait_id, task_run_id, bool(durable), conditions, float(registered_at),
                     _satisfied(satisfied))  # fmt: skip


def _settle(db: Db, wait: _Open, fired: list[FiredWait]) -> None:
    """Record what holds now; close the wait (with a durable wait's result) if it fired."""
    conditions, satisfied = wait.conditions, wait.satisfied
    action = cond.decide(conditions, satisfied)
    stored = _dumps({str(k): v for k, v in satisfied.items()})
    if action is None:
        wake = cond.wake_at(conditions, wait.registered_at, satisfied)
        db.run(
            "UPDATE condition_waits SET satisfied = ?, wake_at = ? WHERE id = ?",
            (stored, wake, wait.id),
        )
        return
    result = cond.wait_result(conditions, satisfied, action) if wait.durable else None
    db.run(
        "UPDATE condition_waits SET satisfied = ?, wake_at = NULL, open = 0, result = ? "
        "WHERE id = ?",
        (stored, None if result is None else _dumps(result), wait.id),
    )
    db.run("DELETE FROM condition_events WHERE wait_id = ?", (wait.id,))
    fired.append(FiredWait(wait.id, wait.task_run_id, wait.durable, action))


def close_for(db: Db, task_run_ids: Sequence[str]) -> None:
    """The task runs were cancelled: their holds end unfired (a cancel, not a decision)."""
    for task_run_id in task_run_ids:
        db.run(
            "UPDATE condition_waits SET open = 0, wake_at = NULL "
            "WHERE id = ? AND durable = 0 AND open = 1",
            (task_run_id,),
        )
        db.run("DELETE FROM condition_events WHERE wait_id = ?", (task_run_id,))


def next_wake(db: Db) -> float | None:
    """When the earliest open sleep elapses."""
    rows = db.rows(
        "SELECT wake_at FROM condition_waits WHERE open = 1 AND wake_at IS NOT NULL "
        "ORDER BY wake_at LIMIT 1"
    )
    return float(rows[0][0]) if rows else None


def result(db: Db, wait_id: str) -> JSON:
    """A durable wait's result, None while it waits."""
    rows = db.rows("SELECT result FROM condition_waits WHERE id = ?", (wait_id,))
    if not rows or rows[0][0] is None:
        return None
    return json.loads(rows[0][0])
