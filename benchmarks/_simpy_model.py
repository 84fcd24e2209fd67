"""The yardstick for flowsim's simulator: the benchmark's fan-out written by hand in simpy.

One worker is a ``simpy.Resource`` with one unit per slot. The parent takes a slot and
holds it while it waits for all its children (a non-durable Hatchet task holds its slot
while it awaits), and each child takes a slot, runs for ``duration`` and gives it back.
Requests are served first come, first served, so the parent gets its slot first and the
children run ``slots - 1`` at a time: the makespan is ``ceil(children / (slots - 1)) *
duration``, as flowsim's must be. This is about the least a discrete-event model of the
system has to do, so flowsim's rate against it is the cost of running the real engine and
the users' real code instead of a model of them.

simpy keeps a resource's waiting requests in a plain list and takes the next one with
``list.pop(0)``, which moves the whole backlog: with every child queued at t=0 the model
is quadratic in N (at 100,000 children that is a third of its time, at 1,000,000 most of
it). ``fifo_queue=True`` swaps in a deque through simpy's documented ``PutQueue`` hook,
which makes the same model linear.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Generator
from typing import Any

import simpy


class _Fifo(deque[Any]):
    """A deque that answers simpy's ``pop(index)``: O(1) at the front, where it is used."""

    def pop(self, index: int = -1) -> Any:
        if index == 0:
            return self.popleft()
        if index == -1:
            return super().pop()
        item = self[index]
        del self[index]
        return item


class _FifoResource(simpy.Resource):
    PutQueue = _Fifo


def fan_out(
    children: int, slots: int, duration: float, *, fifo_queue: bool = False
) -> tuple[float, int]:
    """Simulate the fan-out; returns (virtual makespan, children that finished)."""
    env = simpy.Environment()
    worker = (_FifoResource if fifo_queue else simpy.Resource)(env, capacity=slots)
    finished = 0

    def child() -> Generator[simpy.Event, Any, None]:
        nonlocal finished
        with worker.request() as slot:
            yield slot
            yield env.timeout(duration)
        finished += 1

    def parent() -> Generator[simpy.Event, Any, None]:
        with worker.request() as slot:
            yield slot
            yield env.all_of([env.process(child()) for _ in range(children)])

    env.run(env.process(parent()))
    return float(env.now), finished
