"""Time, injected.

The engine never reads the wall clock or sleeps directly: it asks a ``Clock`` for ``now()``
and for timers. Tests use ``ManualClock`` so retries, backoff and timeouts are checked by
advancing time, not by sleeping; the simulator supplies a virtual clock of its own.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import itertools
import threading
import time
from collections.abc import Callable
from typing import Protocol


class TimerHandle(Protocol):
    def cancel(self) -> None: ...


class Clock(Protocol):
    """What the engine needs from time: a reading and one-shot timers.

    Timer callbacks may fire on any thread; the engine marshals them to its own loop.
    """

    def now(self) -> float: ...

    def call_at(self, when: float, callback: Callable[[], None]) -> TimerHandle: ...


class _ThreadTimer:
    def __init__(self, timer: threading.Timer) -> None:
        self._timer = timer

    def cancel(self) -> None:
        self._timer.cancel()


class _LoopTimer:
    """A timer set on an event loop from another thread. asyncio's ``call_later`` may be
    called only on the loop's own thread (debug mode raises; otherwise a timer set from
    elsewhere may wait for the loop's next wake-up), so the timer is armed on the loop
    with ``call_soon_threadsafe``; a cancel before or after arming stops it either way."""

    def __init__(self, loop: asyncio.AbstractEventLoop, when: float, clock: SystemClock,
                 callback: Callable[[], None]) -> None:  # fmt: skip
        self._loop, self._when, self._clock, self._callback = loop, when, clock, callback
        self._handle: asyncio.TimerHandle | None = None
        self._cancelled = False
        loop.call_soon_threadsafe(self._arm)

    def _arm(self) -> None:
        if not self._cancelled:
            delay = max(0.0, self._when - self._clock.now())
            self._handle = self._loop.call_later(delay, self._fire)

    def _fire(self) -> None:
        if not self._cancelled:
            self._callback()

    def cancel(self) -> None:
        self._cancelled = True  # enough on any thread: _arm and _fire check it
        handle = self._handle
        if handle is not None:
            with contextlib.suppress(RuntimeError):  # the loop closed meanwhile
                self._loop.call_soon_threadsafe(handle.cancel)


class SystemClock:
    """Wall-clock time. Timers run on the engine loop when one is attached, which is the
    normal case (the engine attaches itself); a thread timer is only the fallback."""

    def __init__(self) -> None:
        self._loop: asyncio.AbstractEventLoop | None = None
        self._loop_thread: int | None = None

    def attach(self, loop: asyncio.AbstractEventLoop | None, thread: int | None = None) -> None:
        """Let the engine route timers through its event loop (cheap, no threads);
        ``thread`` is the loop's, where a timer is set directly."""
        self._loop, self._loop_thread = loop, thread

    def now(self) -> float:
        return time.time()

    def call_at(self, when: float, callback: Callable[[], None]) -> TimerHandle:
        loop = self._loop
        if loop is not None and not loop.is_closed():
            if threading.get_ident() == self._loop_thread:
                return loop.call_later(max(0.0, when - self.now()), callback)
            return _LoopTimer(loop, when, self, callback)
        timer = threading.Timer(max(0.0, when - self.now()), callback)
        timer.daemon = True
        timer.start()
        return _ThreadTimer(timer)


class _ManualTimer:
    __slots__ = ("callback", "cancelled", "when")

    def __init__(self, when: float, callback: Callable[[], None]) -> None:
        self.when = when
        self.callback = callback
        self.cancelled = False

    def cancel(self) -> None:
        self.cancelled = True


class ManualClock:
    """A clock that only moves when told to. ``advance`` fires due timers in time order
    (ties in creation order), so a test can step through backoff delays exactly."""

    def __init__(self, start: float = 0.0) -> None:
        self._now = start
        self._heap: list[tuple[float, int, _ManualTimer]] = []
        self._sequence = itertools.count()
        self._lock = threading.Lock()

    def now(self) -> float:
        return self._now

    def call_at(self, when: float, callback: Callable[[], None]) -> TimerHandle:
        timer = _ManualTimer(when, callback)
        with self._lock:
            heapq.heappush(self._heap, (when, next(self._sequence), timer))
        return timer

    def pending(self) -> list[float]:
        """Due times of timers not yet fired or cancelled, earliest first."""
        with self._lock:
            return sorted(when for when, _, timer in self._heap if not timer.cancelled)

    def advance(self, seconds: float) -> None:
        """Move time forward by ``seconds``, firing every timer that falls due on the way."""
        if seconds < 0:
            raise ValueError(f"a clock cannot go back in time (advance({seconds}))")
        target = self._now + seconds
        while True:
            with self._lock:
                if not self._heap or self._heap[0][0] > target:
                    break
                when, _, timer = heapq.heappop(self._heap)
            if timer.cancelled:
                continue
            self._now = max(self._now, when)
            timer.callback()
        self._now = target
