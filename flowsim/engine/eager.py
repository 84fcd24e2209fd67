"""Running a task body's first step inline, and handing the rest to a Task if needed."""

from __future__ import annotations

from collections.abc import Coroutine, Generator
from typing import Any


class Resume:
    """Drives a task coroutine whose first step already ran outside any asyncio Task.

    Task bodies are started eagerly, inline in the dispatcher: most fan-out children finish
    without ever suspending, and then need no Task and no extra loop iteration at all. A
    body that does suspend is handed to a Task through this awaitable, which re-yields the
    future the body is blocked on and forwards results, exceptions and cancellation."""

    __slots__ = ("_coro", "_pending")

    def __init__(self, coro: Coroutine[Any, Any, None], pending: Any) -> None:
        self._coro = coro
        self._pending = pending

    def __await__(self) -> Generator[Any, Any, None]:
        coro, value = self._coro, self._pending
        while True:
            try:
                sent = yield value
            except GeneratorExit:
                coro.close()
                raise
            except BaseException as exc:
                try:
                    value = coro.throw(exc)
                except StopIteration:
                    return
            else:
                try:
                    value = coro.send(sent)
                except StopIteration:
                    return


async def resume(coro: Coroutine[Any, Any, None], pending: Any) -> None:
    await Resume(coro, pending)
