"""Hearing other processes' changes: LISTEN on a dedicated connection.

Every transaction that queues work, schedules a retry or ends a run sends ``pg_notify`` on
the schema's channel before it commits, so the notification is delivered at commit (and
never for a rolled-back change). A waiter blocks on the connection's socket until one
arrives or the timeout passes: no polling.
"""

from __future__ import annotations

import threading
import time
from typing import Any

import psycopg
from psycopg import sql


class Listener:
    def __init__(self, conninfo: str, connect_kwargs: dict[str, Any], channel: str) -> None:
        self._conninfo = conninfo
        self._kwargs = connect_kwargs
        self._channel = channel
        self._conn: psycopg.Connection[Any] | None = None
        self._lock = threading.Lock()
        self._closed = False

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
            return None
        try:
            conn.execute(sql.SQL("LISTEN {}").format(sql.Identifier(self._channel)))
        except psycopg.Error:
            conn.close()
            return None
        return conn

    def _drop(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None:
            conn.close()

    def close(self) -> None:
        self._closed = True
        with self._lock:
            self._drop()
