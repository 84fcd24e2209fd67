"""``PostgresStore``: the ``RunStore`` protocol on a Postgres schema shared by worker
processes on many machines.

This module owns the connections (a ``psycopg_pool.ConnectionPool`` whose connections
search only the store's schema, plus the listener's) and runs every operation as one
transaction: driver errors are translated here, a transaction the server rolled back
(deadlock, lost connection before COMMIT) is retried with backoff, and a change other
processes should hear about sends one NOTIFY before the commit. What each operation does
is in the modules named after it.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import psycopg
from psycopg import errors as pg_errors
from psycopg import sql
from psycopg_pool import ConnectionPool, PoolTimeout

from flowsim.errors import ConfigurationError, RunNotFoundError, TaskRunError
from flowsim.rules import SlotPool
from flowsim.store.protocol import Claim, Outcome, RunRequest, RunView, Snapshot, WorkerInfo
from flowsim.store.records import JSON
from flowsim_postgres import claims, errors, outcomes, runs, timing, workers
from flowsim_postgres.listen import Listener
from flowsim_postgres.migrate import migrate as apply_migrations
from flowsim_postgres.rows import Conn, Session, SpecCache
from flowsim_postgres.urls import DEFAULT_CONNECT_TIMEOUT, PostgresURL, parse_url

T = TypeVar("T")
#: runs of a transaction the server rolled back before giving up (backoff between them)
ATTEMPTS = 4
FIRST_BACKOFF = 0.05
#: seconds an operation waits for a free pooled connection
POOL_WAIT = 30.0
#: pipeline mode needs libpq 14 (psycopg[binary] bundles a newer one)
PIPELINES = psycopg.Pipeline.is_supported()


class PostgresStore:
    def __init__(self, url: str | PostgresURL) -> None:
        self.url = parse_url(url) if isinstance(url, str) else url
        self.display_url = self.url.display
        self.schema = self.url.schema
        self._specs = SpecCache()
        defaults = {"connect_timeout": DEFAULT_CONNECT_TIMEOUT, "application_name": "flowsim"}
        kwargs: dict[str, Any] = {
            key: value for key, value in defaults.items() if key not in self.url.libpq_keys
        }
        self._probe(kwargs)
        self._pool: ConnectionPool[Conn] = ConnectionPool(
            self.url.conninfo,
            kwargs={**kwargs, "autocommit": False},
            min_size=self.url.pool_min,
            max_size=self.url.pool_max,
            configure=self._configure,
            open=False,
            timeout=POOL_WAIT,
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

    def _probe(self, kwargs: dict[str, Any]) -> None:
        """Connect once, so an unreachable or refusing server is reported with its reason
        within the connect timeout (a pool would only time out, without one)."""
        try:
            psycopg.connect(self.url.conninfo, autocommit=True, **kwargs).close()
        except psycopg.Error as exc:
            raise errors.unreachable(self.display_url, exc) from exc

    def _configure(self, conn: Conn) -> None:
        """Every pooled connection finds the store's tables, sequences only in its schema."""
        conn.execute(sql.SQL("SET search_path TO {}").format(sql.Identifier(self.schema)))
        conn.commit()

    # ------------------------------------------------------------ transactions

    def _run(
        self,
        action: str,
        body: Callable[[Session], T],
        read_only: bool = False,
        pipeline: bool = True,
    ) -> T:
        """Run ``body`` in one transaction and commit it, retrying what certainly did not
        commit; every driver error leaves as ``StoreError`` naming ``action``.

        The body runs in pipeline mode: a statement whose result is not read is sent with
        the next one that is, so the writes ending a transaction, its NOTIFY and COMMIT
        cost one round trip together."""
        delay = FIRST_BACKOFF
        for attempt in range(1, ATTEMPTS + 1):
            try:
                conn = self._pool.getconn()
            except psycopg.Error as exc:  # no free connection in time, or the store is closed
                raise errors.failed(self.display_url, action, exc) from exc
            committing = False
            try:
                session = Session(conn, self._specs)
                try:
                    batching = pipeline and PIPELINES
                    with conn.pipeline() if batching else contextlib.nullcontext():
                        if read_only:
                            conn.execute(
                                "SET TRANSACTION ISOLATION LEVEL REPEATABLE READ READ ONLY"
                            )
                        result = body(session)
                        if session.changed:
                            conn.execute("SELECT pg_notify(%s, '')", (self.url.channel,))
                        committing = True
                        conn.commit()
                except BaseException:
                    _rollback_quietly(conn)
                    raise
                return result
            except RunNotFoundError as exc:  # name the store, as every error here does
                raise RunNotFoundError(f"{exc} ({self.display_url})") from None
            except psycopg.OperationalError as exc:
                if committing:  # the connection broke around COMMIT: it may have applied
                    where = f"{action} (at commit: it may or may not have applied)"
                    raise errors.failed(self.display_url, where, exc) from exc
                if attempt == ATTEMPTS:
                    raise errors.failed(self.display_url, action, exc) from exc
                self._pool.check()  # replace the pool's other dead connections too
                time.sleep(delay)
                delay *= 3
            except pg_errors.ForeignKeyViolation as exc:
                # a spec we stored earlier is gone (the schema was emptied): store it again
                if attempt == ATTEMPTS or not self._specs.stored:
                    raise errors.failed(self.display_url, action, exc) from exc
                self._specs.stored.clear()
            except psycopg.Error as exc:
                if attempt == ATTEMPTS or not errors.is_retryable(exc):
                    raise errors.failed(self.display_url, action, exc) from exc
                time.sleep(delay)
                delay *= 3
            finally:
                self._pool.putconn(conn)
        raise AssertionError("unreachable")  # pragma: no cover

    # ------------------------------------------------------------ lifecycle

    def migrate(self) -> None:
        def body(session: Session) -> None:
            apply_migrations(session.conn, self.schema, self.display_url)

        try:
            self._run("migrate", body, pipeline=False)  # a migration file is many statements
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
    ) -> list[RunView]:
        return self._run(
            "create_runs", lambda s: runs.create_runs(s, requests, now, parent_task_run_id)
        )

    def get_runs(self, run_ids: Sequence[str]) -> list[RunView]:
        return self._run("get_runs", lambda s: runs.get_runs(s.conn, run_ids), read_only=True)

    def run_ids(self) -> list[str]:
        return self._run("run_ids", lambda s: runs.run_ids(s.conn), read_only=True)

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
            lambda s: claims.claim(s, worker_id, workflows, pool, free, now, lease_seconds),
        )

    def complete(self, task_run_id: str, token: int, output: JSON, now: float) -> Outcome:
        return self._run(
            "complete", lambda s: outcomes.complete(s, task_run_id, token, output, now)
        )

    def fail(
        self,
        task_run_id: str,
        token: int,
        error: TaskRunError,
        non_retryable: bool,
        now: float,
    ) -> Outcome:
        return self._run(
            "fail", lambda s: outcomes.fail(s, task_run_id, token, error, non_retryable, now)
        )

    def cancel_run(self, run_id: str, reason: str, now: float) -> Outcome:
        return self._run("cancel_run", lambda s: outcomes.cancel_run(s, run_id, reason, now))

    # ------------------------------------------------------------ time

    def expire(self, now: float) -> Outcome:
        return self._run("expire", lambda s: timing.expire(s, now))

    def next_wakeup(self, now: float) -> float | None:
        return self._run("next_wakeup", lambda s: timing.next_wakeup(s.conn))

    def wait_for_change(self, timeout: float) -> None:
        self._listener.wait(timeout)

    # ------------------------------------------------------------ workers and waits

    def register_worker(self, info: WorkerInfo, now: float, lease_seconds: float) -> None:
        self._run(
            "register_worker", lambda s: workers.register_worker(s.conn, info, now, lease_seconds)
        )

    def heartbeat(self, worker_id: str, now: float, lease_seconds: float) -> None:
        self._run("heartbeat", lambda s: workers.heartbeat(s.conn, worker_id, now, lease_seconds))

    def stop_worker(self, worker_id: str) -> None:
        self._run("stop_worker", lambda s: workers.stop_worker(s.conn, worker_id))

    def set_waiting(self, task_run_id: str, run_ids: Sequence[str]) -> None:
        self._run("set_waiting", lambda s: workers.set_waiting(s.conn, task_run_id, run_ids))

    def snapshot(self, now: float, awaited: Sequence[str] = ()) -> Snapshot:
        return self._run(
            "snapshot", lambda s: workers.snapshot(s.conn, now, awaited), read_only=True
        )


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
