"""flowsim's durable-backend cases: ``flowsim worker`` processes (the real CLI) serving
``benchmarks._backend_workflows`` on a fresh Postgres database or SQLite file per repeat;
this process triggers and waits.

Throughput: ``parent.aio_run(Fan(n=N))``, timed until the parent's result is in (it has
every child's result by then). Latency: ``child.aio_run()`` one after another, each timed
from the call until its result, with one worker process serving.
"""

from __future__ import annotations

import asyncio
import sqlite3
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path

from benchmarks import _backend_workflows as flows
from benchmarks._common import Config, Sample, timed
from benchmarks._places import (
    READY_SECONDS,
    Processes,
    postgres_database,
    processes,
    sqlite_file,
    wait_until,
)

FLOWSIM = Path(sys.executable).with_name("flowsim")
TARGET = "benchmarks._backend_workflows:worker"


@contextmanager
def _postgres_url() -> Iterator[str]:
    with postgres_database("flowsim") as url:
        yield f"{url}?schema=flowsim"


@contextmanager
def _sqlite_url() -> Iterator[str]:
    with sqlite_file("flowsim") as path:
        yield f"sqlite:///{path}"


def _registered_workers(url: str) -> int:
    """How many worker processes have registered with the store so far."""
    if url.startswith("sqlite"):
        with sqlite3.connect(url.removeprefix("sqlite:///"), timeout=10) as conn:
            return int(conn.execute("SELECT count(*) FROM workers").fetchone()[0])
    import psycopg

    with psycopg.connect(url.partition("?")[0]) as conn:
        row = conn.execute("SELECT count(*) FROM flowsim.workers").fetchone()
        return int(row[0]) if row else 0


@contextmanager
def _serving(url: str, count: int, slots: int) -> Iterator[Processes]:
    """``count`` worker processes serving ``url``, registered before this yields."""
    from flowsim import backend

    backend.engine_for(url)  # create and migrate the store before the workers start
    with processes("flowsim") as workers:
        for _ in range(count):
            workers.start(
                [str(FLOWSIM), "worker", TARGET, "--backend", url],
                env={flows.SLOTS_VARIABLE: str(slots)},
            )

        def ready() -> bool:
            workers.check_alive()
            return _registered_workers(url) >= count

        wait_until(ready, READY_SECONDS, f"{count} flowsim worker processes registering")
        yield workers


def _fresh(place: Callable[[], AbstractContextManager[str]], once: Callable[[str], Sample],
           config: Config) -> list[Sample]:  # fmt: skip
    """Each repeat on a new database or file, with the engine of the last one closed."""
    from flowsim import backend

    samples = []
    for _ in range(config.repeat):
        with place() as url, backend.redirected(url):
            try:
                samples.append(once(url))
            finally:
                backend.reset()
        if samples[-1].completed < samples[-1].expected or not samples[-1].completed:
            break
    return samples


def _fan_out(config: Config) -> Callable[[str], Sample]:
    def once(url: str) -> Sample:
        with _serving(url, config.workers, config.slots):

            async def work() -> int:
                result = await flows.parent.aio_run(flows.Fan(n=config.children))
                if result != {"children": config.children, "last": {"i": config.children - 1}}:
                    raise AssertionError(f"unexpected parent result {result!r}")
                return config.children

            seconds, completed = asyncio.run(timed(work, config.budget))
        return Sample(seconds, completed or 0, config.children)

    return once


def _latency(config: Config) -> Callable[[str], Sample]:
    def once(url: str) -> Sample:
        with _serving(url, 1, config.slots):
            latencies: list[float] = []

            async def work() -> int:
                await flows.child.aio_run(flows.ChildInput(i=-1))  # warm up, untimed
                for i in range(config.latency_runs):
                    start = time.perf_counter()
                    result = await flows.child.aio_run(flows.ChildInput(i=i))
                    latencies.append(time.perf_counter() - start)
                    if result != {"i": i}:
                        raise AssertionError(f"unexpected child result {result!r}")
                return len(latencies)

            seconds, _ = asyncio.run(timed(work, config.budget))
        return Sample(seconds, len(latencies), config.latency_runs, latencies)

    return once


def postgres(config: Config) -> list[Sample]:
    return _fresh(_postgres_url, _fan_out(config), config)


def sqlite(config: Config) -> list[Sample]:
    return _fresh(_sqlite_url, _fan_out(config), config)


def postgres_latency(config: Config) -> list[Sample]:
    return _fresh(_postgres_url, _latency(config), config)


def sqlite_latency(config: Config) -> list[Sample]:
    return _fresh(_sqlite_url, _latency(config), config)
