"""Replaying a durable task's event log: each durable call takes the next position.

A durable task's body runs again from the top on every attempt (a retry, a reclaim after
its worker died, a restore after an eviction). Each durable call it makes (a sleep, a
child spawn, a memo; ``aio_wait_for`` once conditions are modelled) asks ``Replay.step``
for its position's step: logged already, it is replayed (a sleep keeps its first wake
time, a spawn finds its child, a memo its result); not yet, it is recorded now. A logged
step of another kind or key is non-determinism: ``NonDeterminismError`` names the task,
the position, the logged call and the call the code made instead.

Positions are assigned in call order, so code that starts several durable calls at once
(``asyncio.gather``) gets the same positions on every replay as long as it starts them in
the same order, which is what Hatchet requires of durable code too.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from flowsim.errors import NonDeterminismError
from flowsim.store.durable_log import DurableLogStore, DurableStep, StepKind
from flowsim.store.records import JSON

if TYPE_CHECKING:
    from flowsim.engine.runtime import AttemptState

DOCS = "docs/durable-tasks.md"


class Replay:
    """One attempt's walk through its task run's event log (read once, at the first call)."""

    def __init__(self, store: DurableLogStore, attempt: AttemptState) -> None:
        self._store = store
        self._attempt = attempt
        self._logged: dict[int, DurableStep] | None = None
        self.position = 0
        #: how many steps this attempt replayed from the log (reports and tests)
        self.replayed = 0

    def step(
        self, kind: StepKind, key: str, data: Callable[[], JSON], now: float
    ) -> tuple[DurableStep, bool]:
        """The step at the next position and whether it was replayed; ``data`` builds a
        new step's data. Raises ``NonDeterminismError`` if the log disagrees."""
        return self.steps(kind, [(key, data)], now)[0]

    def steps(
        self, kind: StepKind, calls: Sequence[tuple[str, Callable[[], JSON]]], now: float
    ) -> list[tuple[DurableStep, bool]]:
        """``step`` for consecutive calls of one kind (the children of one spawn batch),
        the new ones recorded in one store call."""
        reserved = [(self.reserve(kind, key), key, data) for key, data in calls]
        new = [
            DurableStep(position, kind, key, data(), now)
            for (position, logged), key, data in reserved
            if logged is None
        ]
        stored = iter(self._record(new))
        return [
            (logged, True) if logged is not None else next(stored) for (_, logged), _, _ in reserved
        ]

    def reserve(self, kind: StepKind, key: str) -> tuple[int, DurableStep | None]:
        """Take the next position for a call (checked against the log) and return it with
        its logged step, if any; a call that must do work before its step is written (a
        memo) holds its position meanwhile, so concurrent calls keep theirs."""
        position = self.peek(kind, key)
        self.position += 1
        logged = self._logs().get(position)
        if logged is not None:
            self.replayed += 1
        return position, logged

    def record(
        self, position: int, kind: StepKind, key: str, data: JSON, now: float
    ) -> tuple[DurableStep, bool]:
        """Write a reserved position's step; (the logged step, whether another attempt of
        this task run logged it first)."""
        return self._record([DurableStep(position, kind, key, data, now)])[0]

    def _record(self, steps: list[DurableStep]) -> list[tuple[DurableStep, bool]]:
        if not steps:
            return []
        stored = self._store.record_steps(self._attempt.task_run.id, steps)
        results = []
        for step, logged in zip(steps, stored, strict=True):
            self._logs()[step.position] = logged
            if logged != step:  # another attempt of this task run logged it first
                self._check(logged, step.kind, step.key)
            results.append((logged, logged != step))
        return results

    def peek(self, kind: StepKind, key: str, offset: int = 0) -> int:
        """Check the call at the next position (plus ``offset``) against the log without
        taking the position; return the position."""
        position = self.position + offset
        logged = self._logs().get(position)
        if logged is not None:
            self._check(logged, kind, key)
        return position

    def _logs(self) -> dict[int, DurableStep]:
        if self._logged is None:
            task_run_id = self._attempt.task_run.id
            self._logged = {s.position: s for s in self._store.durable_steps(task_run_id)}
        return self._logged

    def _check(self, logged: DurableStep, kind: StepKind, key: str) -> None:
        if logged.kind is kind and logged.key == key:
            return
        attempt = self._attempt
        task_run = attempt.task_run
        where = f"{task_run.workflow_run.workflow_name}/{task_run.name}"
        attempted = f"{kind.value} {key}"
        message = (
            f"non-determinism in durable task {where} (task run {task_run.id}, attempt "
            f"{attempt.retry_count + 1}): at position {logged.position} of its event log the "
            f"replay made the call '{attempted}', but the log holds '{logged.describe()}' "
            "from an earlier attempt. A durable task must make the same durable calls "
            "(sleeps, spawns, memos, waits) in the same order on every run: move anything "
            "that varies between runs (time, randomness, attempt numbers) into a memo or a "
            f"child task. See {DOCS}."
        )
        raise NonDeterminismError(
            task_run.id, attempt.retry_count + 1, message, logged.position,
            logged.describe(), attempted,
        )  # fmt: skip
