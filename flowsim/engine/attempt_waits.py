"""What each local attempt waits on, as the store's snapshot must show it.

A slot holder's waits are what the deadlock analysis follows, in this process and in
others reading the same store. A parent that gathers N ``aio_run`` calls waits on N runs
through N separate waits; each must add to the holder's list, not replace it (replaced,
the seed's parent showed one of its two children). Writing the whole list at every
change is quadratic in N, so changes are kept here and written in one batch before the
next snapshot; a list that empties is written at once, so no finished wait lingers.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterable

from flowsim.store.protocol import RunStore


def release(counts: Counter[str], run_ids: Iterable[str]) -> None:
    """One wait fewer on each of ``run_ids``, dropping those no wait is on any more. Only
    the released entries are touched: a parent's 10,000 children ending its wait cost a
    scan of everything awaited otherwise (``Counter.subtract`` and a sweep for zeros),
    on the parent's loop at the end of its fan-out."""
    for run_id in run_ids:
        left = counts.get(run_id, 0) - 1
        if left > 0:
            counts[run_id] = left
        else:
            counts.pop(run_id, None)


class AttemptWaits:
    def __init__(self, store: RunStore) -> None:
        self._store = store
        self._lock = threading.Lock()
        self._waits: dict[str, Counter[str]] = {}
        self._dirty: set[str] = set()

    def add(self, task_run_id: str, run_ids: Iterable[str]) -> None:
        with self._lock:
            self._waits.setdefault(task_run_id, Counter()).update(run_ids)
            self._dirty.add(task_run_id)

    def remove(self, task_run_id: str, run_ids: Iterable[str]) -> None:
        with self._lock:
            waits = self._waits.get(task_run_id)
            if waits is None:
                return
            release(waits, run_ids)
            if waits:
                self._dirty.add(task_run_id)
                return
            del self._waits[task_run_id]
            self._dirty.discard(task_run_id)
            self._store.set_waiting(task_run_id, [])

    def flush(self) -> None:
        """Write every list changed since the last flush (before a snapshot is taken)."""
        with self._lock:
            for task_run_id in sorted(self._dirty):
                self._store.set_waiting(task_run_id, list(self._waits[task_run_id]))
            self._dirty.clear()
