"""The floors: what a bare job table does on each database, with no engine at all.

The caller inserts N rows (one statement), then worker processes claim batches and mark
them done until none is left: on Postgres ``UPDATE ... WHERE id IN (SELECT ... FOR UPDATE
SKIP LOCKED)``, on SQLite a select and update inside ``BEGIN IMMEDIATE`` on one WAL file.
Each batch is two transactions (claim, then complete, one statement each on Postgres), the
least a queue with at-least-once delivery needs, and as large as a flowsim worker's claim
can be (``--slots``, 1,000). Timed from the insert until every worker has found the table
drained; the workers are started and connected before the clock starts. Durability is as
flowsim sets it: Postgres ``synchronous_commit`` on, SQLite WAL with
``synchronous = NORMAL``.
"""

from __future__ import annotations

import multiprocessing
import sqlite3
import time
from collections.abc import Callable
from typing import Any

from benchmarks._common import Config, Sample
from benchmarks._places import READY_SECONDS, postgres_database, sqlite_file

PG_SCHEMA = """
CREATE TABLE jobs (
    id bigserial PRIMARY KEY,
    payload jsonb NOT NULL,
    status smallint NOT NULL DEFAULT 0,
    result jsonb
);
CREATE INDEX jobs_queued ON jobs (id) WHERE status = 0;
"""
PG_CLAIM = """
UPDATE jobs SET status = 1
WHERE id IN (SELECT id FROM jobs WHERE status = 0 ORDER BY id LIMIT %s FOR UPDATE SKIP LOCKED)
RETURNING id, payload
"""
PG_DONE = """
UPDATE jobs SET status = 2, result = done.result
FROM unnest(%s::bigint[], %s::jsonb[]) AS done (id, result)
WHERE jobs.id = done.id
"""

SQLITE_SCHEMA = """
CREATE TABLE jobs (
    id INTEGER PRIMARY KEY,
    payload TEXT NOT NULL,
    status INTEGER NOT NULL DEFAULT 0,
    result TEXT
);
CREATE INDEX jobs_queued ON jobs (id) WHERE status = 0;
"""


# ------------------------------------------------------------------ worker processes


def _postgres_worker(url: str, batch: int, ready: Any, go: Any, done: Any) -> None:
    import psycopg
    from psycopg.types.json import Jsonb

    with psycopg.connect(url, autocommit=True) as conn:
        ready.wait()
        go.wait()
        count = 0
        while True:
            with conn.transaction():
                claimed = conn.execute(PG_CLAIM, (batch,)).fetchall()
            if not claimed:
                break
            ids = [job_id for job_id, _ in claimed]
            results = [Jsonb({"i": payload["i"]}) for _, payload in claimed]
            conn.execute(PG_DONE, (ids, results))
            count += len(claimed)
    done.put(count)


def _sqlite_connect(path: str) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None, timeout=30)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("PRAGMA synchronous = NORMAL")
    return conn


def _sqlite_worker(path: str, batch: int, ready: Any, go: Any, done: Any) -> None:
    import json

    conn = _sqlite_connect(path)
    ready.wait()
    go.wait()
    count = 0
    while True:
        conn.execute("BEGIN IMMEDIATE")
        claimed = conn.execute(
            "SELECT id, payload FROM jobs WHERE status = 0 ORDER BY id LIMIT ?", (batch,)
        ).fetchall()
        conn.executemany("UPDATE jobs SET status = 1 WHERE id = ?", [(i,) for i, _ in claimed])
        conn.execute("COMMIT")
        if not claimed:
            break
        results = [(json.dumps({"i": json.loads(p)["i"]}), i) for i, p in claimed]
        conn.execute("BEGIN IMMEDIATE")
        conn.executemany("UPDATE jobs SET status = 2, result = ? WHERE id = ?", results)
        conn.execute("COMMIT")
        count += len(claimed)
    conn.close()
    done.put(count)


# ------------------------------------------------------------------ the timed part


def _drain(
    worker: Callable[[str, int, Any, Any, Any], None],
    target: str,
    insert: Callable[[], None],
    config: Config,
) -> Sample:
    """Start the workers and wait until each has connected, then time ``insert()`` plus
    their draining of the table."""
    context = multiprocessing.get_context("spawn")
    ready, go, done = context.Barrier(config.workers + 1), context.Event(), context.Queue()
    workers = [
        context.Process(target=worker, args=(target, config.slots, ready, go, done))
        for _ in range(config.workers)
    ]
    for process in workers:
        process.start()
    try:
        ready.wait(timeout=READY_SECONDS)
        start = time.perf_counter()
        insert()
        go.set()
        completed = sum(done.get(timeout=config.budget) for _ in workers)
        seconds = time.perf_counter() - start
    finally:
        for process in workers:
            process.join(timeout=10)
            if process.is_alive():
                process.kill()
    return Sample(seconds, completed)


def _postgres_once(config: Config) -> Sample:
    import psycopg
    from psycopg.types.json import Jsonb

    with postgres_database("floor") as url, psycopg.connect(url, autocommit=True) as conn:
        conn.execute(PG_SCHEMA)

        def insert() -> None:
            conn.execute(
                "INSERT INTO jobs (payload) SELECT * FROM unnest(%s::jsonb[])",
                ([Jsonb({"i": i}) for i in range(config.children)],),
            )

        return _drain(_postgres_worker, url, insert, config)


def _sqlite_once(config: Config) -> Sample:
    with sqlite_file("floor") as path:
        conn = _sqlite_connect(str(path))
        conn.executescript(SQLITE_SCHEMA)

        def insert() -> None:
            conn.execute("BEGIN IMMEDIATE")
            conn.executemany(
                "INSERT INTO jobs (payload) VALUES (?)",
                [(f'{{"i": {i}}}',) for i in range(config.children)],
            )
            conn.execute("COMMIT")

        try:
            return _drain(_sqlite_worker, str(path), insert, config)
        finally:
            conn.close()


def postgres(config: Config) -> list[Sample]:
    """Raw psycopg: insert N rows, worker processes claim batches with SKIP LOCKED."""
    return [_postgres_once(config) for _ in range(config.repeat)]


def sqlite(config: Config) -> list[Sample]:
    """Raw sqlite3: insert N rows, worker processes claim batches in BEGIN IMMEDIATE."""
    return [_sqlite_once(config) for _ in range(config.repeat)]
