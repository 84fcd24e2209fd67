"""An asyncio loop on virtual time.

``VirtualTimeLoop.time()`` is a virtual clock starting at 0. The loop's selector never
blocks: when asyncio would wait ``timeout`` seconds for the next timer, the clock jumps by
``timeout`` instead, so timers fire in order at their virtual instants and the run is
deterministic (asyncio breaks ties between equal instants by scheduling order). If nothing
is ready and no timer is pending, nothing can ever happen again: that is reported as
``SimulationStalledError`` rather than waited on.

asyncio's own timer heap is the single event heap here (one heap, as the design asks);
threads would break virtual time, so an engine on this loop runs sync task functions
inline (``Engine.inline_sync``).
"""

from __future__ import annotations

import asyncio
import selectors
from collections.abc import Callable, Coroutine, Mapping
from typing import Any, TypeVar

from flowsim.clock import TimerHandle
from flowsim.errors import FlowsimError

T = TypeVar("T")


class SimulationStalledError(FlowsimError, RuntimeError):
    """Every coroutine waits and no timer is pending: virtual time cannot move on."""


class _VirtualSelector(selectors.BaseSelector):
    """Delegates registration to a real selector (the loop's self-pipe), but where the
    real one would sleep, advances the virtual clock instead."""

    def __init__(self, loop_clock: Callable[[float], None]) -> None:
        self._real = selectors.DefaultSelector()
        self._advance = loop_clock

    def register(self, fileobj: Any, events: int, data: Any = None) -> selectors.SelectorKey:
        return self._real.register(fileobj, events, data)

    def unregister(self, fileobj: Any) -> selectors.SelectorKey:
        return self._real.unregister(fileobj)

    def modify(self, fileobj: Any, events: int, data: Any = None) -> selectors.SelectorKey:
        return self._real.modify(fileobj, events, data)

    def select(self, timeout: float | None = None) -> list[tuple[selectors.SelectorKey, int]]:
        ready = self._real.select(0)
        if ready or timeout == 0:
            return ready
        if timeout is None:
            raise SimulationStalledError(
                "every coroutine is waiting and no timer is pending: the simulated system "
                "can never make progress"
            )
        self._advance(timeout)
        return []

    def close(self) -> None:
        self._real.close()

    def get_map(self) -> Mapping[Any, selectors.SelectorKey]:
        return self._real.get_map()


class VirtualTimeLoop(asyncio.SelectorEventLoop):
    def __init__(self) -> None:
        self._virtual_now = 0.0
        super().__init__(selector=_VirtualSelector(self._advance))

    def _advance(self, seconds: float) -> None:
        self._virtual_now += seconds

    def time(self) -> float:
        return self._virtual_now


class LoopClock:
    """The engine's clock on a loop: ``now`` is the loop's time, timers are its timers.
    Must be used from the loop's thread (the simulator has no other)."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop

    def now(self) -> float:
        return self._loop.time()

    def call_at(self, when: float, callback: Callable[[], None]) -> TimerHandle:
        return self._loop.call_at(when, callback)


def virtual_backend(loop: VirtualTimeLoop, name: str) -> str:
    """Create the engine for ``memory://NAME`` on ``loop``'s virtual clock and return the
    URL to give ``Hatchet(...)``. Sync task functions run inline on it."""
    from flowsim import backend

    url = f"memory://{name}"
    engine = backend.engine_for(url, LoopClock(loop))
    engine.inline_sync = True
    return url


def run_virtual(main: Callable[[VirtualTimeLoop], Coroutine[Any, Any, T]]) -> T:
    """Run ``main(loop)`` to completion on a fresh virtual-time loop."""
    loop = VirtualTimeLoop()
    try:
        return loop.run_until_complete(main(loop))
    finally:
        loop.run_until_complete(loop.shutdown_asyncgens())
        loop.close()
