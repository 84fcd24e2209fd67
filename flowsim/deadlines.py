"""Many deadlines, few distinct timeouts: O(1) bookkeeping per run.

Every queued run has a schedule deadline and every attempt an execution deadline, but a
workflow has only a handful of distinct timeout lengths. Within one timeout length,
deadlines are created in time order (the clock never goes back), so a deque per length is
already sorted: pushing is an append, expiry pops from the left. Entries whose run moved on
are dropped lazily when they reach the front. That replaces a timer (or heap entry) per run,
which dominated the cost of a large fan-out.
"""

from __future__ import annotations

import bisect
from collections import deque
from collections.abc import Callable
from typing import Generic, TypeVar

T = TypeVar("T")
IsLive = Callable[[T, int], bool]


class DeadlineQueue(Generic[T]):
    def __init__(self, is_live: IsLive[T]) -> None:
        self._is_live = is_live
        self._buckets: dict[float, deque[tuple[float, T, int]]] = {}

    def push(self, timeout: float, now: float, item: T, token: int) -> float:
        bucket = self._buckets.get(timeout)
        if bucket is None:
            bucket = self._buckets[timeout] = deque()
        deadline = now + timeout
        if bucket and deadline < bucket[-1][0]:
            # a late-released retry dates its deadline from its ready time, earlier than
            # the newest entries: keep the bucket sorted (rare, so O(n) is fine)
            index = bisect.bisect_right(bucket, deadline, key=lambda entry: entry[0])
            bucket.insert(index, (deadline, item, token))
        else:
            bucket.append((deadline, item, token))
        return deadline

    def next_due(self) -> float | None:
        """The earliest live deadline (dropping dead entries at the fronts)."""
        due: float | None = None
        for bucket in self._buckets.values():
            while bucket and not self._is_live(bucket[0][1], bucket[0][2]):
                bucket.popleft()
            if bucket and (due is None or bucket[0][0] < due):
                due = bucket[0][0]
        return due

    def pop_expired(self, now: float) -> list[T]:
        """Live items whose deadline is at or before ``now``, oldest deadline first."""
        expired: list[tuple[float, T]] = []
        for bucket in self._buckets.values():
            while bucket and bucket[0][0] <= now:
                deadline, item, token = bucket.popleft()
                if self._is_live(item, token):
                    expired.append((deadline, item))
        expired.sort(key=lambda entry: entry[0])
        return [item for _, item in expired]
