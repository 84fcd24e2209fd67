"""Types shared by the fan-out benchmark's driver and its cases."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Config:
    """What every case is told: how many children, how many timed repeats, how many worker
    slots (flowsim and the peers' concurrency knobs), and the time budget of one repeat."""

    children: int
    repeat: int
    slots: int
    budget: float


@dataclass(frozen=True)
class Sample:
    """One timed repeat: wall-clock seconds from the first trigger until the caller had
    every result, and how many children had completed by then (< children on timeout)."""

    seconds: float
    completed: int


class Skipped(Exception):  # noqa: N818 - it is a verdict, not an error
    """Raised by a case that cannot run here (not installed, no in-memory mode)."""


async def timed(work: Callable[[], Awaitable[int]], budget: float) -> tuple[float, int | None]:
    """Run ``work()`` under a time budget. Returns (seconds, children completed), or
    (seconds, None) if the budget ran out first."""
    start = time.perf_counter()
    try:
        completed = await asyncio.wait_for(work(), budget)
    except TimeoutError:
        return time.perf_counter() - start, None
    return time.perf_counter() - start, completed
