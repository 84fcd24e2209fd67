"""``PostgresStore``: the ``RunStore`` protocol on a Postgres schema shared by worker
processes on many machines.

This module owns the connections (a ``psycopg_pool.ConnectionPool`` whose connections
search only the store's schema, plus the listener's) and runs every operation as one
transaction: driver errors are translated here, a transaction the server rolled back
(deadlock, serialization failure) is retried with backoff, a lost database is waited for
within the URL's ``reconnect_seconds`` and a COMMIT whose answer was lost is settled by
its transaction id (``reconnect``), and a change other processes should hear about sends
one NOTIFY before the commit. What each operation does is in the modules named after it.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import psycopg
from psycopg import sql
from psycopg.types.json import set_json_loads
from psycopg_pool import ConnectionPool, PoolTimeout

from flowsim.errors import ConfigurationError, RunNotFoundError, TaskRunError
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
from flowsim_postgres import (
    batch,
    claims,
    conditions,
    crons,
    durable,
    errors,
    filters,
    outcomes,
    placement,
    rate_limits,
    reconnect,
    runs,
    streams,
    timing,
    workers,
)
from flowsim_postgres.listen import Listener
from flowsim_postgres.migrate import migrate as apply_migrations
from flowsim_postgres.reconnect import FIRST_BACKOFF, Outage
from flowsim_postgres.rows import Conn, Session, SpecCache, loads_jsonb
from flowsim_postgres.urls import DEFAULT_CONNECT_TIMEOUT, PostgresURL, parse_url

T = TypeVar("T")
#: runs of a transaction the server rolled back before giving up (backoff between them)
ATTEMPTS = 4
#: seconds an operation waits for a free pooled connection
POOL_WAIT = 30.0
#: the pool is asked for at most this long at a time, so a server that went down while we
#: waited is noticed (and waited for with backoff) instead of timing out the whole wait
POOL_SLICE = 1.0
#: pipeline mode needs libpq 14 (psycopg[binary] bundles a newer one)
PIPELINES = psycopg.Pipeline.is_supported()


class PostgresStore:
    def __init__(self, url: str | PostgresURL) -> None:
        self.url = parse_url(url) if isinstance(url, str) else url
        self.display_url = self.url.display
        self.schema = self.url.schema
        self._specs = SpecCache()
        #: ends of placement patience this process's claims passed over (next_wakeup)
        self._deferred = Deferrals()
        defaults = {"connect_timeout": DEFAULT_CONNECT_TIMEOUT, "application_name": "flowsim"}
        kwargs: dict[str, Any] = {
            key: value for key, value in defaults.items() if key not in self.url.libpq_keys
        }
        self._connect_kwargs = kwargs
        self._probe()
        self._pool: ConnectionPool[Conn] = ConnectionPool(
            self.url.conninfo,
            kwargs={**kwargs, "autocommit": False},
            min_size=self.url.pool_min,
            max_size=self.url.pool_max,
            configure=self._configure,
            open=False,
            timeout=POOL_WAIT,
            # no reconnecting in the background on the pool's own (uncapped) backoff:
            # an operation that finds the server gone waits for it itself (_connection)
            reconnect_timeout=0,
            name=f"flowsim {self.display_url}",
        )
        try:
            self._pool.open(wait=True, timeout=DEFAULT_CONNECT_TIMEOUT * 2)
        except PoolTimeout as exc:
            self._pool.close()
            raise errors.unreachable(self.display_url, exc) from exc
        self._listener = Listener(self.url.conninfo, kwargs, self.url.channel)
        self.closed = False

    def __repr__(self) -> str:
        return f"PostgresStore({self.display_url!r})"

    def _probe(self) -> None:
        """Connect once, so an unreachable or refusing server is reported with its reason
        within the connect timeout (a pool would only time out, without one). Opening
        does not wait for the server: nothing is in flight yet, and a wrong URL or a
        server that is down should be said at once, not after the reconnect window."""
        down = self._unreachable()
        if down is not None:
            # the cause without its frames: psycopg.connect's show the connection string
            raise errors.unreachable(self.display_url, down) from down.with_traceback(None)

    def _configure(self, conn: Conn) -> None:
        """Every pooled connection finds the store's tables, sequences only in its schema.

        JIT compilation is turned off: the planner's estimate for a claim of 1,000 task runs
        crosses ``jit_above_cost`` (its per-row subqueries look dear before statistics
        exist), and compiling then cost ~20 ms of a ~30 ms statement; nothing a store runs
        is long enough to win it back.

        Random page reads are priced as the cached reads they are: at the default price the
        lease scan every ``expire`` makes (a handful of due rows among thousands held) read
        the whole table instead of its index, ~2 ms a call while a fan-out ran."""
        conn.execute(sql.SQL("SET search_path TO {}").format(sql.Identifier(self.schema)))
        set_json_loads(loads_jsonb, conn)
        conn.execute("SET jit = off")
        conn.execute("SET random_page_cost = 1.1")
        conn.commit()

    # ------------------------------------------------------------ transactions

    def _run(
        self,
        action: str,
        body: Callable[[Session], T],
        read_only: bool = False,
        pipeline: bool = True,
        outage: Outage | None = None,
        idempotent: bool = False,
    ) -> T:
        """Run ``body`` in one transaction and commit it; every driver error leaves as
        ``StoreError`` naming ``action``, a database lost for longer than the reconnect
        window as ``DatabaseLostError``.

        Retried: a transaction the server rolled back (deadlock, serialization failure;
        ``ATTEMPTS`` times) and one whose connection was lost (until the window closes).
        A connection lost at COMMIT is settled by asking the server whether the
        transaction's id committed (``reconnect``), so nothing is applied twice; an
        ``idempotent`` body (a heartbeat: running it twice is harmless) skips reading its
        id, which costs a round trip where the body reads nothing, and is simply rerun.

        The body runs in pipeline mode: a statement whose result is not read is sent with
        the next one that is, so the writes ending a transaction, its NOTIFY and COMMIT
        cost one round trip together."""
        outage = outage or Outage(self.display_url, self.url.reconnect_seconds)
        delay = FIRST_BACKOFF
        attempt = 0
        while True:
            attempt += 1
            conn = self._connection(action, outage)
            commit = _Commit(conn.info.backend_pid)
            computed: list[T] = []
            try:
                settle = not (read_only or idempotent)
                return self._once(conn, body, read_only, pipeline, settle, commit, computed)
            except RunNotFoundError as exc:  # name the store, as every error here does
                raise RunNotFoundError(f"{exc} ({self.display_url})") from None
            except psycopg.Error as exc:
                failure, lost = exc, reconnect.is_lost(conn, exc, commit.sent)
            finally:
                self._pool.putconn(conn)  # first: settling a lost COMMIT needs a connection
            if lost:
                self._pool.check()  # replace the pool's other dead connections too
                if commit.sent and commit.xid is not None:
                    where = f"{action} (lost at COMMIT: whether it applied is unknown)"
                    if self._committed(where, commit.xid, commit.pid, outage, failure):
                        return computed[0]
                outage.lost(action, failure)
                continue
            if attempt >= ATTEMPTS or not errors.is_retryable(failure):
                raise errors.failed(self.display_url, action, failure) from failure
            time.sleep(delay)
            delay *= 3

    def _once(
        self,
        conn: Conn,
        body: Callable[[Session], T],
        read_only: bool,
        pipeline: bool,
        settle: bool,
        commit: _Commit,
        computed: list[T],
    ) -> T:
        """One try of ``_run``: ``commit`` records whether COMMIT was sent and for which
        transaction id, ``computed`` the result, for settling a COMMIT that was lost."""
        session = Session(conn, self._specs)
        try:
            with conn.pipeline() if pipeline and PIPELINES else contextlib.nullcontext():
                if read_only:
                    conn.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY")
                marker = conn.execute(reconnect.TRANSACTION_ID) if settle else None
                computed.append(body(session))
                if session.changed:
                    conn.execute("SELECT pg_notify(%s, '')", (self.url.channel,))
                if marker is not None:
                    row = marker.fetchone()
                    commit.xid = None if row is None else row[0]
                commit.sent = True
                conn.commit()
        except BaseException:
            _rollback_quietly(conn)
            raise
        return computed[0]

    def _connection(self, action: str, outage: Outage) -> Conn:
        """A pooled connection; while the database is away, the server is probed (with the
        outage's backoff) before the pool is asked, since the pool cannot tell a server
        that is down from one whose connections are all busy."""
        deadline = time.monotonic() + POOL_WAIT
        while True:
            if outage.active:
                down = self._unreachable()
                if down is not None:
                    outage.lost(action, down)
                    continue
            wait = max(0.001, min(POOL_SLICE, deadline - time.monotonic()))
            try:
                return self._pool.getconn(timeout=wait)
            except PoolTimeout as exc:
                down = self._unreachable()
                if down is not None:
                    outage.lost(action, down)
                elif time.monotonic() >= deadline:  # up, but every connection is busy
                    raise errors.failed(self.display_url, action, exc) from exc
            except psycopg.Error as exc:  # the store is closed
                raise errors.failed(self.display_url, action, exc) from exc

    def _unreachable(self) -> psycopg.Error | None:
        """Why a fresh connection to the server fails now, or None if it succeeds."""
        try:
            psycopg.connect(self.url.conninfo, autocommit=True, **self._connect_kwargs).close()
        except psycopg.Error as exc:
            return exc
        return None

    def _committed(
        self, action: str, xid: str, backend_pid: int, outage: Outage, lost: psycopg.Error
    ) -> bool:
        """Whether the transaction ``xid``, whose COMMIT lost its connection, committed;
        asked on a new connection once the server answers (within the outage's window)."""
        while True:
            outage.lost(action, lost)
            status = self._run(
                f"{action}, checking its outcome",
                lambda s: reconnect.commit_status(s.conn, xid, backend_pid),
                read_only=True,
                outage=outage,
            )
            if status == "committed":
                return True
            if status == "aborted":
                return False
            if status is None:
                raise errors.failed(self.display_url, action, lost)
            # in progress: the lost session still held it; it was ended, so ask again

    # ------------------------------------------------------------ lifecycle

    def migrate(self) -> None:
        def body(session: Session) -> None:
            apply_migrations(session.conn, self.schema, self.display_url)

        try:
            # a migration file is many statements; applying one is recorded, and skipped after
            self._run("migrate", body, pipeline=False, idempotent=True)
        except errors.StoreError as exc:  # e.g. no CREATE privilege: the setup is at fault
            raise ConfigurationError(
                f"{exc} (flowsim creates its tables in schema {self.schema!r}; the user needs "
                "the right to create it, or to create tables in it)"
            ) from exc

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        self._listener.close()
        self._pool.close()

    # ------------------------------------------------------------ runs

    def create_runs(
        self,
        requests: Sequence[RunRequest],
        now: float,
        parent_task_run_id: str | None = None,
        parent_token: int | None = None,
    ) -> list[RunView | Collision]:
        return self._run(
            "create_runs",
            lambda s: placement.create_runs(s, requests, now, parent_task_run_id, parent_token),
            pipeline=not runs.copies(len(requests)),
        )

    def get_runs(self, run_ids: Sequence[str], *, attempts: bool = True) -> list[RunView]:
        return self._run(
            "get_runs", lambda s: runs.get_runs(s.conn, run_ids, attempts), read_only=True
        )

    def get_progress(self, run_ids: Sequence[str]) -> list[RunProgress]:
        return self._run(
            "get_progress", lambda s: runs.get_progress(s.conn, run_ids), read_only=True
        )

    def run_ids(self) -> list[str]:
        return self._run("run_ids", lambda s: runs.run_ids(s.conn), read_only=True)

    def finished_since(self, cursor: int | None) -> Finished:
        return self._run(
            "finished_since", lambda s: runs.finished_since(s.conn, cursor), read_only=True
        )

    # ------------------------------------------------------------ claims and outcomes

    def claim(
        self,
        worker_id: str,
        workflows: Sequence[str],
        pool: SlotPool,
        free: int,
        now: float,
        lease_seconds: float,
    ) -> list[Claim]:
        return self._run(
            "claim",
            lambda s: claims.claim(
                s, worker_id, workflows, pool, free, now, lease_seconds, self._deferred
            ),
        )

    def complete(self, task_run_id: str, token: int, output: JSON, now: float) -> Outcome:
        return self._run(
            "complete", lambda s: outcomes.complete(s, task_run_id, token, output, now)
        )

    def complete_many(self, items: Sequence[Completion], now: float) -> list[Outcome]:
        if not items:
            return []
        return self._run("complete_many", lambda s: batch.complete_many(s, items, now))

    def fail(
        self,
        task_run_id: str,
        token: int,
        error: TaskRunError,
        non_retryable: bool,
        now: float,
        retry_after: float | None = None,
    ) -> Outcome:
        return self._run(
            "fail",
            lambda s: outcomes.fail(s, task_run_id, token, error, non_retryable, now, retry_after),
        )

    def replay_tasks(self, task_run_ids: Sequence[str], now: float) -> Outcome:
        return self._run("replay_tasks", lambda s: outcomes.replay_tasks(s, task_run_ids, now))

    def cancel_run(self, run_id: str, reason: str, now: float) -> Outcome:
        return self._run("cancel_run", lambda s: outcomes.cancel_run(s, run_id, reason, now))

    # ------------------------------------------------------------ conditions

    def push_event(self, key: str, payload: JSON, additional_metadata: JSON, now: float) -> Outcome:
        return self._run(
            "push_event",
            lambda s: conditions.push_event(s, key, payload, additional_metadata, now),
        )

    # ------------------------------------------------------------ streams

    def put_stream(self, run_id: str, task_run_id: str, index: int, data: str, now: float) -> None:
        self._run(
            "put_stream",
            lambda s: streams.put_stream(s, run_id, task_run_id, index, data, now),
        )

    def stream_position(self, run_id: str) -> int:
        return self._run(
            "stream_position", lambda s: streams.stream_position(s.conn, run_id), read_only=True
        )

    def read_stream(self, run_id: str, after: int) -> list[StreamChunk]:
        return self._run(
            "read_stream", lambda s: streams.read_stream(s.conn, run_id, after), read_only=True
        )

    # ------------------------------------------------------------ event filters

    def create_filter(self, new: StoredFilter) -> StoredFilter:
        return self._run("create_filter", lambda s: filters.create_filter(s, new))

    def get_filter(self, filter_id: str) -> StoredFilter | None:
        return self._run(
            "get_filter", lambda s: filters.get_filter(s.conn, filter_id), read_only=True
        )

    def update_filter(
        self, filter_id: str, change: FilterChange, now: float
    ) -> StoredFilter | None:
        return self._run(
            "update_filter", lambda s: filters.update_filter(s, filter_id, change, now)
        )

    def delete_filter(self, filter_id: str) -> StoredFilter | None:
        return self._run("delete_filter", lambda s: filters.delete_filter(s, filter_id))

    def list_filters(
        self,
        workflow_ids: Sequence[str] | None,
        scopes: Sequence[str] | None,
        limit: int,
        offset: int,
    ) -> tuple[list[StoredFilter], int]:
        return self._run(
            "list_filters",
            lambda s: filters.list_filters(s.conn, workflow_ids, scopes, limit, offset),
            read_only=True,
        )

    # ------------------------------------------------------------ crons

    def create_cron(self, new: StoredCron) -> StoredCron:
        return self._run("create_cron", lambda s: crons.create_cron(s, new))

    def get_cron(self, cron_id: str) -> StoredCron | None:
        return self._run("get_cron", lambda s: crons.get_cron(s.conn, cron_id), read_only=True)

    def delete_cron(self, cron_id: str) -> StoredCron | None:
        return self._run("delete_cron", lambda s: crons.delete_cron(s, cron_id))

    def list_crons(self) -> list[StoredCron]:
        return self._run("list_crons", lambda s: crons.list_crons(s.conn), read_only=True)

    def open_wait(
        self, wait_id: str, task_run_id: str, specs: Sequence[ConditionSpec], now: float
    ) -> None:
        self._run("open_wait", lambda s: conditions.open_wait(s, wait_id, task_run_id, specs, now))

    def wait_result(self, wait_id: str) -> JSON:
        return self._run(
            "wait_result", lambda s: conditions.wait_result(s.conn, wait_id), read_only=True
        )

    # ------------------------------------------------------------ time

    # ------------------------------------------------------------ durable tasks

    def durable_steps(self, task_run_id: str) -> list[DurableStep]:
        return self._run(
            "durable_steps", lambda s: durable.durable_steps(s.conn, task_run_id), read_only=True
        )

    def record_steps(self, task_run_id: str, steps: Sequence[DurableStep]) -> list[DurableStep]:
        return self._run("record_steps", lambda s: durable.record_steps(s, task_run_id, steps))

    def evict(
        self,
        task_run_id: str,
        token: int,
        resume_at: float | None,
        awaiting: Sequence[str],
        reason: str,
        now: float,
    ) -> Outcome:
        return self._run(
            "evict",
            lambda s: durable.evict(s, task_run_id, token, resume_at, awaiting, reason, now),
        )

    def expire(self, now: float) -> Outcome:
        # what is due and not yet handled: handled once, whoever asks again
        return self._run("expire", lambda s: timing.expire(s, now), idempotent=True)

    def next_wakeup(self, now: float) -> float | None:
        stored = self._run("next_wakeup", lambda s: timing.next_wakeup(s.conn), idempotent=True)
        deferred = self._deferred.next_after(now)
        return min((t for t in (stored, deferred) if t is not None), default=None)

    def put_rate_limit(self, key: str, limit: int, window: float, now: float) -> Outcome:
        released = self._run(
            "put_rate_limit",
            lambda s: rate_limits.put_rate_limit(s, key, limit, window, now),
        )
        return Outcome(queued=released)

    def wait_for_change(self, timeout: float) -> None:
        self._listener.wait(timeout)

    # ------------------------------------------------------------ workers and waits

    def register_worker(self, info: WorkerInfo, now: float, lease_seconds: float) -> None:
        self._run(
            "register_worker",
            lambda s: workers.register_worker(s.conn, info, now, lease_seconds),
            idempotent=True,
        )

    def heartbeat(self, worker_id: str, now: float, lease_seconds: float) -> None:
        self._run(
            "heartbeat",
            lambda s: workers.heartbeat(s.conn, worker_id, now, lease_seconds),
            idempotent=True,
        )

    def server_time(self) -> float:
        """The database server's clock, which every machine sharing it reads alike
        (``flowsim.engine.clock_skew``)."""
        return float(
            self._run(
                "server_time",
                lambda s: s.conn.execute("SELECT extract(epoch FROM clock_timestamp())").fetchone()[
                    0
                ],  # type: ignore[index]
                read_only=True,
            )
        )

    def set_worker_labels(self, worker_id: str, labels: dict[str, LabelValue]) -> None:
        self._run(
            "set_worker_labels",
            lambda s: placement.set_labels(s.conn, worker_id, labels),
            idempotent=True,
        )

    def stop_worker(self, worker_id: str) -> None:
        self._run("stop_worker", lambda s: workers.stop_worker(s.conn, worker_id), idempotent=True)

    def set_waiting(self, task_run_id: str, run_ids: Sequence[str]) -> None:
        self._run(
            "set_waiting",
            lambda s: workers.set_waiting(s.conn, task_run_id, run_ids),
            idempotent=True,
        )

    def snapshot(self, now: float, awaited: Sequence[str] = ()) -> Snapshot:
        return self._run(
            "snapshot", lambda s: workers.snapshot(s.conn, now, awaited), read_only=True
        )


@dataclass(slots=True)
class _Commit:
    """How far one try of a transaction got: whether its COMMIT was sent, and the
    transaction id to ask the server about if that COMMIT's answer was lost."""

    pid: int
    sent: bool = False
    xid: str | None = None


def _rollback_quietly(conn: Conn) -> None:
    with contextlib.suppress(psycopg.Error):  # a broken connection: the pool replaces it
        conn.rollback()


def open_store(url: str | PostgresURL) -> PostgresStore:
    """Connect (failing within seconds if the server cannot be reached) and migrate."""
    store = PostgresStore(url)
    try:
        store.migrate()
    except BaseException:
        store.close()
        raise
    return store
