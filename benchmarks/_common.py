"""Types shared by the benchmarks' driver (``_driver``) and their cases."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field


@dataclass(frozen=True)
class Config:
    """What every case is told: how many children, how many timed repeats, how many worker
    slots (flowsim and the peers' concurrency knobs), and the time budget of one repeat.
    The durable-backend benchmark also says how many worker processes serve each case and
    how many sequential round trips its latency cases time."""

    children: int
    repeat: int
    slots: int
    budget: float
    workers: int = 2
    latency_runs: int = 200


@dataclass(frozen=True)
class Sample:
    """One timed repeat: wall-clock seconds from the first trigger until the caller had
    every result, and how many children had completed by then (< children on timeout).
    A latency case also keeps each round trip's seconds, and says how many runs a complete
    repeat has (``expected``; 0: ``Config.children``). A case that can see inside its run
    says when each phase ended, in seconds from the trigger (``phases``), and what CPU
    time each part spent per child (``cpu``)."""

    seconds: float
    completed: int
    expected: int = 0
    latencies: list[float] = field(default_factory=list)
    phases: dict[str, float] = field(default_factory=dict)
    #: CPU microseconds per child by part (workers, server, caller; ``benchmarks._cpu``)
    cpu: dict[str, float] = field(default_factory=dict)


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
