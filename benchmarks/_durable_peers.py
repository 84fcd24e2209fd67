"""pgqueuer and procrastinate on Postgres, with worker processes: the peers of the
durable-backend benchmark.

Each repeat gets a new database, installs the peer's schema there, starts the worker
processes (``python -m benchmarks._durable_peers PEER URL``, each printing ``READY`` once
connected), then times: enqueue N jobs in one call, and poll the peer's job table every
millisecond until every job has finished. The child is as trivial as flowsim's (it returns
``{"i": i}``); neither peer keeps results, so "finished" is what its table says.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import signal
import sys
import time
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any

from benchmarks._common import Config, Sample, Skipped, timed
from benchmarks._cpu import workers_and_server
from benchmarks._places import Processes, postgres_database, processes, server_dsn

#: pgqueuer dequeue batch per worker (its default is 10)
PGQUEUER_BATCH = 100
#: procrastinate's concurrent jobs per worker process (its default is 1)
PROCRASTINATE_CONCURRENCY = 100
READY = "READY"
POLL_SECONDS = 0.001


# ------------------------------------------------------------------ worker processes


async def _serve_pgqueuer(url: str) -> None:
    """On asyncpg, pgqueuer's own driver. With its psycopg driver on one connection, the
    LISTEN watcher holds the connection in ``notifies(timeout=1.0)`` and every dequeue and
    status flush waits for it: ~3 s per job one at a time, 3,954 against 18,271 jobs/s
    for 10,000 (2026-12-06): a measure of that wiring, not of pgqueuer."""
    import asyncpg
    from pgqueuer import PgQueuer
    from pgqueuer.models import Job

    connection = await asyncpg.connect(url)
    pgq = PgQueuer.from_asyncpg_connection(connection)

    @pgq.entrypoint("child")
    async def child(job: Job) -> None:  # pgqueuer keeps no results: compute one, as the others
        {"i": int(job.payload or b"0")}

    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, pgq.shutdown.set)
    print(READY, flush=True)
    await pgq.run(batch_size=PGQUEUER_BATCH)


async def _serve_procrastinate(url: str) -> None:
    import procrastinate

    app = procrastinate.App(connector=procrastinate.PsycopgConnector(conninfo=url))

    @app.task(name="child")
    async def child(i: int) -> dict[str, int]:
        return {"i": i}

    async with app.open_async():
        print(READY, flush=True)
        await app.run_worker_async(concurrency=PROCRASTINATE_CONCURRENCY, delete_jobs="never")


SERVERS: dict[str, Callable[[str], Coroutine[Any, Any, None]]] = {
    "pgqueuer": _serve_pgqueuer,
    "procrastinate": _serve_procrastinate,
}


def _serve(peer: str, url: str, count: int, workers: Processes) -> None:
    for _ in range(count):
        workers.python("-m", "benchmarks._durable_peers", peer, url)
    workers.wait_for_output(READY, f"{count} {peer} worker processes connecting")


# ------------------------------------------------------------------ the callers


async def _poll(remaining: Callable[[], Awaitable[int]]) -> None:
    while await remaining():  # noqa: ASYNC110 - the table is another process's; no event
        await asyncio.sleep(POLL_SECONDS)


async def _pgqueuer_caller(url: str, config: Config, latency: bool) -> Sample:
    import psycopg
    from pgqueuer.queries import Queries

    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
        queries = Queries.from_psycopg_connection(conn)

        async def remaining() -> int:
            cursor = await conn.execute("SELECT count(*) FROM pgqueuer")
            row = await cursor.fetchone()
            return int(row[0]) if row else 0

        async def enqueue(first: int, count: int) -> None:
            payloads: list[bytes | None] = [str(i).encode() for i in range(first, first + count)]
            await queries.enqueue(["child"] * count, payloads, [0] * count)

        return await _measure(enqueue, remaining, config, latency)


async def _procrastinate_caller(url: str, config: Config, latency: bool) -> Sample:
    import procrastinate

    app = procrastinate.App(connector=procrastinate.PsycopgConnector(conninfo=url))

    @app.task(name="child")
    async def child(i: int) -> dict[str, int]:
        return {"i": i}

    async with app.open_async():

        async def remaining() -> int:
            row = await app.connector.execute_query_one_async(
                "SELECT count(*) AS n FROM procrastinate_jobs WHERE status <> 'succeeded'"
            )
            return int(row["n"])

        async def enqueue(first: int, count: int) -> None:
            kwargs: list[dict[str, Any]] = [{"i": i} for i in range(first, first + count)]
            await child.batch_defer_async(*kwargs)

        return await _measure(enqueue, remaining, config, latency)


async def _measure(
    enqueue: Callable[[int, int], Awaitable[None]],
    remaining: Callable[[], Awaitable[int]],
    config: Config,
    latency: bool,
) -> Sample:
    """Throughput: enqueue N at once and wait for all. Latency: one at a time."""
    if not latency:

        async def fan_out() -> int:
            await enqueue(0, config.children)
            await _poll(remaining)
            return config.children

        seconds, completed = await timed(fan_out, config.budget)
        left = 0 if completed is not None else await remaining()
        return Sample(seconds, config.children - left, config.children)
    latencies: list[float] = []

    async def one_by_one() -> int:
        await enqueue(-1, 1)  # warm up, untimed
        await _poll(remaining)
        for i in range(config.latency_runs):
            start = time.perf_counter()
            await enqueue(i, 1)
            await _poll(remaining)
            latencies.append(time.perf_counter() - start)
        return len(latencies)

    seconds, _ = await timed(one_by_one, config.budget)
    return Sample(seconds, len(latencies), config.latency_runs, latencies)


async def _install(peer: str, url: str) -> None:
    if peer == "pgqueuer":
        import psycopg
        from pgqueuer.queries import Queries

        async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
            await Queries.from_psycopg_connection(conn).install()
    else:
        import procrastinate

        app = procrastinate.App(connector=procrastinate.PsycopgConnector(conninfo=url))
        async with app.open_async():
            await app.schema_manager.apply_schema_async()


CALLERS = {"pgqueuer": _pgqueuer_caller, "procrastinate": _procrastinate_caller}


#: what each peer's worker processes import beyond the peer itself
_WORKER_NEEDS = {"pgqueuer": ("asyncpg",), "procrastinate": ()}


def _run(peer: str, config: Config, latency: bool) -> list[Sample]:
    for module in (peer, *_WORKER_NEEDS[peer]):
        try:
            __import__(module)
        except ImportError as exc:
            raise Skipped(f"{module} is not installed ({exc}); pip install -e '.[bench]'") from None
    logging.getLogger(peer).setLevel(logging.WARNING)
    samples = []
    for _ in range(config.repeat):
        with postgres_database(peer) as url, processes(peer) as workers:
            asyncio.run(_install(peer, url))
            _serve(peer, url, 1 if latency else config.workers, workers)
            pids = [process.pid for process in workers.processes]
            meter = None if latency else workers_and_server(url, pids, server_dsn())
            if meter is not None:
                meter.start()
            sample = asyncio.run(CALLERS[peer](url, config, latency))
            if meter is not None:
                sample = dataclasses.replace(sample, cpu=meter.stop(config.children))
            samples.append(sample)
        if samples[-1].completed < samples[-1].expected:
            break
    return samples


def pgqueuer(config: Config) -> list[Sample]:
    return _run("pgqueuer", config, latency=False)


def procrastinate(config: Config) -> list[Sample]:
    return _run("procrastinate", config, latency=False)


def pgqueuer_latency(config: Config) -> list[Sample]:
    return _run("pgqueuer", config, latency=True)


def procrastinate_latency(config: Config) -> list[Sample]:
    return _run("procrastinate", config, latency=True)


if __name__ == "__main__":
    logging.basicConfig(level=logging.WARNING)
    asyncio.run(SERVERS[sys.argv[1]](sys.argv[2]))
