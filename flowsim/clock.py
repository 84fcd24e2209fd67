"""Time, injected.

The engine never reads the wall clock or sleeps directly: it asks a ``Clock`` for ``now()``
and for timers. Tests use ``ManualClock`` so retries, backoff and timeouts are checked by
advancing time, not by sleeping; the simulator supplies a virtual clock of its own.
"""

from __future__ import annotations

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


class SystemClock:
    """Wall-clock time. Timers run on the engine loop when one is attached, which is the
    normal case (the engine attaches itself); a thread timer is only the fallback."""

    def __init__(self) -> None:
        self._scheduler: Callable[[float, Callable[[], None]], TimerHandle] | None = None

    def attach(self, scheduler: Callable[[float, Callable[[], None]], TimerHandle] | None) -> None:
        """Let the engine route timers through its event loop (cheap, no threads)."""
        self._scheduler = scheduler

    def now(self) -> float:
        return time.time()

    def call_at(self, when: float, callback: Callable[[], None]) -> TimerHandle:
        delay = max(0.0, when - self.now())
        if self._scheduler is not None:
            return self._scheduler(delay, callback)
        timer = threading.Timer(delay, callback)
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
