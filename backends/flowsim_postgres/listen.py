"""Hearing other processes' changes: LISTEN on a dedicated connection.

Every transaction that queues work, schedules a retry or ends a run sends ``pg_notify`` on
the schema's channel before it commits, so the notification is delivered at commit (and
never for a rolled-back change). A waiter blocks on the connection's socket until one
arrives, the timeout passes or ``close`` wakes it (through a socket pair it selects on
beside the connection's socket): no polling, and closing does not wait out the timeout.

A lost connection is dropped and made again on the next wait, backing off as store
operations do (50 ms doubling to 1 s) while the server refuses; the wait that listens
again returns at once, because whatever was notified meanwhile was not heard: every
waiter re-reads once, so a missed notification strands nothing.
"""

from __future__ import annotations

import select
import socket
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
        #: ``close`` writes to one end; a wait selects on the other
        self._wake_reader, self._wake_writer = socket.socketpair()

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
                self._await_notification(conn, timeout)
            except (psycopg.Error, OSError):
                self._drop()

    def _await_notification(self, conn: psycopg.Connection[Any], timeout: float) -> None:
        if _drain(conn):  # notifications that came with an earlier command's result
            return
        woken = self._wake_reader.fileno()
        readable, _, _ = select.select([conn.fileno(), woken], [], [], max(0.0, timeout))
        if woken not in readable:
            _drain(conn)

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
        if self._closed:
            return
        self._closed = True
        self._wake_writer.send(b"\0")
        with self._lock:
            self._drop()
            self._wake_reader.close()
            self._wake_writer.close()


def _drain(conn: psycopg.Connection[Any]) -> bool:
    """Whether a notification had arrived (reading every one that did, without waiting)."""
    return any(True for _ in conn.notifies(timeout=0))
