"""The engine loop: which asyncio loop the engine runs on, and getting work onto it.

All engine work happens on one event loop. ``async with worker:`` binds the running loop,
``with worker:`` a background thread of our own; calls from other threads or loops are
handed over thread-safely, and calls already on the loop take the inline path. The engine
derives from ``LoopHost`` so this plumbing stays out of its scheduling code.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar

from flowsim.clock import Clock, SystemClock
from flowsim.dsn import mask_url
from flowsim.errors import BlockingCallError

T = TypeVar("T")


class LoopHost:
    url: str
    clock: Clock
    _lock: threading.RLock  # the engine's lock, created by the engine

    def __init__(self) -> None:
        self._loop: asyncio.AbstractEventLoop | None = None
        self._loop_thread: int | None = None
        self._owned_thread: threading.Thread | None = None

    def _has_workers(self) -> bool:
        raise NotImplementedError

    @property
    def loop(self) -> asyncio.AbstractEventLoop | None:
        return self._loop

    def on_engine_loop(self) -> bool:
        return self._loop is not None and threading.get_ident() == self._loop_thread

    def _bind(self, loop: asyncio.AbstractEventLoop, thread: int | None) -> None:
        self._loop = loop
        self._loop_thread = thread
        if isinstance(self.clock, SystemClock):
            self.clock.attach(loop, thread)

    def _unbind(self) -> None:
        self._loop = None
        self._loop_thread = None
        if isinstance(self.clock, SystemClock):
            self.clock.attach(None)

    def bind_current_loop(self) -> bool:
        """Make the running loop the engine loop if none is bound; True if it now is."""
        with self._lock:
            if self._loop is None or self._loop.is_closed():
                self._bind(asyncio.get_running_loop(), threading.get_ident())
            return self.on_engine_loop()

    def ensure_thread_loop(self) -> asyncio.AbstractEventLoop:
        """Bind a background engine thread if no loop is bound yet (``with worker:``)."""
        with self._lock:
            if self._loop is not None and not self._loop.is_closed():
                return self._loop
            loop = asyncio.new_event_loop()
            ready = threading.Event()

            def serve() -> None:
                asyncio.set_event_loop(loop)
                loop.call_soon(ready.set)
                try:
                    loop.run_forever()
                finally:
                    pending = [t for t in asyncio.all_tasks(loop) if not t.done()]
                    for task in pending:
                        task.cancel()
                    if pending:
                        loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))
                    loop.run_until_complete(loop.shutdown_default_executor())
                    loop.close()

            name = f"flowsim-engine[{mask_url(self.url)}]"  # shown by an error in the thread
            thread = threading.Thread(target=serve, name=name, daemon=True)
            thread.start()
            ready.wait()
            self._owned_thread = thread
            self._bind(loop, thread.ident)
            return loop

    def _release_loop_if_idle(self) -> None:
        """Let go of the engine loop once no worker runs (so tests leave no threads)."""
        with self._lock:
            if self._has_workers() or self._loop is None:
                return
            loop, thread = self._loop, self._owned_thread
            self._unbind()
            self._owned_thread = None
        if thread is not None:
            loop.call_soon_threadsafe(loop.stop)
            if threading.get_ident() != thread.ident:
                thread.join(timeout=10)

    def post(self, callback: Callable[..., None], *args: Any) -> None:
        """Run ``callback`` on the engine loop soon, from any thread; inline if no loop."""
        loop = self._loop
        if loop is None or loop.is_closed():
            with self._lock:
                callback(*args)
        elif self.on_engine_loop():
            loop.call_soon(callback, *args)
        else:
            loop.call_soon_threadsafe(callback, *args)

    async def run_on_engine(self, factory: Callable[[], Coroutine[Any, Any, T]]) -> T:
        """Await a coroutine on the engine loop from any loop."""
        if self.on_engine_loop() or self._loop is None:
            return await factory()
        future = asyncio.run_coroutine_threadsafe(factory(), self._loop)
        return await asyncio.wrap_future(future)

    def run_on_engine_blocking(self, factory: Callable[[], Coroutine[Any, Any, T]]) -> T:
        if self._loop is None:
            raise BlockingCallError("no engine loop is running")
        if self.on_engine_loop():
            raise BlockingCallError(
                "a blocking flowsim call was made on the engine's own event loop, which would "
                "wait forever; use the aio_ variant (await wf.aio_run(...)) in async code"
            )
        return asyncio.run_coroutine_threadsafe(factory(), self._loop).result()
