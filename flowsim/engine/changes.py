"""Hearing about changes made by other processes.

On a durable backend a run's children may finish in another worker process, so a waiter
cannot rely on this process's transitions alone. One thread per engine blocks in the
store's ``wait_for_change`` (LISTEN/NOTIFY on Postgres; ``PRAGMA data_version`` on SQLite)
and bumps a generation counter whenever it returns; waiters re-read the store when the
generation moves. It returns at least every ``idle_seconds`` even when nothing happens, so
waiters also re-check (and expire leases, detect deadlocks) on a quiet system.
``Generation`` is that counter alone: the in-memory engine's stream subscribers wait on
one (``flowsim.engine.streams``).
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable


class Generation:
    """A counter that tells async and blocked waiters it moved. Bumped by whoever changed
    something; a waiter notes the generation, looks, and waits for it to move before
    looking again, so nothing bumped between its look and its wait is missed."""

    def __init__(self) -> None:
        self._generation = 0
        self._condition = threading.Condition()
        self._futures: list[tuple[asyncio.AbstractEventLoop, asyncio.Future[None]]] = []
        self._stopped = False

    @property
    def generation(self) -> int:
        return self._generation

    def bump(self) -> None:
        """Something changed (here or elsewhere): wake every waiter."""
        with self._condition:
            self._generation += 1
            self._condition.notify_all()
        self._wake_async_waiters()

    def _wake_async_waiters(self) -> None:
        with self._condition:
            futures, self._futures = self._futures, []
        for loop, future in futures:
            if not loop.is_closed():
                loop.call_soon_threadsafe(_resolve, future)

    def _start(self) -> None:
        """Called before every wait (``ChangeFeed`` starts its thread there)."""

    async def changed_since(self, seen: int) -> None:
        """Return once the generation differs from ``seen`` (or the counter stopped)."""
        self._start()
        loop = asyncio.get_running_loop()
        with self._condition:
            if self._generation != seen or self._stopped:
                return
            future: asyncio.Future[None] = loop.create_future()
            self._futures.append((loop, future))
        await future

    def stop(self) -> None:
        """Release every waiter, now and later."""
        with self._condition:
            self._stopped = True
            self._condition.notify_all()
        self._wake_async_waiters()


class ChangeFeed(Generation):
    """The generation of a durable store, bumped by a thread waiting in its
    ``wait_for_change``. ``stop`` releases every waiter (a pending async one would keep
    its engine alive) while the thread may still be inside ``wait_for_change``: closing
    the store ends that wait, so the engine closes it before calling ``join``."""

    def __init__(self, wait_for_change: Callable[[float], None], idle_seconds: float = 0.25):
        super().__init__()
        self._wait_for_change = wait_for_change
        self._idle = idle_seconds
        self._thread: threading.Thread | None = None

    def changed_since_blocking(self, seen: int) -> None:
        self._start()
        with self._condition:
            self._condition.wait_for(lambda: self._generation != seen or self._stopped)

    def _start(self) -> None:
        with self._condition:
            if self._thread is not None or self._stopped:
                return
            self._thread = threading.Thread(
                target=self._listen, name="flowsim-changes", daemon=True
            )
            self._thread.start()

    def _listen(self) -> None:
        while not self._stopped:
            try:
                self._wait_for_change(self._idle)
            except Exception:  # the database is away: waiters re-read and report it
                time.sleep(self._idle)
            self.bump()

    def join(self) -> None:
        thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=5)


def _resolve(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)
