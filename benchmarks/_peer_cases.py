"""The reference points: the asyncio floor and three peers' in-memory modes.

Every peer is imported inside its own case function, so a subprocess pays only for the
library it measures. A peer that is not installed, or whose installed version has no
in-memory mode, raises ``Skipped`` with the reason instead of failing the benchmark.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any

from benchmarks._common import Config, Sample, Skipped, timed

#: Children per pgqueuer dequeue batch; 10 (its default), 100 and 1,000 measured the same.
PGQUEUER_BATCH = 100
#: procrastinate sub-workers (its ``concurrency``); more do not help its in-memory fetch.
PROCRASTINATE_CONCURRENCY = 10


def _install_hint(name: str, exc: ImportError) -> Skipped:
    return Skipped(f"{name} is not installed ({exc}); pip install -e '.[bench]'")


# ------------------------------------------------------------------ asyncio floor


async def _trivial(i: int) -> dict[str, int]:
    return {"i": i}


async def _floor_once(config: Config) -> Sample:
    async def work() -> int:
        results = await asyncio.gather(*(_trivial(i) for i in range(config.children)))
        return len(results)

    seconds, completed = await timed(work, config.budget)
    return Sample(seconds, completed or 0)


def floor(config: Config) -> list[Sample]:
    """``asyncio.gather`` of N trivial coroutines returning a dict: no engine at all."""
    return asyncio.run(_repeat(_floor_once, config))


# ------------------------------------------------------------------ Celery (eager)


def celery(config: Config) -> list[Sample]:
    """Celery with ``task_always_eager``: ``group(child.s(i) for i in range(N))().get()``."""
    try:
        from celery import Celery, group
    except ImportError as exc:
        raise _install_hint("celery", exc) from None
    app = Celery("fanout", broker="memory://", backend="cache+memory://", set_as_current=True)
    app.conf.task_always_eager = True

    @app.task(name="child")  # type: ignore[untyped-decorator]  # celery ships no types
    def child(i: int) -> dict[str, int]:
        return {"i": i}

    samples = []
    for _ in range(config.repeat):
        start = time.perf_counter()
        results = group(child.s(i) for i in range(config.children))().get()
        seconds = time.perf_counter() - start
        if len(results) != config.children or results[-1] != {"i": config.children - 1}:
            raise AssertionError(f"celery: unexpected results ({len(results)} items)")
        samples.append(Sample(seconds, len(results)))
        gc.collect()
        if seconds > config.budget:  # a synchronous call cannot be cut short; stop repeating
            break
    return samples


# ------------------------------------------------------------------ pgqueuer (in-memory)


async def _pgqueuer_once(config: Config) -> Sample:
    from pgqueuer import PgQueuer
    from pgqueuer.models import Job
    from pgqueuer.types import QueueExecutionMode

    n = config.children
    pgq = PgQueuer.in_memory()
    results: dict[int, dict[str, int]] = {}

    @pgq.entrypoint("child")
    async def child(job: Job) -> None:
        i = int(job.payload or b"0")
        results[i] = {"i": i}

    async def work() -> int:
        queries = pgq.queries
        assert queries is not None  # PgQueuer.in_memory() always has its queries
        await queries.enqueue(["child"] * n, [str(i).encode() for i in range(n)], [0] * n)
        await pgq.qm.run(mode=QueueExecutionMode.drain, batch_size=PGQUEUER_BATCH)
        return len(results)

    seconds, completed = await timed(work, config.budget)
    if completed is not None and completed != n:
        raise AssertionError(f"pgqueuer drained with {completed} of {n} jobs done")
    return Sample(seconds, len(results))


async def _pgqueuer_repeats(config: Config) -> list[Sample]:
    try:
        from pgqueuer import PgQueuer
    except ImportError as exc:
        raise _install_hint("pgqueuer", exc) from None
    if not hasattr(PgQueuer, "in_memory"):
        raise Skipped("this pgqueuer version has no in-memory driver (PgQueuer.in_memory)")
    logging.getLogger("pgqueuer").setLevel(logging.WARNING)
    return await _repeat(_pgqueuer_once, config)


def pgqueuer(config: Config) -> list[Sample]:
    """pgqueuer's in-memory driver: enqueue N jobs in one call, then a queue manager in
    ``drain`` mode runs them and returns when the queue is empty."""
    return asyncio.run(_pgqueuer_repeats(config))


# ------------------------------------------------------------------ procrastinate (in-memory)


async def _procrastinate_once(config: Config) -> Sample:
    import procrastinate
    from procrastinate.testing import InMemoryConnector

    n = config.children
    app = procrastinate.App(connector=InMemoryConnector())
    results: dict[int, dict[str, int]] = {}

    @app.task(name="child")
    async def child(i: int) -> dict[str, int]:
        results[i] = {"i": i}
        return results[i]

    async def work() -> int:
        kwargs: list[dict[str, Any]] = [{"i": i} for i in range(n)]
        await child.batch_defer_async(*kwargs)
        await app.run_worker_async(
            wait=False,  # return once the queue is empty
            concurrency=PROCRASTINATE_CONCURRENCY,
            listen_notify=False,
            install_signal_handlers=False,
            delete_jobs="successful",
        )
        return len(results)

    async with app.open_async():
        seconds, completed = await timed(work, config.budget)
    if completed is not None and completed != n:
        raise AssertionError(f"procrastinate stopped with {completed} of {n} jobs done")
    return Sample(seconds, len(results))


async def _procrastinate_repeats(config: Config) -> list[Sample]:
    try:
        import procrastinate  # noqa: F401
        from procrastinate.testing import InMemoryConnector  # noqa: F401
    except ImportError as exc:
        raise _install_hint("procrastinate", exc) from None
    logging.getLogger("procrastinate").setLevel(logging.WARNING)
    return await _repeat(_procrastinate_once, config)


def procrastinate(config: Config) -> list[Sample]:
    """procrastinate's ``InMemoryConnector``: batch-defer N jobs, then a worker with
    ``wait=False`` runs them and returns when the queue is empty."""
    return asyncio.run(_procrastinate_repeats(config))


# ------------------------------------------------------------------ shared


async def _repeat(once: Callable[[Config], Awaitable[Sample]], config: Config) -> list[Sample]:
    """Up to ``repeat`` fresh runs; stop after one that ran out of budget."""
    samples = []
    for _ in range(config.repeat):
        sample = await once(config)
        samples.append(sample)
        gc.collect()
        if sample.completed < config.children:
            break
    return samples
