"""The durable engine's side of conditions: the same calls as ``engine.conditions``, on a
``RunStore`` shared by worker processes.

An event is pushed into the store, whose transaction satisfies the waits of every process
sharing it; a durable wait is stored, and its task re-reads the wait's result whenever the
store reports a change (the ``ChangeFeed`` that waiters on runs use), so an event pushed
by another process wakes it. A wait's sleep is fired by a timer on the injected clock
that runs the store's ``expire`` (which fires due sleeps) and announces the change.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from flowsim.store import conditions as cond
from flowsim.store.records import JSON

if TYPE_CHECKING:
    from flowsim.clock import Clock, TimerHandle
    from flowsim.engine.changes import ChangeFeed
    from flowsim.engine.runtime import AttemptState
    from flowsim.store.protocol import RunStore


class DurableConditionWaits:
    run_store: RunStore
    clock: Clock
    changes: ChangeFeed
    closed: bool
    _lock: threading.RLock

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        #: the sleep timers of the durable waits this process awaits, cancelled with them
        self._signal_timers: dict[str, TimerHandle] = {}

    if TYPE_CHECKING:  # the engine's

        def post(self, callback: Callable[..., Any], *args: Any) -> None: ...

        def request_dispatch(self) -> None: ...

    def push_condition_event(self, key: str, payload: JSON, additional_metadata: JSON) -> None:
        with self._lock:
            outcome = self.run_store.push_event(key, payload, additional_metadata,
                                                self.clock.now())  # fmt: skip
        self.changes.bump()
        if outcome.queued:
            self.request_dispatch()

    def open_signal_wait(
        self,
        attempt: AttemptState,
        conditions: tuple[cond.ConditionSpec, ...],
        wait_id: str | None = None,
        registered_at: float | None = None,
    ) -> str:
        """Register a durable wait of ``attempt``; a replayed one (``wait_id`` and its
        registration time from the event log) is the wait registered then, its sleeps
        timed from then (the store opens a wait once per id)."""
        wait_id = wait_id or f"{attempt.task_run.id}/{uuid.uuid4().hex}"
        now = self.clock.now() if registered_at is None else registered_at
        with self._lock:
            self.run_store.open_wait(wait_id, attempt.task_run.id, conditions, now)
        due = cond.wake_at(conditions, now, cond.on_register(conditions, {}))
        if due is not None:
            handle = self.clock.call_at(due, lambda: self.post(self._fire_sleeps))
            self._signal_timers[wait_id] = handle
        return wait_id

    async def await_signal(self, wait_id: str) -> JSON:
        try:
            while True:
                seen = self.changes.generation
                result = self.run_store.wait_result(wait_id)
                if result is not None:
                    return result
                await self.changes.changed_since(seen)
        finally:
            handle = self._signal_timers.pop(wait_id, None)
            if handle is not None:
                handle.cancel()

    def _fire_sleeps(self) -> None:
        if self.closed:
            return
        with self._lock:
            outcome = self.run_store.expire(self.clock.now())
        self.changes.bump()
        if outcome.queued:
            self.request_dispatch()
