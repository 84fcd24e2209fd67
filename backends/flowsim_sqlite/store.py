"""``SqliteStore``: the ``RunStore`` protocol on one SQLite file shared by worker processes
on one machine.

This module owns the connection and the transactions; what each operation does is in the
module named after it. Every operation is one transaction on one connection, called
inline (no thread hop): writes in ``BEGIN IMMEDIATE``, which takes the file's write lock
up front so a transaction never has to upgrade a read lock and fail half-way; reads in a
deferred transaction, which in WAL mode sees one consistent state and never blocks a
writer. A lock serialises the threads of one process on the connection (the engine's loop,
a user thread blocked in ``run()``, the change-feed thread). ``sqlite3`` errors become
``StoreError``/``ConfigurationError`` here and nowhere else.

The one place SQLite polls is ``wait_for_change``: SQLite has no cross-process
notification, so it reads ``PRAGMA data_version`` (a counter that moves when another
connection commits; a read of shared memory, no I/O) every 0.2 ms at first, backing off to
every 1 ms while commits keep coming (one seen in the last second: the next batch of a
fan-out, or the result a caller waits for, is seen at once) and to every 50 ms once the
file has been quiet for a second. The round trip of one child is two such waits (the
worker's, then the caller's): with a 5 ms cap it took 3.2 ms at the median, with 1 ms
2.0 ms, for 4% of a core while commits come (1.4% with 5 ms; 0.5 ms gave 1.4 ms for
6.7%), and a 10,000-child fan-out runs as fast.
"""

from __future__ import annotations

import contextlib
import gc
import sqlite3
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Concatenate, ParamSpec, TypeVar

from flowsim.errors import ConfigurationError, TaskRunError
from flowsim.idempotency import Collision
from flowsim.placement import LabelValue
from flowsim.rules import SlotPool
from flowsim.store.conditions import ConditionSpec
from flowsim.store.cron_records import StoredCron
from flowsim.store.durable_log import DurableStep
from flowsim.store.event_filters import FilterChange, StoredFilter
from flowsim.store.placement_filter import Deferrals
from flowsim.store.protocol import (
    Claim,
    Completion,
    Finished,
    Outcome,
    RunProgress,
    RunRequest,
    RunView,
    Snapshot,
    StreamChunk,
    WorkerInfo,
)
from flowsim.store.records import JSON
from flowsim_sqlite import (
    claims,
    conditions,
    crons,
    durable,
    errors,
    filters,
    migrate,
    outcomes,
    placement,
    rate_limits,
    runs,
    streams,
    workers,
)
from flowsim_sqlite.busy import retry_busy
from flowsim_sqlite.checkpoint import BACKSTOP_PAGES, Checkpointer
from flowsim_sqlite.dag import outcome
from flowsim_sqlite.rows import (
    IdMaker,
    SpecCache,
    Tx,
    dumps,
    read_progress,
    read_run_ids,
    read_views,
)
from flowsim_sqlite.urls import parse_url

P = ParamSpec("P")
T = TypeVar("T")

#: seconds a transaction waits for another process's write lock before failing
BUSY_TIMEOUT = 5.0
#: ``wait_for_change`` polling: first interval, and the cap it doubles up to when quiet
POLL_FIRST = 0.0002
POLL_MAX = 0.05
#: the cap while commits keep coming: one was seen within the last HOT_SECONDS
POLL_HOT_MAX = 0.001
HOT_SECONDS = 1.0


def connect(path: Path, busy_timeout: float = BUSY_TIMEOUT) -> sqlite3.Connection:
    """Open the file and check, with reads only, that it is empty or ours; then switch it
    to WAL. Nothing is written to a file that is refused. The connection has no busy
    timeout of its own: callers wait with ``busy.retry_busy``."""
    migrate.check_header(path)
    try:
        conn = sqlite3.connect(
            str(path),
            timeout=0,
            isolation_level=None,
            check_same_thread=False,
            cached_statements=256,
        )
    except sqlite3.Error as exc:
        raise errors.cannot_open(path, exc) from exc

    def set_up() -> None:  # every step is idempotent: all of it is retried while busy
        conn.execute("PRAGMA foreign_keys = ON")
        conn.execute("PRAGMA synchronous = NORMAL")  # reads the header: may find it busy
        migrate.inspect(conn, path)
        conn.execute("PRAGMA journal_mode = WAL").fetchall()
        conn.execute(f"PRAGMA wal_autocheckpoint = {BACKSTOP_PAGES}")

    try:
        retry_busy(set_up, busy_timeout)
    except ConfigurationError:
        conn.close()
        raise
    except sqlite3.OperationalError as exc:  # cannot open, busy past the timeout
        conn.close()
        raise errors.cannot_open(path, exc) from exc
    except sqlite3.DatabaseError as exc:  # SQLITE_NOTADB, SQLITE_CORRUPT: even a pragma
        conn.close()  # may read the header and find it is not a database
        raise errors.not_a_database(path, str(exc)) from exc
    return conn


#: task runs whose spec a store remembers from its claims (``SqliteStore._claimed_specs``)
CLAIMED_SPECS_LIMIT = 100_000


class SqliteStore:
    def __init__(self, url: str, busy_timeout: float = BUSY_TIMEOUT) -> None:
        self.path = parse_url(url)
        self.display_url = url
        self._busy_timeout = busy_timeout
        self._lock = threading.Lock()
        self._specs = SpecCache()
        #: ends of placement patience this process's claims passed over (next_wakeup)
        self._deferred = Deferrals()
        self._ids = IdMaker()
        #: task run id -> spec id of what this store claimed and has not completed: which
        #: completions can be written set-wise is known from it without a query under the
        #: write lock (a task run's spec never changes)
        self._claimed_specs: dict[str, int] = {}
        self._conn = connect(self.path, busy_timeout)
        try:
            self._seen_version = retry_busy(self._data_version, busy_timeout)
        except sqlite3.Error as exc:
            self._conn.close()
            raise errors.cannot_open(self.path, exc) from exc
        self._checkpointer = Checkpointer(self.path)
        #: when ``wait_for_change`` last saw another connection's commit (monotonic)
        self._changed_at = 0.0
        self.closed = False
        #: set by ``close``: a ``wait_for_change`` asleep between two polls returns at once
        self._closing = threading.Event()

    def __repr__(self) -> str:
        return f"SqliteStore({self.display_url!r})"

    # ------------------------------------------------------------ transactions

    def _data_version(self) -> int:
        return int(self._conn.execute("PRAGMA data_version").fetchone()[0])

    def _transact(
        self,
        begin: str,
        action: str,
        operation: Callable[Concatenate[Tx, P], T],
        *args: P.args,
        **kwargs: P.kwargs,
    ) -> T:
        with self._lock:
            if self.closed:
                raise errors.StoreError(
                    f"SQLite run store {self.display_url}: {action} after close"
                )
            conn = self._conn

            def attempt() -> tuple[T, Tx]:
                tx = Tx(conn, self._ids)
                # no cyclic collection while the transaction is open: an operation on
                # 10,000 rows allocates enough containers to set off collections that
                # scan the whole heap (a quarter of a get_runs of 10k, here), with the
                # write lock held. They run after it instead, as the allocations go on.
                collecting = gc.isenabled()
                if collecting:
                    gc.disable()
                try:
                    conn.execute(begin)
                    try:
                        result = operation(tx, *args, **kwargs)
                        conn.execute("COMMIT")
                    except BaseException:
                        if conn.in_transaction:
                            with contextlib.suppress(sqlite3.Error):
                                conn.execute("ROLLBACK")
                        raise
                finally:
                    if collecting:
                        gc.enable()
                return result, tx

            try:
                result, tx = retry_busy(attempt, self._busy_timeout)
            except sqlite3.Error as exc:
                raise errors.failed(self.path, action, exc) from exc
            for remember in tx.on_commit:
                remember()
            return result

    def _write(
        self,
        action: str,
        operation: Callable[Concatenate[Tx, P], T],
        *args: P.args,
        **kwargs: P.kwargs,
    ) -> T:
        return self._transact("BEGIN IMMEDIATE", action, operation, *args, **kwargs)

    def _read(
        self,
        action: str,
        operation: Callable[Concatenate[Tx, P], T],
        *args: P.args,
        **kwargs: P.kwargs,
    ) -> T:
        return self._transact("BEGIN", action, operation, *args, **kwargs)

    # ------------------------------------------------------------ lifecycle

    def migrate(self) -> None:
        with self._lock:
            try:
                retry_busy(lambda: migrate.migrate(self._conn, self.path), self._busy_timeout)
            except sqlite3.Error as exc:
                raise errors.cannot_open(self.path, exc) from exc

    def close(self) -> None:
        self._closing.set()
        with self._lock:
            if self.closed:
                return
            self.closed = True
        self._checkpointer.stop()
        with self._lock:
            self._conn.close()

    # ------------------------------------------------------------ runs

    def create_runs(
        self,
        requests: Sequence[RunRequest],
        now: float,
        parent_task_run_id: str | None = None,
        parent_token: int | None = None,
    ) -> list[RunView | Collision]:
        created = self._write(
            "create_runs",
            placement.create_runs,
            self._specs,
            requests,
            now,
            parent_task_run_id,
            parent_token,
            runs.encode_inputs(requests),
        )
        return created.views()  # after the commit: see runs.Created

    def get_runs(self, run_ids: Sequence[str], *, attempts: bool = True) -> list[RunView]:
        if not run_ids:
            return []
        return self._read("get_runs", read_views, run_ids, attempts)

    def get_progress(self, run_ids: Sequence[str]) -> list[RunProgress]:
        if not run_ids:
            return []
        return self._read("get_progress", read_progress, run_ids)

    def run_ids(self) -> list[str]:
        return self._read("run_ids", read_run_ids)

    def finished_since(self, cursor: int | None) -> Finished:
        return self._read("finished_since", runs.finished_since, cursor)

    # ------------------------------------------------------------ claiming and outcomes

    def claim(
        self,
        worker_id: str,
        workflows: Sequence[str],
        pool: SlotPool,
        free: int,
        now: float,
        lease_seconds: float,
    ) -> list[Claim]:
        taken = self._write(
            "claim", claims.claim, self._specs, worker_id, workflows, pool, free, now,
            lease_seconds, self._deferred,
        )  # fmt: skip
        if not taken:
            return []
        try:
            built = self._read("claim", claims.build, self._specs, taken)
        except Exception:
            # the task runs are held by this worker and its heartbeats would keep them so
            with contextlib.suppress(errors.StoreError):
                self._write("claim", outcomes.give_back, self._specs, taken, now)
            raise
        if len(self._claimed_specs) > CLAIMED_SPECS_LIMIT:  # completed elsewhere (leases lost)
            self._claimed_specs.clear()
        self._claimed_specs.update((row[0], row[2]) for row in taken)
        return built

    def complete(self, task_run_id: str, token: int, output: JSON, now: float) -> Outcome:
        return outcome(
            self._write("complete", outcomes.complete, self._specs, task_run_id, token, output, now)
        )

    def complete_many(self, items: Sequence[Completion], now: float) -> list[Outcome]:
        if not items:
            return []
        # encoded before the write lock is taken: nothing in the file changes them
        outputs = [dumps(item.output) for item in items]
        claimed = self._claimed_specs
        known = {i.task_run_id: claimed[i.task_run_id] for i in items if i.task_run_id in claimed}
        answers = self._write(
            "complete_many", outcomes.complete_many, self._specs, items, outputs, now, known,
            outcomes.encode_rows(items, outputs),
        )  # fmt: skip
        for item in items:
            claimed.pop(item.task_run_id, None)
        return outcomes.ended(answers)

    def fail(
        self,
        task_run_id: str,
        token: int,
        error: TaskRunError,
        non_retryable: bool,
        now: float,
        retry_after: float | None = None,
    ) -> Outcome:
        arguments = (task_run_id, token, error, non_retryable, now, retry_after)
        return outcome(self._write("fail", outcomes.fail, self._specs, *arguments))

    def replay_tasks(self, task_run_ids: Sequence[str], now: float) -> Outcome:
        return outcome(
            self._write("replay_tasks", outcomes.replay_tasks, self._specs, task_run_ids, now)
        )

    def cancel_run(self, run_id: str, reason: str, now: float) -> Outcome:
        return outcome(
            self._write("cancel_run", outcomes.cancel_run, self._specs, run_id, reason, now)
        )

    # ------------------------------------------------------------ durable tasks

    def durable_steps(self, task_run_id: str) -> list[DurableStep]:
        return self._read("durable_steps", durable.durable_steps, task_run_id)

    def record_steps(self, task_run_id: str, steps: Sequence[DurableStep]) -> list[DurableStep]:
        return self._write("record_steps", durable.record_steps, task_run_id, steps)

    def evict(
        self,
        task_run_id: str,
        token: int,
        resume_at: float | None,
        awaiting: Sequence[str],
        reason: str,
        now: float,
    ) -> Outcome:
        return outcome(
            self._write(
                "evict", durable.evict, task_run_id, token, resume_at, awaiting, reason, now
            )
        )

    # ------------------------------------------------------------ conditions

    def push_event(self, key: str, payload: JSON, additional_metadata: JSON, now: float) -> Outcome:
        return outcome(
            self._write("push_event", conditions.push_event, self._specs, key, payload,
                        additional_metadata, now)
        )  # fmt: skip

    # ------------------------------------------------------------ streams

    def put_stream(self, run_id: str, task_run_id: str, index: int, data: str, now: float) -> None:
        self._write("put_stream", streams.put_stream, run_id, task_run_id, index, data, now)

    def stream_position(self, run_id: str) -> int:
        return self._read("stream_position", streams.stream_position, run_id)

    def read_stream(self, run_id: str, after: int) -> list[StreamChunk]:
        return self._read("read_stream", streams.read_stream, run_id, after)

    # ------------------------------------------------------------ event filters

    def create_filter(self, new: StoredFilter) -> StoredFilter:
        return self._write("create_filter", filters.create_filter, new)

    def get_filter(self, filter_id: str) -> StoredFilter | None:
        return self._read("get_filter", filters.get_filter, filter_id)

    def update_filter(
        self, filter_id: str, change: FilterChange, now: float
    ) -> StoredFilter | None:
        return self._write("update_filter", filters.update_filter, filter_id, change, now)

    def delete_filter(self, filter_id: str) -> StoredFilter | None:
        return self._write("delete_filter", filters.delete_filter, filter_id)

    def list_filters(
        self,
        workflow_ids: Sequence[str] | None,
        scopes: Sequence[str] | None,
        limit: int,
        offset: int,
    ) -> tuple[list[StoredFilter], int]:
        return self._read("list_filters", filters.list_filters, workflow_ids, scopes, limit, offset)

    # ------------------------------------------------------------ crons

    def create_cron(self, new: StoredCron) -> StoredCron:
        return self._write("create_cron", crons.create_cron, new)

    def get_cron(self, cron_id: str) -> StoredCron | None:
        return self._read("get_cron", crons.get_cron, cron_id)

    def delete_cron(self, cron_id: str) -> StoredCron | None:
        return self._write("delete_cron", crons.delete_cron, cron_id)

    def list_crons(self) -> list[StoredCron]:
        return self._read("list_crons", crons.list_crons)

    def open_wait(
        self, wait_id: str, task_run_id: str, specs: Sequence[ConditionSpec], now: float
    ) -> None:
        self._write("open_wait", conditions.open_wait, task_run_id, wait_id, specs, now)

    def wait_result(self, wait_id: str) -> JSON:
        return self._read("wait_result", conditions.wait_result, wait_id)

    # ------------------------------------------------------------ time

    def expire(self, now: float) -> Outcome:
        """Every worker expires on every change it hears of; most find nothing due. That
        is asked in a read transaction first, so they do not queue for the write lock
        (with two workers writing 10,000 children, these writes were a third of the
        time spent waiting for it). The look includes parked durable task runs whose
        awaited runs ended: no clock says when those are due."""
        if not self._read("expire", outcomes.expire_due, now):
            return Outcome()
        return outcome(self._write("expire", outcomes.expire, self._specs, now))

    def next_wakeup(self, now: float) -> float | None:
        stored = self._read("next_wakeup", workers.next_wakeup, now)
        deferred = self._deferred.next_after(now)
        return min((t for t in (stored, deferred) if t is not None), default=None)

    def put_rate_limit(self, key: str, limit: int, window: float, now: float) -> Outcome:
        released = self._write(
            "put_rate_limit", rate_limits.put_rate_limit, key, limit, window, now
        )
        return Outcome(queued=released)

    def wait_for_change(self, timeout: float) -> None:
        """Poll ``PRAGMA data_version`` (see the module docstring) until another connection
        commits or ``timeout`` passes. A commit since the previous call returns at once, so
        nothing committed between two calls goes unnoticed."""
        deadline = time.monotonic() + timeout
        delay = POLL_FIRST
        while True:
            with self._lock:
                if self.closed:
                    return
                try:
                    version = self._data_version()
                except sqlite3.Error as exc:
                    raise errors.failed(self.path, "wait_for_change", exc) from exc
                if version != self._seen_version:
                    self._seen_version = version
                    self._changed_at = time.monotonic()
                    return
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                return
            if self._closing.wait(min(delay, remaining)):
                return
            hot = time.monotonic() - self._changed_at < HOT_SECONDS
            delay = min(delay * 2, POLL_HOT_MAX if hot else POLL_MAX)

    # ------------------------------------------------------------ workers and waits

    def register_worker(self, info: WorkerInfo, now: float, lease_seconds: float) -> None:
        self._write("register_worker", workers.register_worker, info, now, lease_seconds)

    def heartbeat(self, worker_id: str, now: float, lease_seconds: float) -> None:
        self._write("heartbeat", workers.heartbeat, worker_id, now, lease_seconds)

    def set_worker_labels(self, worker_id: str, labels: dict[str, LabelValue]) -> None:
        self._write("set_worker_labels", placement.set_labels, worker_id, labels)

    def stop_worker(self, worker_id: str) -> None:
        self._write("stop_worker", workers.stop_worker, worker_id)

    def set_waiting(self, task_run_id: str, run_ids: Sequence[str]) -> None:
        self._write("set_waiting", workers.set_waiting, task_run_id, run_ids)

    def snapshot(self, now: float, awaited: Sequence[str] = ()) -> Snapshot:
        return self._read("snapshot", workers.snapshot, now, awaited)


def open_store(url: str) -> SqliteStore:
    """Open and migrate the store a ``sqlite://`` URL names; ``ConfigurationError`` for a
    malformed URL or a file that cannot be opened, is not a database, or is not ours."""
    store = SqliteStore(url)
    try:
        store.migrate()
    except BaseException:
        store.close()
        raise
    return store
