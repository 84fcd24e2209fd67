"""Waiting for another process's write lock, with short sleeps.

SQLite lets one connection write at a time. Its built-in busy handler sleeps 1, 2, 5, 10,
... up to 100 ms between tries, so with two worker processes one of them regularly waited
hundreds of milliseconds (over a second at worst, here) for a lock held for tens of
microseconds, and the two got very unequal shares. Connections are therefore opened with
no busy timeout, and a transaction that finds the file busy is rolled back and tried again
after a sleep that starts at 50 µs and doubles up to 2 ms, with jitter so that waiting
processes do not retry in lockstep, for up to the store's busy timeout in all.
"""

from __future__ import annotations

import random
import sqlite3
import time
from collections.abc import Callable
from typing import TypeVar

T = TypeVar("T")

FIRST_SLEEP = 0.00005
MAX_SLEEP = 0.002


def is_busy(exc: BaseException) -> bool:
    """SQLITE_BUSY (any extended code): another connection holds the lock; nothing of this
    transaction was written."""
    code = getattr(exc, "sqlite_errorcode", None)
    return isinstance(exc, sqlite3.OperationalError) and code is not None and code & 0xFF == 5


class Backoff:
    """Sleeps between tries; ``pause()`` is False once ``timeout`` seconds have passed."""

    __slots__ = ("_deadline", "_sleep")

    def __init__(self, timeout: float) -> None:
        self._deadline = time.monotonic() + timeout
        self._sleep = FIRST_SLEEP

    def pause(self) -> bool:
        remaining = self._deadline - time.monotonic()
        if remaining <= 0:
            return False
        time.sleep(min(remaining, self._sleep * random.uniform(0.5, 1.5)))
        self._sleep = min(self._sleep * 2, MAX_SLEEP)
        return True


def retry_busy(step: Callable[[], T], timeout: float) -> T:
    """Run ``step`` (which must leave nothing half-done when it raises) until it does not
    find the file busy, or ``timeout`` passes (then the last busy error is raised)."""
    backoff: Backoff | None = None
    while True:
        try:
            return step()
        except sqlite3.OperationalError as exc:
            if not is_busy(exc):
                raise
            if backoff is None:
                backoff = Backoff(timeout)
            if not backoff.pause():
                raise
