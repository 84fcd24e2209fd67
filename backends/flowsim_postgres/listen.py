"""Hearing other processes' changes: LISTEN on a dedicated connection.

Every transaction that queues work, schedules a retry or ends a run sends ``pg_notify`` on
the schema's channel before it commits, so the notification is delivered at commit (and
never for a rolled-back change). A waiter blocks on the connection's socket until one
arrives or the timeout passes: no polling.

A lost connection is dropped and made again on the next wait, backing off as store
operations do (50 ms doubling to 1 s) while the server refuses; the wait that listens
again returns at once, because whatever was notified meanwhile was not heard: every
waiter re-reads once, so a missed notification strands nothing.
"""

from __future__ import annotations

import threading
import time
from typing import Any

import psycopg
from psycopg import sql

from flowsim_postgres.reconnect import FIRST_BACKOFF, MAX_BACKOFF


class Listener:
    def __init__(self, conninfo: str, connect_kwargs: dict[str, Any], channel: str) -> None:
        self._conninfo = conninfo
        self._kwargs = connect_kwargs
        self._channel = channel
        self._conn: psycopg.Connection[Any] | None = None
        self._lock = threading.Lock()
        self._closed = False
        #: while the server refuses: when to try again, and the backoff after that
        self._retry_at = 0.0
        self._delay = FIRST_BACKOFF

    def wait(self, timeout: float) -> None:
        """Return at the first notification or after ``timeout`` seconds. The first call
        (and the first after a lost connection) only starts listening and returns at once:
        changes made before it were not heard, so the caller should re-read."""
        deadline = time.monotonic() + timeout
        with self._lock:
            if self._closed:
                time.sleep(max(0.0, timeout))
                return
            conn = self._conn
            if conn is None or conn.closed:
                pause = self._retry_at - time.monotonic()
                if pause > 0:  # backing off: until the next try, or the timeout if sooner
                    time.sleep(min(pause, max(0.0, deadline - time.monotonic())))
                    if time.monotonic() < self._retry_at:
                        return
                self._conn = self._connect()
                if self._conn is None:  # the database is away: waiters re-read and see it
                    time.sleep(max(0.0, deadline - time.monotonic()))
                return
            try:
                for _ in conn.notifies(timeout=max(0.0, timeout), stop_after=1):
                    break
                for _ in conn.notifies(timeout=0):  # drain the ones that came together
                    pass
            except psycopg.Error:
                self._drop()

    def _connect(self) -> psycopg.Connection[Any] | None:
        try:
            conn = psycopg.connect(self._conninfo, autocommit=True, **self._kwargs)
        except psycopg.Error:
            self._back_off()
            return None
        try:
            conn.execute(sql.SQL("LISTEN {}").format(sql.Identifier(self._channel)))
        except psycopg.Error:
            conn.close()
            self._back_off()
            return None
        self._delay = FIRST_BACKOFF
        return conn

    def _back_off(self) -> None:
        """The server refused: no new try before the backoff has passed (each wait still
        returns by its timeout, so waiters keep re-reading meanwhile)."""
        self._retry_at = time.monotonic() + self._delay
        self._delay = min(self._delay * 2, MAX_BACKOFF)

    def _drop(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            conn.close()

    def close(self) -> None:
        self._closed = True
        with self._lock:
            self._drop()
