"""Evicting waiting durable tasks from their slots, as hatchet_sdk's eviction manager does.

A durable attempt that waits (a durable sleep, a child's result) is marked waiting here,
ref-counted over concurrent waits. It becomes an eviction candidate by its task's
``EvictionRule`` (hatchet_sdk's ``EvictionPolicy``; ``None`` means never evicted):

- **TTL**: it has waited, uninterrupted, at least ``ttl`` seconds;
- **capacity**: every durable slot of its worker is held by a waiting evictable run
  (hatchet_sdk: ``waiting >= durable_slots - reserve_slots``, reserve 0) and it has waited
  at least ``CAPACITY_MIN_WAIT`` seconds (hatchet_sdk's ``min_wait_for_capacity_eviction``).

Candidates go lowest ``priority`` first, then longest waiting, as hatchet_sdk sorts them.
hatchet_sdk looks every second; flowsim arms a timer at the instant a wait becomes
eligible (and looks again whenever a wait begins), so in virtual time an eviction happens
exactly at its TTL. Evicting ends the attempt (its slot frees at once, its coroutine is
cancelled) and the store queues the task run as a restore: claimable when the sleep's wake
time comes, or when the runs it awaited have all ended (``flowsim.store.durable_log``).
The restored attempt replays the event log (``flowsim.engine.replay``).
"""

from __future__ import annotations

import contextlib
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from flowsim.clock import TimerHandle
from flowsim.rules import SlotPool
from flowsim.store.durable_log import eviction_reason

if TYPE_CHECKING:
    from flowsim.engine.runtime import AttemptState, WorkerRuntime

#: hatchet_sdk's DurableEvictionConfig.min_wait_for_capacity_eviction (10 s)
CAPACITY_MIN_WAIT = 10.0


@dataclass(frozen=True, slots=True)
class EvictionRule:
    """A durable task's eviction policy in engine terms (seconds, no SDK types)."""

    ttl: float | None
    allow_capacity_eviction: bool = True
    priority: int = 0

    @property
    def frees_slot(self) -> bool:
        """Whether a wait can ever end in an eviction (the deadlock analysis asks)."""
        return self.ttl is not None or self.allow_capacity_eviction


@dataclass(eq=False)
class DurableWait:
    """What one durable attempt waits on right now."""

    attempt: AttemptState
    #: None: never evicted by TTL or capacity (still evicted when its worker shuts down)
    rule: EvictionRule | None
    since: float
    count: int = 0
    kind: str = ""
    resource: str = ""
    #: wake times of the sleeps in progress, and the runs awaited (with multiplicity)
    wakes: Counter[float] = field(default_factory=Counter)
    runs: Counter[str] = field(default_factory=Counter)
    timers: list[TimerHandle] = field(default_factory=list)

    def restore_when(self) -> tuple[float | None, tuple[str, ...]]:
        """(resume time, awaited runs) for the store: runs if any are awaited (a restore
        before they end would only wait again), else the earliest wake time."""
        runs = tuple(sorted(self.runs))
        if runs or not self.wakes:
            return None, runs
        return min(self.wakes), ()


class Evictions:
    """The engine's waiting durable attempts and the eviction decisions about them.

    ``now``, ``call_at`` and ``post`` are the engine's clock and loop; ``evict`` ends an
    attempt and records the eviction in the store (the engine's ``evict_attempt``)."""

    def __init__(
        self,
        now: Callable[[], float],
        call_at: Callable[[float, Callable[[], None]], TimerHandle],
        post: Callable[[Callable[[], None]], None],
        evict: Callable[[AttemptState, float | None, tuple[str, ...], str], None],
    ) -> None:
        self._now = now
        self._call_at = call_at
        self._post = post
        self._evict = evict
        self._waits: dict[str, DurableWait] = {}

    @contextlib.contextmanager
    def waiting(
        self,
        attempt: AttemptState | None,
        kind: str,
        resource: str,
        *,
        wake_at: float | None = None,
        runs: Iterable[str] = (),
    ) -> Iterator[None]:
        """Mark a durable ``attempt`` waiting for the ``with`` body (a no-op for any other)."""
        if attempt is None or not attempt.task_run.spec.durable or attempt.finished:
            yield
            return
        awaited = list(runs)
        wait = self._begin(attempt, attempt.runnable.eviction, kind, resource, wake_at, awaited)
        try:
            yield
        finally:
            self._end(wait, wake_at, awaited)

    def _begin(
        self,
        attempt: AttemptState,
        rule: EvictionRule | None,
        kind: str,
        resource: str,
        wake_at: float | None,
        runs: list[str],
    ) -> DurableWait:
        key = attempt.task_run.id
        wait = self._waits.get(key)
        if wait is None or wait.attempt is not attempt:
            wait = DurableWait(attempt, rule, self._now())
            self._waits[key] = wait
            self._arm(wait)
        wait.count += 1
        wait.kind, wait.resource = kind, resource
        if wake_at is not None:
            wait.wakes[wake_at] += 1
        wait.runs.update(runs)
        if rule is not None:
            self._post(lambda: self.consider(attempt.worker))
        return wait

    def _arm(self, wait: DurableWait) -> None:
        worker, rule = wait.attempt.worker, wait.rule
        if rule is None:
            return
        instants = []
        if rule.ttl is not None:
            instants.append(wait.since + rule.ttl)
        if rule.allow_capacity_eviction:
            instants.append(wait.since + CAPACITY_MIN_WAIT)
        for instant in instants:
            wait.timers.append(self._call_at(instant, self._looker(worker)))

    def _looker(self, worker: WorkerRuntime) -> Callable[[], None]:
        """A timer callback (any thread) that looks at ``worker`` on the engine loop."""
        return lambda: self._post(lambda: self.consider(worker))

    def _end(self, wait: DurableWait, wake_at: float | None, runs: list[str]) -> None:
        wait.count -= 1
        if wake_at is not None:
            wait.wakes.subtract([wake_at])
            wait.wakes += Counter()  # drop zero counts
        wait.runs.subtract(runs)
        wait.runs += Counter()
        if wait.count > 0:
            return
        for timer in wait.timers:
            timer.cancel()
        if self._waits.get(wait.attempt.task_run.id) is wait:
            del self._waits[wait.attempt.task_run.id]

    def consider(self, worker: WorkerRuntime) -> None:
        """Evict what is due on ``worker`` now: every TTL-eligible waiting attempt, then
        capacity evictions while every durable slot is held by a waiting run."""
        now = self._now()
        while True:
            waiting = [w for w in self._waiting_on(worker) if w.rule is not None]
            due = [w for w in waiting if _ttl_due(w, now)]
            cause = "ttl"
            if not due:
                due, cause = self._capacity_candidates(worker, waiting, now), "capacity"
            if not due:
                return
            chosen = min(due, key=lambda w: (w.rule.priority if w.rule else 0, w.since))
            self._evict_one(chosen, cause)

    def evict_all(self, worker: WorkerRuntime) -> None:
        """The worker shuts down: evict every durable attempt of it that waits, whatever
        its policy (hatchet_sdk's ``evict_all_waiting`` on a graceful shutdown), so the
        drain does not wait out sleeps and children; they are restored elsewhere."""
        for wait in sorted(self._waiting_on(worker), key=lambda w: w.since):
            self._evict_one(wait, "shutdown")

    def _waiting_on(self, worker: WorkerRuntime) -> list[DurableWait]:
        return [
            w for w in self._waits.values()
            if w.attempt.worker is worker and w.count > 0 and not w.attempt.finished
        ]  # fmt: skip

    def _evict_one(self, wait: DurableWait, cause: str) -> None:
        ttl = wait.rule.ttl if cause == "ttl" and wait.rule is not None else None
        resume_at, runs = wait.restore_when()
        reason = eviction_reason(wait.kind, wait.resource, ttl, cause)
        self._end_all(wait)
        self._evict(wait.attempt, resume_at, runs, reason)

    def _capacity_candidates(
        self, worker: WorkerRuntime, waiting: list[DurableWait], now: float
    ) -> list[DurableWait]:
        slots = worker.capacity.get(SlotPool.DURABLE, 0)
        if slots <= 0 or len(waiting) < slots:
            return []
        return [
            w for w in waiting
            if w.rule is not None and w.rule.allow_capacity_eviction
            and now >= w.since + CAPACITY_MIN_WAIT
        ]  # fmt: skip

    def _end_all(self, wait: DurableWait) -> None:
        for timer in wait.timers:
            timer.cancel()
        self._waits.pop(wait.attempt.task_run.id, None)
        wait.count = 0

    def close(self) -> None:
        for wait in self._waits.values():
            for timer in wait.timers:
                timer.cancel()
        self._waits.clear()


def _ttl_due(wait: DurableWait, now: float) -> bool:
    rule = wait.rule
    return rule is not None and rule.ttl is not None and now >= wait.since + rule.ttl
