"""flowsim's durable-backend cases: ``flowsim worker`` processes (the real CLI) serving
``benchmarks._backend_workflows`` on a fresh Postgres database or SQLite file per repeat;
this process triggers and waits.

Throughput: ``parent.aio_run(Fan(n=N))``, timed until the parent's result is in (it has
every child's result by then). Latency: ``child.aio_run()`` one after another, each timed
from the call until its result, with one worker process serving.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sqlite3
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, closing, contextmanager
from functools import partial
from pathlib import Path

from benchmarks import _backend_workflows as flows
from benchmarks._common import Config, Sample, timed
from benchmarks._cpu import workers_and_server
from benchmarks._places import (
    READY_SECONDS,
    Processes,
    postgres_database,
    processes,
    server_dsn,
    sqlite_url,
    wait_until,
)

FLOWSIM = Path(sys.executable).with_name("flowsim")
TARGET = "benchmarks._backend_workflows:worker"
#: a directory: run every worker process under cProfile, writing worker-PID-N.prof there
PROFILE_VARIABLE = "FLOWSIM_BENCH_PROFILE"


def _worker_command(url: str, index: int) -> list[str]:
    arguments = ["worker", TARGET, "--backend", url]
    profile_dir = os.environ.get(PROFILE_VARIABLE)
    if not profile_dir:
        return [str(FLOWSIM), *arguments]
    output = Path(profile_dir) / f"worker-{os.getpid()}-{index}.prof"
    return [sys.executable, "-m", "benchmarks._profiled_worker", str(output), *arguments]


@contextmanager
def _postgres_url() -> Iterator[str]:
    with postgres_database("flowsim") as url:
        yield f"{url}?schema=flowsim"


def _count(url: str, table: str, where: str = "true") -> int:
    """``count(*)`` of one of the store's tables, read behind flowsim's back (the benchmark
    must not disturb the engine it measures)."""
    if url.startswith("sqlite"):
        with closing(sqlite3.connect(url.removeprefix("sqlite:///"), timeout=10)) as conn:
            return int(conn.execute(f"SELECT count(*) FROM {table} WHERE {where}").fetchone()[0])
    import psycopg

    with psycopg.connect(url.partition("?")[0]) as conn:
        row = conn.execute(f"SELECT count(*) FROM flowsim.{table} WHERE {where}").fetchone()
        return int(row[0]) if row else 0


def _registered_workers(url: str) -> int:
    """How many worker processes have registered with the store so far."""
    return _count(url, "workers")


def _instants(url: str, select: str) -> tuple[float, ...]:
    """One row of the store's timestamps (the ``runs`` table), read behind flowsim's back."""
    if url.startswith("sqlite"):
        with closing(sqlite3.connect(url.removeprefix("sqlite:///"), timeout=10)) as conn:
            return tuple(conn.execute(select.format(schema="")).fetchone())
    import psycopg

    with psycopg.connect(url.partition("?")[0]) as conn:
        row = conn.execute(select.format(schema="flowsim.")).fetchone()
        return tuple(row) if row else ()


_PHASES = f"""
SELECT p.created_at, min(c.finished_at), max(c.finished_at), p.finished_at
FROM {{schema}}runs p JOIN {{schema}}runs c ON c.parent_run_id = p.id
WHERE p.workflow = '{flows.parent.name}' GROUP BY p.id, p.created_at, p.finished_at
"""
#: a Postgres run with one task ends with its task run, leaving its own row as it was
#: (flowsim_postgres.rows.ended_status): its end time is the task run's
_PG_PHASES = f"""
WITH c AS (
    SELECT c.parent_run_id, coalesce(c.finished_at, t.att_finished_at) AS finished_at
    FROM flowsim.runs c
    LEFT JOIN flowsim.task_runs t ON t.run_id = c.id AND t.finish_xid IS NOT NULL
)
SELECT p.created_at, min(c.finished_at), max(c.finished_at),
       coalesce(p.finished_at, (SELECT att_finished_at FROM flowsim.task_runs
                                WHERE run_id = p.id AND finish_xid IS NOT NULL))
FROM flowsim.runs p JOIN c ON c.parent_run_id = p.id
WHERE p.workflow = '{flows.parent.name}' GROUP BY p.id, p.created_at, p.finished_at
"""


def _phases(url: str, seconds: float) -> dict[str, float]:
    """When the first and the last child ended, the parent ended, and the caller had its
    result, in seconds from the trigger (stored timestamps: the processes share a clock)."""
    query = _PHASES if url.startswith("sqlite") else _PG_PHASES
    created, first, last, parent = _instants(url, query)
    return {
        "first child done": first - created,
        "last child done": last - created,
        "parent done": parent - created,
        "caller has result": seconds,
    }


def _children_done(url: str) -> int:
    """How many children have completed (for a repeat cut short by its budget)."""
    if url.startswith("sqlite"):
        return _count(url, "runs", f"workflow = '{flows.child.name}' AND status = 'COMPLETED'")
    return _count(url, "task_runs", f"workflow = '{flows.child.name}' AND status = 'COMPLETED'")


@contextmanager
def _serving(url: str, count: int, slots: int) -> Iterator[Processes]:
    """``count`` worker processes serving ``url``, registered before this yields."""
    from flowsim import backend

    backend.engine_for(url)  # create and migrate the store before the workers start
    with processes("flowsim") as workers:
        for index in range(count):
            workers.start(_worker_command(url, index), env={flows.SLOTS_VARIABLE: str(slots)})

        def ready() -> bool:
            workers.check_alive()
            return _registered_workers(url) >= count

        wait_until(ready, READY_SECONDS, f"{count} flowsim worker processes registering")
        try:
            yield workers
        finally:
            if os.environ.get(PROFILE_VARIABLE):
                workers.signal(signal.SIGUSR1)
                time.sleep(2.0)  # let each write its profile before it is stopped


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
        with _serving(url, config.workers, config.slots) as workers:

            async def work() -> int:
                result = await flows.parent.aio_run(flows.Fan(n=config.children))
                if result != {"children": config.children, "last": {"i": config.children - 1}}:
                    raise AssertionError(f"unexpected parent result {result!r}")
                return config.children

            pids = [process.pid for process in workers.processes]
            meter = workers_and_server(url, pids, server_dsn())
            meter.start()
            seconds, completed = asyncio.run(timed(work, config.budget))
            cpu = meter.stop(config.children)
            if completed is None:
                return Sample(seconds, _children_done(url), config.children)
        return Sample(seconds, completed, config.children, phases=_phases(url, seconds), cpu=cpu)

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
    return _fresh(partial(sqlite_url, "flowsim"), _fan_out(config), config)


def postgres_latency(config: Config) -> list[Sample]:
    return _fresh(_postgres_url, _latency(config), config)


def sqlite_latency(config: Config) -> list[Sample]:
    return _fresh(partial(sqlite_url, "flowsim"), _latency(config), config)
