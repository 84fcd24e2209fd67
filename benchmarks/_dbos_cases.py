"""DBOS queues with worker processes, on Postgres and on SQLite (DBOS's system database
can be either).

Worker processes (``python -m benchmarks._dbos_cases URL``) launch DBOS with the same
system database, register the queue, and dequeue and run its workflows. The caller
enqueues N workflows with ``DBOSClient.enqueue_in_transaction``, 1,000 to a transaction
(as flowsim's bulk trigger writes its batches; ``enqueue`` takes one transaction per
workflow, which put the caller's loop into the figure: 1,021 -> 1,339/s on Postgres when
this changed), and polls
``workflow_status`` until all have succeeded. The queue is polled every 10 ms
(``polling_interval_sec``; DBOS's default of 1 s would dominate both the throughput and
the latency figures), with no concurrency limit.
"""

from __future__ import annotations

import logging
import os
import signal
import sqlite3
import sys
import threading
import time
from collections.abc import Callable
from contextlib import AbstractContextManager
from functools import partial
from typing import Any

from benchmarks._common import Config, Sample, Skipped
from benchmarks._places import postgres_database, processes, sqlite_url

QUEUE = "bench"
WORKFLOW = "bench_child"
POLLING_SECONDS = 0.01
#: workflows enqueued per transaction (flowsim's bulk trigger writes 1,000 per batch)
ENQUEUE_BATCH = 1000
READY = "READY"


def _serve(url: str) -> None:
    """A DBOS worker process: serve the queue until SIGTERM."""
    from dbos import DBOS

    DBOS(
        config={
            "name": "flowsim-bench",
            "system_database_url": url,
            "executor_id": f"bench-{os.getpid()}",
            "log_level": "WARNING",
        }
    )

    @DBOS.workflow(name=WORKFLOW)
    def child(i: int) -> dict[str, int]:
        return {"i": i}

    DBOS.launch()
    DBOS.register_queue(QUEUE, polling_interval_sec=POLLING_SECONDS)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    print(READY, flush=True)
    stop.wait()
    DBOS.destroy()


def _succeeded(url: str) -> Callable[[], int]:
    """A function counting the workflows that have succeeded so far."""
    query = "SELECT count(*) FROM {} WHERE status = 'SUCCESS'"
    if url.startswith("sqlite"):
        conn = sqlite3.connect(url.removeprefix("sqlite:///"), timeout=30)  # closed on exit
        return lambda: int(conn.execute(query.format("workflow_status")).fetchone()[0])
    import psycopg

    pg = psycopg.connect(url, autocommit=True)

    def count() -> int:
        row = pg.execute(query.format("dbos.workflow_status")).fetchone()
        return int(row[0]) if row else 0

    return count


def _engine(url: str) -> Any:
    """A SQLAlchemy engine on DBOS's system database (psycopg 3 for Postgres, as DBOS)."""
    import sqlalchemy

    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
    return sqlalchemy.create_engine(url)


def _measure(url: str, config: Config, latency: bool) -> Sample:
    from dbos import DBOSClient

    client = DBOSClient(system_database_url=url)
    succeeded = _succeeded(url)
    options: Any = {"queue_name": QUEUE, "workflow_name": WORKFLOW}
    deadline = time.perf_counter() + config.budget
    try:
        if latency:
            return _one_by_one(client, options, config, deadline)
        engine = _engine(url)
        start = time.perf_counter()
        try:
            for first in range(0, config.children, ENQUEUE_BATCH):
                with engine.begin() as conn:
                    for i in range(first, min(first + ENQUEUE_BATCH, config.children)):
                        client.enqueue_in_transaction(conn, options, i)
                if time.perf_counter() > deadline:
                    break
        finally:
            engine.dispose()
        while succeeded() < config.children and time.perf_counter() < deadline:
            time.sleep(0.001)
        return Sample(time.perf_counter() - start, succeeded(), config.children)
    finally:
        client.destroy()


def _one_by_one(client: Any, options: Any, config: Config, deadline: float) -> Sample:
    client.enqueue(options, -1).get_result(polling_interval_sec=0.001)  # warm up, untimed
    latencies: list[float] = []
    start = time.perf_counter()
    for i in range(config.latency_runs):
        began = time.perf_counter()
        result = client.enqueue(options, i).get_result(polling_interval_sec=0.001)
        latencies.append(time.perf_counter() - began)
        if result != {"i": i}:
            raise AssertionError(f"unexpected DBOS result {result!r}")
        if time.perf_counter() > deadline:
            break
    return Sample(time.perf_counter() - start, len(latencies), config.latency_runs, latencies)


def _run(place: Callable[[], AbstractContextManager[str]], config: Config, latency: bool
         ) -> list[Sample]:  # fmt: skip
    try:
        import dbos  # noqa: F401
    except ImportError as exc:
        raise Skipped(f"dbos is not installed ({exc}); pip install dbos") from None
    logging.getLogger("dbos").setLevel(logging.WARNING)
    count = 1 if latency else config.workers
    samples = []
    for _ in range(config.repeat):
        with place() as url, processes("dbos") as workers:
            for _ in range(count):
                workers.python("-m", "benchmarks._dbos_cases", url)
            workers.wait_for_output(READY, f"{count} DBOS worker processes launching")
            samples.append(_measure(url, config, latency))
        if samples[-1].completed < samples[-1].expected:
            break
    return samples


def postgres(config: Config) -> list[Sample]:
    return _run(partial(postgres_database, "dbos"), config, latency=False)


def sqlite(config: Config) -> list[Sample]:
    return _run(partial(sqlite_url, "dbos"), config, latency=False)


def postgres_latency(config: Config) -> list[Sample]:
    return _run(partial(postgres_database, "dbos"), config, latency=True)


if __name__ == "__main__":
    _serve(sys.argv[1])
