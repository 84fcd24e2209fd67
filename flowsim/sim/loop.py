"""An asyncio loop whose clock is a simpy environment.

Every timer asyncio knows about (``asyncio.sleep``, ``call_later``, ``wait_for``, the
engine's retry and timeout timers) becomes a simpy event, so simpy's one heap orders the
whole simulated world: the users' coroutines, the engine, and the simulator's own
processes (arrivals, worker crashes). When the loop has nothing ready it does not block in
``select``: it steps simpy to its next event, which takes no wall time. simpy breaks ties
between equal instants by insertion order, so a seed reproduces a trace exactly.

If nothing is ready and simpy has no event left, nothing can ever happen again: that is
reported as ``SimulationStalledError`` rather than waited on. Threads would break virtual
time, so an engine on this loop runs sync task functions inline (``Engine.inline_sync``).
"""

from __future__ import annotations

import asyncio
import contextvars
import selectors
from collections.abc import Callable, Coroutine, Mapping
from functools import partial
from typing import Any, TypeVar

import simpy

from flowsim.clock import TimerHandle
from flowsim.errors import FlowsimError

T = TypeVar("T")


class SimulationStalledError(FlowsimError, RuntimeError):
    """Every coroutine waits and no event is pending: virtual time cannot move on."""


class _VirtualSelector(selectors.BaseSelector):
    """Delegates registration to a real selector (the loop's self-pipe), but where the
    real one would sleep, steps the simulated world instead."""

    def __init__(self, step_world: Callable[[], None]) -> None:
        self._real = selectors.DefaultSelector()
        self._step_world = step_world

    def register(self, fileobj: Any, events: int, data: Any = None) -> selectors.SelectorKey:
        return self._real.register(fileobj, events, data)

    def unregister(self, fileobj: Any) -> selectors.SelectorKey:
        return self._real.unregister(fileobj)

    def modify(self, fileobj: Any, events: int, data: Any = None) -> selectors.SelectorKey:
        return self._real.modify(fileobj, events, data)

    def select(self, timeout: float | None = None) -> list[tuple[selectors.SelectorKey, int]]:
        if timeout == 0:
            # callbacks are ready: the only file is the loop's self-pipe, whose bytes wake a
            # sleeping select and can wait until the loop is idle (a thread-safe callback
            # is already queued), so skip the system call on this busy turn
            return []
        ready = self._real.select(0)
        if ready:
            return ready
        # asyncio's own timer heap stays empty (every timer is a simpy event), so a
        # non-zero timeout means "nothing ready": advance the world instead of sleeping
        self._step_world()
        return []

    def close(self) -> None:
        self._real.close()

    def get_map(self) -> Mapping[Any, selectors.SelectorKey]:
        return self._real.get_map()


class VirtualTimeLoop(asyncio.SelectorEventLoop):
    """``time()`` is ``env.now``; ``call_at`` schedules on simpy's heap."""

    def __init__(self, env: simpy.Environment | None = None) -> None:
        self.env = env if env is not None else simpy.Environment()
        self._woken = False
        super().__init__(selector=_VirtualSelector(self._step_world))

    def time(self) -> float:
        return float(self.env.now)

    def call_at(  # type: ignore[override]
        self,
        when: float,
        callback: Callable[..., object],
        *args: Any,
        context: contextvars.Context | None = None,
    ) -> asyncio.TimerHandle:
        handle = asyncio.TimerHandle(when, callback, args, self, context)
        event = self.env.timeout(max(0.0, when - self.env.now))
        event.callbacks.append(partial(self._fire, handle, callback, args, context))
        return handle

    def _fire(
        self,
        handle: asyncio.TimerHandle,
        callback: Callable[..., object],
        args: tuple[Any, ...],
        context: contextvars.Context | None,
        _event: simpy.Event,
    ) -> None:
        if not handle.cancelled():
            self.call_soon(callback, *args, context=context)
            self._woken = True

    def sleep(self, delay: float) -> asyncio.Future[None]:
        """A future done ``delay`` virtual seconds from now: ``asyncio.sleep`` without the
        timer handle and the extra loop turn (the simpy event resolves the future directly,
        which only queues its callbacks). Cancelling the future is all the cleanup needed:
        the event then finds it done and does nothing."""
        future: asyncio.Future[None] = self.create_future()
        # the same arithmetic as asyncio.sleep -> call_later -> call_at, to the last bit:
        # equal-looking instants must tie (or not) exactly as they did through a timer
        event = self.env.timeout(max(0.0, (self.time() + delay) - self.env.now))
        event.callbacks.append(partial(self._resolve, future))
        return future

    def _resolve(self, future: asyncio.Future[None], _event: simpy.Event) -> None:
        if not future.done():
            future.set_result(None)
            self._woken = True

    def on_world(self, callback: Callable[[], None]) -> None:
        """Run ``callback`` on the loop soon: how simpy processes act on the engine and
        the users' code (never from inside simpy's step, which runs within ``select``)."""
        self.call_soon(callback)
        self._woken = True

    def _step_world(self) -> None:
        self._woken = False
        env = self.env
        while not self._woken:
            if env.peek() == simpy.core.Infinity:
                raise SimulationStalledError(
                    "every coroutine is waiting and no event is pending: the simulated "
                    "system can never make progress"
                )
            env.step()


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


def run_virtual(
    main: Callable[[VirtualTimeLoop], Coroutine[Any, Any, T]],
    env: simpy.Environment | None = None,
) -> T:
    """Run ``main(loop)`` to completion on a fresh virtual-time loop."""
    loop = VirtualTimeLoop(env)
    try:
        return loop.run_until_complete(main(loop))
    finally:
        loop.run_until_complete(loop.shutdown_asyncgens())
        loop.close()
