"""The placement step of one claim, shared by every store and the in-memory engine.

A store reads queued task runs in ``rules.claim_key`` order as it always does; this filter
says which of them the claiming worker may take now (``admit``) and pins a sticky run to
the worker that takes its first task (``take``). What it needs from the store is asked
through three small callables, so each store answers in its own terms (dicts, SQLite,
Postgres) and the decisions are ``flowsim.placement``'s everywhere. A task run of a
workflow with no labels and no sticky strategy costs one attribute check.
"""

from __future__ import annotations

import heapq
import threading
from collections.abc import Callable, Mapping, Sequence

from flowsim.placement import (
    PREFERENCE_PATIENCE,
    LabelValue,
    Peer,
    Placement,
    Sticky,
    defer_to,
    score,
)
from flowsim.rules import SlotPool
from flowsim.store.records import TaskSpec, WorkflowSpec

#: (workflow, pool) -> the other live accepting workers registering it, with free slots
PeersOf = Callable[[str, SlotPool], Sequence[Peer]]
#: run id -> the worker it is pinned to, if any
PinnedOf = Callable[[str], str | None]
#: (run id, worker id) -> pin the run to the worker unless pinned already; the pin in force
Pin = Callable[[str, str], str]
#: How many task runs one claim may pass over for placement before it stops looking: a
#: queue whose head is full of runs meant for other workers must not cost O(queue).
MAX_SKIPPED = 256


def constrained(spec: WorkflowSpec, task: TaskSpec) -> bool:
    return spec.sticky is not None or bool(task.desired_labels)


class ClaimFilter:
    """Placement decisions for one claim by one worker."""

    def __init__(
        self,
        worker_id: str,
        labels: Mapping[str, LabelValue] | Callable[[], Mapping[str, LabelValue]],
        now: float,
        peers: PeersOf,
        pinned: PinnedOf,
        pin: Pin,
    ) -> None:
        self.worker_id = worker_id
        #: the claimer's labels, or how to read them (a SQL store reads them only when a
        #: task run of a constrained workflow comes up)
        self._labels = labels
        self.now = now
        self._peers = peers
        self._pinned = pinned
        self._pin = pin
        self._pins: dict[str, str] = {}
        self._peer_cache: dict[tuple[str, SlotPool], list[Peer]] = {}
        #: how many task runs were passed over (callers stop at ``MAX_SKIPPED``)
        self.skipped = 0
        #: the earliest instant a task run deferred to a peer stops waiting for it: the
        #: claimer's engine looks again then (``next_wakeup``)
        self.deferred_until: float | None = None

    def placement(self, spec: WorkflowSpec, task: TaskSpec, run_id: str) -> Placement:
        pinned = None
        if spec.sticky is not None:
            pinned = self._pins.get(run_id) or self._pinned(run_id)
        return Placement(task.desired_labels, spec.sticky, pinned)

    @property
    def labels(self) -> Mapping[str, LabelValue]:
        if callable(self._labels):
            self._labels = self._labels()
        return self._labels

    def admit(self, spec: WorkflowSpec, task: TaskSpec, run_id: str, queued_at: float) -> bool:
        """Whether this worker may take the task run now (before the slot check)."""
        if spec.sticky is None and not task.desired_labels:
            return True
        placement = self.placement(spec, task, run_id)
        if score(placement, self.worker_id, self.labels) is None:
            self.skipped += 1
            return False
        patience_ends = queued_at + PREFERENCE_PATIENCE
        if placement.has_preferences and self.now < patience_ends:
            peers = self._peer_list(spec.name, task.pool)
            better = defer_to(placement, self.worker_id, self.labels, peers, task.slot_cost)
            if better is not None:
                self._reserve(peers, better, task.slot_cost)
                self.skipped += 1
                if self.deferred_until is None or patience_ends < self.deferred_until:
                    self.deferred_until = patience_ends
                return False
        return True

    def take(self, spec: WorkflowSpec, run_id: str) -> bool:
        """The worker takes a task run it was admitted to: a sticky run not pinned yet is
        pinned to it. False if another claimer pinned the run first and the strategy is
        HARD (the store must then leave the task run queued)."""
        if spec.sticky is None:
            return True
        holder = self._pins.get(run_id)
        if holder is None:
            holder = self._pin(run_id, self.worker_id)
            self._pins[run_id] = holder
        return holder == self.worker_id or spec.sticky is Sticky.SOFT

    @property
    def exhausted(self) -> bool:
        return self.skipped >= MAX_SKIPPED

    def _peer_list(self, workflow: str, pool: SlotPool) -> list[Peer]:
        key = (workflow, pool)
        cached = self._peer_cache.get(key)
        if cached is None:
            cached = [p for p in self._peers(workflow, pool) if p.worker_id != self.worker_id]
            self._peer_cache[key] = cached
        return cached

    @staticmethod
    def _reserve(peers: list[Peer], worker_id: str, slot_cost: int) -> None:
        """A task run left to a peer counts against its free slots for the rest of this
        claim, so one free slot elsewhere does not hold back a whole queue."""
        for index, peer in enumerate(peers):
            if peer.worker_id == worker_id:
                peers[index] = Peer(peer.worker_id, peer.labels, peer.free - slot_cost)
                return


class Deferrals:
    """When the task runs this process's claims left to peers become anyone's: a store
    adds each claim's ``deferred_until`` and reports the next one from ``next_wakeup``,
    so the claimer's engine looks again then even if nothing else happens. Per process
    (a hint, like ``next_wakeup`` itself), and thread-safe: claims and wake-ups may come
    from different threads."""

    def __init__(self) -> None:
        self._due: list[float] = []
        self._lock = threading.Lock()

    def add(self, due: float | None) -> None:
        if due is None:
            return
        with self._lock:
            heapq.heappush(self._due, due)

    def next_after(self, now: float) -> float | None:
        with self._lock:
            while self._due and self._due[0] <= now:
                heapq.heappop(self._due)
            return self._due[0] if self._due else None


__all__ = ["MAX_SKIPPED", "ClaimFilter", "Deferrals", "constrained"]
