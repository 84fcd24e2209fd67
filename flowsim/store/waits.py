"""The in-memory book of open condition waits: held DAG tasks and durable waits.

Each wait is a list of conditions registered at an instant; a pushed event and the
passing of time satisfy them (``flowsim.store.conditions`` decides how), and a wait whose
action fires leaves the book and is handed back to the store, which acts on it (queue,
skip or cancel the task; record a durable wait's result). Looked up by event key and by
the next sleep to elapse, so neither an event nor a timer scans every wait.
"""

from __future__ import annotations

import heapq
import itertools
from dataclasses import dataclass

from flowsim.store import conditions as cond


@dataclass(slots=True)
class Wait:
    id: str
    conditions: tuple[cond.ConditionSpec, ...]
    registered_at: float
    satisfied: cond.Satisfied


Fired = list[tuple[Wait, cond.Action]]


class WaitBook:
    def __init__(self) -> None:
        self._waits: dict[str, Wait] = {}
        self._by_event: dict[str, dict[str, None]] = {}
        self._sleeps: list[tuple[float, int, str]] = []
        self._order = itertools.count()

    def __contains__(self, wait_id: str) -> bool:
        return wait_id in self._waits

    def add(self, wait: Wait) -> None:
        """Open a wait that did not fire on registration."""
        self._waits[wait.id] = wait
        for key in cond.event_keys(wait.conditions):
            self._by_event.setdefault(key, {})[wait.id] = None
        due = cond.wake_at(wait.conditions, wait.registered_at, wait.satisfied)
        if due is not None:
            heapq.heappush(self._sleeps, (due, next(self._order), wait.id))

    def discard(self, wait_id: str) -> None:
        wait = self._waits.pop(wait_id, None)
        if wait is None:
            return
        for key in cond.event_keys(wait.conditions):
            listeners = self._by_event.get(key)
            if listeners is not None:
                listeners.pop(wait_id, None)
                if not listeners:
                    del self._by_event[key]

    def on_event(self, key: str, payload: object, additional_metadata: object, now: float) -> Fired:
        """Satisfy the waits' conditions on this event (and their sleeps that elapsed by
        ``now``, not fired yet); the waits that fired, in the order they were opened."""
        fired: Fired = []
        for wait_id in list(self._by_event.get(key, ())):
            wait = self._waits[wait_id]
            hits = cond.on_event(wait.conditions, wait.satisfied, key, payload,
                                 additional_metadata)  # fmt: skip
            if not hits:
                continue
            for index in hits:
                wait.satisfied[index] = payload
            for index in cond.on_time(wait.conditions, wait.registered_at, wait.satisfied, now):
                wait.satisfied[index] = {}
            self._settle(wait, fired)
        return fired

    def on_time(self, now: float) -> Fired:
        """Satisfy the sleeps that elapsed by ``now``; the waits that fired."""
        fired: Fired = []
        while self._sleeps and self._sleeps[0][0] <= now:
            _, _, wait_id = heapq.heappop(self._sleeps)
            wait = self._waits.get(wait_id)
            if wait is None:
                continue
            for index in cond.on_time(wait.conditions, wait.registered_at, wait.satisfied, now):
                wait.satisfied[index] = {}
            if not self._settle(wait, fired):
                due = cond.wake_at(wait.conditions, wait.registered_at, wait.satisfied)
                if due is not None:
                    heapq.heappush(self._sleeps, (due, next(self._order), wait.id))
        return fired

    def next_due(self) -> float | None:
        """When the earliest open sleep elapses (dropping entries of closed waits)."""
        while self._sleeps and self._sleeps[0][2] not in self._waits:
            heapq.heappop(self._sleeps)
        return self._sleeps[0][0] if self._sleeps else None

    def _settle(self, wait: Wait, fired: Fired) -> bool:
        action = cond.decide(wait.conditions, wait.satisfied)
        if action is None:
            return False
        self.discard(wait.id)
        fired.append((wait, action))
        return True
