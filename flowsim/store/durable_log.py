"""A durable task run's event log, and parking an evicted durable task run: what every
store keeps for durable tasks beyond the runs themselves.

Each durable call a durable task makes (a sleep, a child spawn, a memo, an
``aio_wait_for``) is a **step** at the next position of its
task run's log. The log outlives attempts: when the task run is retried, reclaimed after
its worker died, or restored after an eviction, its body runs again from the top and each
call finds its step already logged, so a sleep that is over returns at once, a child that
was spawned is not spawned again, a memo is not recomputed. A call that does not match
the logged step (another kind, another key) is non-determinism (the engine reports it).

The log is append-only and keyed by (task run, position): recording a step where one is
already logged changes nothing and returns the logged one, so two attempts racing (a
zombie and its successor) converge on the first. A batch (the children of one
``aio_run_many``) is recorded in one call. What a step means is the engine's
business (``flowsim.engine.replay``); the store keeps ``kind``, ``key`` and ``data`` as
given.

**Eviction** ends a waiting attempt and puts its task run back in the queue as a restore
that is not claimable until its wait is over: until ``resume_at`` (a sleep's wake time),
or until every run in ``awaiting`` is terminal (children it waited on). No retry is
consumed; the spawn index restarts at 0 as for any re-run, so the restored body finds its
children. Parked task runs are released by ``expire`` (SQL stores) or by the engine when
the awaited runs end (memory).
"""

from __future__ import annotations

import enum
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from flowsim.store.records import JSON

if TYPE_CHECKING:
    from flowsim.store.protocol import Outcome

#: ``ready_at`` of a task run parked until the runs it awaits end: never claimable by time
#: alone (a finite number, so every store and timer can hold it)
PARKED_UNTIL = 1e18

#: the attempt outcome an eviction records (next to COMPLETED, FAILED, CANCELLED, LOST)
EVICTED = "EVICTED"


class StepKind(enum.StrEnum):
    """What a logged step was. ``WAIT_FOR`` is ``DurableContext.aio_wait_for`` (its key: the
    signal key; its data: the stored wait's id and registration time, the wait keeping its
    result once it fired)."""

    SLEEP = "sleep"
    SPAWN = "spawn"
    MEMO = "memo"
    WAIT_FOR = "wait_for"


@dataclass(frozen=True, slots=True)
class DurableStep:
    """One entry of a durable task run's event log.

    ``key`` identifies the call for the determinism check (a sleep's duration, a spawned
    workflow's name and child key, a memo's argument digest); ``data`` is what a replay
    needs (a sleep's wake time, a child's run id, a memo's result)."""

    position: int
    kind: StepKind
    key: str
    data: JSON
    created_at: float

    def describe(self) -> str:
        return f"{self.kind.value} {self.key}"


class DurableLogStore(Protocol):
    """The event log's operations (part of ``RunStore``; the memory store has them too)."""

    def durable_steps(self, task_run_id: str) -> list[DurableStep]:
        """The task run's logged steps in position order (empty for an unknown id)."""

    def record_steps(self, task_run_id: str, steps: Sequence[DurableStep]) -> list[DurableStep]:
        """Log each step unless one is logged at its position (one transaction); return
        the logged steps, in the order given."""


class EvictingStore(Protocol):
    """Evicting a waiting durable task run (part of ``RunStore``)."""

    def evict(
        self,
        task_run_id: str,
        token: int,
        resume_at: float | None,
        awaiting: Sequence[str],
        reason: str,
        now: float,
    ) -> Outcome:
        """Fenced like ``fail``: end the attempt holding ``token`` (outcome EVICTED, no
        retry consumed, spawn index 0) and queue the task run as a restore, claimable from
        ``resume_at``, or once every run in ``awaiting`` is terminal (``expire`` releases
        it then). Its schedule clock starts when it becomes claimable."""


class StepLog:
    """The in-memory event logs (the memory and reference stores share this)."""

    def __init__(self) -> None:
        self._steps: dict[str, dict[int, DurableStep]] = {}

    def durable_steps(self, task_run_id: str) -> list[DurableStep]:
        steps = self._steps.get(task_run_id, {})
        return [steps[position] for position in sorted(steps)]

    def record_steps(self, task_run_id: str, steps: Sequence[DurableStep]) -> list[DurableStep]:
        logged = self._steps.setdefault(task_run_id, {})
        return [logged.setdefault(step.position, step) for step in steps]


def eviction_reason(kind: str, resource: str, ttl: float | None, cause: str) -> str:
    """The evicted attempt's recorded reason, in hatchet_sdk's words; ``cause`` is
    ``ttl``, ``capacity`` or ``shutdown``."""
    waited_on = f"{kind}({resource})"
    if cause == "ttl":
        return f"Wait TTL ({ttl:g} s) exceeded while waiting on {waited_on}"
    if cause == "capacity":
        return f"Worker at capacity while waiting on {waited_on}"
    return f"Worker shutdown while waiting on {waited_on}"


def check_parking(resume_at: float | None, awaiting: Sequence[str]) -> None:
    """An eviction says when it may be restored: a time, or runs to wait for."""
    if resume_at is None and not awaiting:
        raise ValueError("an eviction needs resume_at or awaited runs")
