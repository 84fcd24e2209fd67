"""The in-memory store's durable tasks: their event logs, and eviction, which ends the
running attempt and parks its task run until a time or until the runs it awaited end
(``flowsim.store.durable_log``)."""

from __future__ import annotations

from collections.abc import Sequence

from flowsim.rules import RunStatus
from flowsim.store.durable_log import EVICTED, PARKED_UNTIL, DurableStep, check_parking
from flowsim.store.memory_core import StoreCore, still_queued
from flowsim.store.records import TaskRun
from flowsim.store.transitions import Transition


class DurablePart(StoreCore):
    def durable_steps(self, task_run_id: str) -> list[DurableStep]:
        return self.steps.durable_steps(task_run_id)

    def record_steps(self, task_run_id: str, steps: Sequence[DurableStep]) -> list[DurableStep]:
        return self.steps.record_steps(task_run_id, steps)

    def evict(
        self,
        task_run: TaskRun,
        resume_at: float | None,
        awaiting: tuple[str, ...],
        reason: str,
        now: float,
    ) -> Transition:
        """End the running attempt (outcome EVICTED, no retry consumed) and queue the task
        run again, claimable from ``resume_at`` or once every awaited run has ended
        (``flowsim.store.durable_log``)."""
        check_parking(resume_at, awaiting)
        attempt = task_run.attempts[-1]
        attempt.finished_at = now
        attempt.error = reason
        attempt.outcome = EVICTED
        task_run.status = RunStatus.QUEUED
        task_run.worker_id = None
        task_run.spawn_index = 0
        task_run.waiting_on.clear()
        task_run.sequence = next(self._sequence)
        task_run.enqueued_at = now
        if resume_at is None:
            task_run.ready_at = PARKED_UNTIL
            self._parked[task_run.id] = (task_run, task_run.sequence, awaiting)
            return self.release_parked(now)
        task_run.ready_at = max(resume_at, now)
        if task_run.ready_at <= now:
            self._enqueue(task_run, now)
            return Transition(queued=1)
        self._wait_until_ready(task_run)
        return Transition(retry_at=[task_run.ready_at])

    def release_parked(self, now: float) -> Transition:
        """Queue the evicted task runs whose awaited runs have all ended."""
        transition = Transition()
        for task_run_id, (task_run, sequence, awaiting) in list(self._parked.items()):
            if not still_queued(task_run, sequence):
                del self._parked[task_run_id]  # cancelled meanwhile
            elif all(self.runs[run_id].status.is_terminal for run_id in awaiting):
                del self._parked[task_run_id]
                task_run.ready_at = now
                self._enqueue(task_run, now)
                transition.queued += 1
        return transition

    @property
    def has_parked(self) -> bool:
        return bool(self._parked)
