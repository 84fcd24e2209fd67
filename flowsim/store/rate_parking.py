"""The in-memory store's rate limit keys, and the queued task runs waiting on them.

A task run whose units are not available when it reaches the head of its queue is
*parked*: taken out of the claimable heap (so claims do not trip over it again and
``has_ready`` stays honest) until the instant its short key refills, or, when no refill can
admit it (a key never put, units above the limit), until a key is put or created by a
dynamic upsert. It stays QUEUED throughout and its schedule deadline keeps running, as in
Hatchet's rate-limited queue. When it is released it goes back at its old place in the
claim order.

The decision itself is ``flowsim.rate_limits.admit``, which every store calls.
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Callable

from flowsim.errors import InvalidInputError
from flowsim.rate_limits import UNTIL_CHANGED, Bucket, admit, demands, put
from flowsim.rules import RunStatus
from flowsim.store.records import TaskRun


class RateLimitParking:
    def __init__(self, requeue: Callable[[TaskRun], bool]) -> None:
        #: key -> state; what ``put`` and dynamic upserts write
        self.buckets: dict[str, Bucket] = {}
        self._requeue = requeue
        self._timed: list[tuple[float, int, TaskRun, int]] = []
        self._until_changed: list[tuple[TaskRun, int]] = []
        self._order = itertools.count()
        self._changed_in_claim = False

    def admit(self, task_run: TaskRun, now: float) -> bool:
        """Take the task run's units (True), or park it (False). A run whose keys cannot
        be evaluated (its definition changed under a stored run) waits for a change."""
        run = task_run.workflow_run
        try:
            wanted = demands(task_run.spec.rate_limits, run.input, run.additional_metadata)
        except InvalidInputError:
            self._until_changed.append((task_run, task_run.sequence))
            return False
        admission = admit(wanted, self.buckets, now)
        self.buckets.update(admission.buckets)
        self._changed_in_claim = self._changed_in_claim or admission.changed
        if not admission.admitted:
            self._park(task_run, admission.retry_at)
        return admission.admitted

    def end_claim(self) -> int:
        """After a claim: if a dynamic upsert created or changed a key during it, the runs
        waiting for a change go back to their queues now (as the SQL stores release them
        when the claim commits); how many did. The caller dispatches again."""
        if not self._changed_in_claim:
            return 0
        self._changed_in_claim = False
        return self._release_until_changed()

    def _park(self, task_run: TaskRun, until: float) -> None:
        if until == UNTIL_CHANGED:
            self._until_changed.append((task_run, task_run.sequence))
        else:
            heapq.heappush(self._timed, (until, next(self._order), task_run, task_run.sequence))

    def put(self, key: str, limit: int, window: float, now: float) -> int:
        """Create or change a key; returns how many parked task runs went back to their
        queues (those that waited for a change)."""
        self.buckets[key] = put(self.buckets.get(key), limit, window, now)
        return self._release_until_changed()

    def _release_until_changed(self) -> int:
        waiting, self._until_changed = self._until_changed, []
        return sum(self._release(task_run, sequence) for task_run, sequence in waiting)

    def release_due(self, now: float) -> int:
        """Return the task runs whose wait ended by ``now`` to their queues."""
        released = 0
        while self._timed and self._timed[0][0] <= now:
            _, _, task_run, sequence = heapq.heappop(self._timed)
            released += self._release(task_run, sequence)
        return released

    def _release(self, task_run: TaskRun, sequence: int) -> bool:
        # a parked task run that was cancelled (or timed out) since has moved on
        return task_run.sequence == sequence and self._requeue(task_run)

    def next_due(self) -> float | None:
        """When the earliest timed wait of a task run still parked ends (waits of runs
        cancelled meanwhile are dropped)."""
        while self._timed and not _still_parked(self._timed[0][2], self._timed[0][3]):
            heapq.heappop(self._timed)
        return self._timed[0][0] if self._timed else None


def _still_parked(task_run: TaskRun, sequence: int) -> bool:
    return task_run.sequence == sequence and task_run.status is RunStatus.QUEUED
