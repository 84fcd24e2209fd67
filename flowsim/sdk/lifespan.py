"""Worker lifespans: ``hatchet.worker(..., lifespan=fn)``, as in hatchet_sdk.

``fn()`` is an async generator. The code before its one ``yield`` runs as the worker starts,
before it claims anything; the value it yields is every task's ``ctx.lifespan`` on that
worker (a connection pool, a client: what tasks share); the code after it runs as the worker
stops, once its running tasks are done. It runs on the worker's event loop, as its tasks do.

A failure either side is a ``LifespanSetupError`` naming the worker, the cause chained. A
failed start leaves the worker stopped, as in Hatchet. A failed cleanup is raised from
the worker's stop (``with``/``async with`` exit, ``stop()``), where Hatchet only logs it:
a test should see the cleanup it relies on break.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, Callable
from typing import Any

from flowsim.errors import ConfigurationError, LifespanSetupError

LifespanGenerator = AsyncGenerator[Any, Any]
LifespanFn = Callable[[], LifespanGenerator]


class Lifespan:
    def __init__(self, worker_name: str, fn: LifespanFn) -> None:
        if not callable(fn):
            raise ConfigurationError(
                f"hatchet.worker({worker_name!r}, lifespan=...): expected an async generator "
                f"function (async def fn(): ... yield value ...), got {fn!r}"
            )
        self._worker = worker_name
        self._fn = fn
        self._running: LifespanGenerator | None = None

    async def start(self) -> Any:
        """Run the lifespan up to its ``yield``; the value yielded (None if it ends first)."""
        generator = self._fn()
        if not isinstance(generator, AsyncGenerator):
            raise LifespanSetupError(
                f"worker {self._worker!r}: its lifespan returned {type(generator).__name__}, "
                "not an async generator; define it with async def and one yield"
            )
        try:
            value = await anext(generator)
        except StopAsyncIteration:
            return None
        except Exception as exc:
            raise LifespanSetupError(
                f"worker {self._worker!r}: its lifespan raised before yielding, so the worker "
                f"did not start: {type(exc).__name__}: {exc}"
            ) from exc
        self._running = generator
        return value

    async def stop(self) -> None:
        """Run the lifespan's code after its ``yield`` to the end."""
        generator, self._running = self._running, None
        if generator is None:
            return
        try:
            await anext(generator)
        except StopAsyncIteration:
            return
        except Exception as exc:
            raise LifespanSetupError(
                f"worker {self._worker!r}: its lifespan raised in its cleanup (after the "
                f"yield): {type(exc).__name__}: {exc}"
            ) from exc
        await generator.aclose()
        raise LifespanSetupError(
            f"worker {self._worker!r}: its lifespan yielded a second time; a lifespan yields "
            "once (the value tasks get as ctx.lifespan)"
        )
