"""The engine's side of conditions: events reaching waits, and durable waits.

A pushed event goes to the store, which satisfies the event conditions of held DAG tasks
and of durable waits, and acts on the waits that fire (queue, skip, cancel a task; record
a durable wait's result). A durable task's ``ctx.aio_wait_for`` opens a wait in the store
and awaits its result; sleeps are the store's time-driven changes, fired by the engine's
retry timer on the injected clock, so a test's manual clock (or the simulator's virtual
one) proves them without sleeping. A mixin of the engine: it shares the engine's lock,
store and loop; the durable engine overrides the store calls (``durable_conditions``).

A wait is a ``wait_for`` step of the durable event log (its id and registration time):
an attempt replaying the log (after a retry, a crash or an eviction) awaits the wait that
was opened then, and gets its result at once if it fired.
"""

from __future__ import annotations

import asyncio
import threading
import uuid
from typing import TYPE_CHECKING, Any

from flowsim.store.conditions import ConditionSpec
from flowsim.store.memory import MemoryStore
from flowsim.store.records import JSON
from flowsim.store.transitions import Transition

if TYPE_CHECKING:
    from flowsim.clock import Clock
    from flowsim.engine.runtime import AttemptState


def _settle(future: asyncio.Future[JSON], value: JSON) -> None:
    if not future.done():
        future.set_result(value)


class ConditionWaits:
    store: MemoryStore
    clock: Clock
    _lock: threading.RLock

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._signal_futures: dict[str, asyncio.Future[JSON]] = {}

    if TYPE_CHECKING:  # the engine's

        def _apply(self, transition: Transition) -> None: ...

    def push_condition_event(self, key: str, payload: JSON, additional_metadata: JSON) -> None:
        """An event was pushed: satisfy the conditions waiting for it."""
        with self._lock:
            transition = self.store.push_event(key, payload, additional_metadata,
                                               self.clock.now())  # fmt: skip
            self._apply(transition)

    def open_signal_wait(
        self,
        attempt: AttemptState,
        conditions: tuple[ConditionSpec, ...],
        wait_id: str | None = None,
        registered_at: float | None = None,
    ) -> str:
        """Register a durable wait of ``attempt``; its id, for ``await_signal``. A replayed
        wait (``wait_id`` from the event log) is the one registered then: the store opens
        a wait once per id."""
        wait_id = wait_id or f"{attempt.task_run.id}/{uuid.uuid4().hex}"
        now = self.clock.now() if registered_at is None else registered_at
        with self._lock:
            self._apply(self.store.open_wait(wait_id, attempt.task_run.id, conditions, now))
        return wait_id

    async def await_signal(self, wait_id: str) -> JSON:
        """The wait's result once its conditions fired."""
        loop = asyncio.get_running_loop()
        with self._lock:
            result = self.store.wait_result(wait_id)
            if result is not None:
                return result
            future: asyncio.Future[JSON] = loop.create_future()
            self._signal_futures[wait_id] = future
        try:
            return await future
        finally:
            self._signal_futures.pop(wait_id, None)

    def _signals_fired(self, wait_ids: list[str]) -> None:
        """Wake the durable tasks whose waits fired (from any thread)."""
        for wait_id in wait_ids:
            future = self._signal_futures.pop(wait_id, None)
            if future is None:
                continue
            result = self.store.wait_result(wait_id)
            future_loop = future.get_loop()
            if not future_loop.is_closed():
                future_loop.call_soon_threadsafe(_settle, future, result)
