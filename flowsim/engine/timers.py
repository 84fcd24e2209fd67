"""One clock timer for the earliest of many deadlines.

Schedule timeouts, execution timeouts and retry backoffs each come in thousands; the engine
keeps each set in its own structure and arms a single timer at the earliest due time. When
it fires, the handler takes what is due and re-arms for the next.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from flowsim.clock import Clock, TimerHandle


class EarliestTimer:
    def __init__(self, clock: Clock, fire: Callable[[], None]) -> None:
        self._clock = clock
        self._fire = fire
        self._handle: TimerHandle | None = None
        self._at: float | None = None
        # arming from two threads at once must not drop a handle: a dropped one is never
        # cancelled, and keeps the engine (and every run it held) alive until it fires
        self._lock = threading.Lock()

    def arm(self, due: float | None) -> None:
        """Make sure the timer fires no later than ``due`` (None: nothing is due)."""
        with self._lock:
            if due is None or (self._at is not None and self._at <= due):
                return
            self._cancel()
            self._at = due
            self._handle = self._clock.call_at(due, self._fire)

    def fired(self) -> None:
        """Called by the handler (under the engine lock) before it re-arms."""
        with self._lock:
            self._handle = None
            self._at = None

    def cancel(self) -> None:
        with self._lock:
            self._cancel()

    def _cancel(self) -> None:
        if self._handle is not None:
            self._handle.cancel()
        self._handle = None
        self._at = None
