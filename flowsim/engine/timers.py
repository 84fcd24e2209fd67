"""One clock timer for the earliest of many deadlines.

Schedule timeouts, execution timeouts and retry backoffs each come in thousands; the engine
keeps each set in its own structure and arms a single timer at the earliest due time. When
it fires, the handler takes what is due and re-arms for the next.
"""

from __future__ import annotations

from collections.abc import Callable

from flowsim.clock import Clock, TimerHandle


class EarliestTimer:
    def __init__(self, clock: Clock, fire: Callable[[], None]) -> None:
        self._clock = clock
        self._fire = fire
        self._handle: TimerHandle | None = None
        self._at: float | None = None

    def arm(self, due: float | None) -> None:
        """Make sure the timer fires no later than ``due`` (None: nothing is due)."""
        if due is None or (self._at is not None and self._at <= due):
            return
        self.cancel()
        self._at = due
        self._handle = self._clock.call_at(due, self._fire)

    def fired(self) -> None:
        """Called by the handler (under the engine lock) before it re-arms."""
        self._handle = None
        self._at = None

    def cancel(self) -> None:
        if self._handle is not None:
            self._handle.cancel()
        self.fired()
