"""What time alone changes in the in-memory store: retries leaving their backoff,
rate-limit keys refilling, condition sleeps ending, schedule timeouts. The engine asks
when the next of these is due and calls in then (virtual time in the simulator)."""

from __future__ import annotations

import heapq

from flowsim.store.failures import schedule_timeout_reason
from flowsim.store.memory_core import StoreCore, still_queued
from flowsim.store.transitions import Transition


class TimingPart(StoreCore):
    def release_due_retries(self, now: float) -> Transition:
        """Queue the retries whose backoff has elapsed, and the rate-limited task runs whose
        keys refilled."""
        transition = Transition(queued=self.rate_limits.release_due(now))
        while self._backoff and self._backoff[0][0] <= now:
            _, _, task_run, sequence = heapq.heappop(self._backoff)
            if still_queued(task_run, sequence):
                # its schedule clock starts when it became claimable, however late we look
                self._enqueue(task_run, task_run.ready_at)
                transition.queued += 1
        return transition

    def next_retry_due(self) -> float | None:
        """When the earliest pending backoff ends (dropping retries that moved on) or a
        condition's sleep elapses."""
        while self._backoff and not still_queued(self._backoff[0][2], self._backoff[0][3]):
            heapq.heappop(self._backoff)
        due = [self._backoff[0][0]] if self._backoff else []
        refill = self.rate_limits.next_due()
        if refill is not None:
            due.append(refill)
        sleep = self.waits.next_due()
        if sleep is not None:
            due.append(sleep)
        return min(due, default=None)

    def next_schedule_deadline(self) -> float | None:
        return self._deadlines.next_due()

    def expire_schedule_timeouts(self, now: float) -> Transition:
        """Cancel queued task runs that waited past their schedule timeout (Hatchet:
        SCHEDULING_TIMED_OUT, cancelled, not retried)."""
        transition = Transition()
        for task_run in self._deadlines.pop_expired(now):
            reason = schedule_timeout_reason(task_run.spec.schedule_timeout)
            transition.merge(self.cancel_task(task_run, reason, now))
        return self._settle(transition)
