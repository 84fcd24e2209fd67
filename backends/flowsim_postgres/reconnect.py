"""Riding out a lost database: a restart, a failover, a dropped connection.

An operation that loses its connection is run again once the server answers, backing off
from ``FIRST_BACKOFF`` doubling up to ``MAX_BACKOFF``, for at most the URL's
``reconnect_seconds`` since the loss; then it fails with ``DatabaseLostError`` rather than
wait forever. A worker thus survives a restart of a few seconds without losing its claims
(a lease is 30 s by default) and still stops, loudly, when the database is gone for good.

Running again is safe only for a transaction that certainly did not commit. A connection
lost *during* COMMIT leaves that unknown, and running a spawn or a claim again would
apply it twice (children spawned twice, task runs claimed by a token nobody holds). So
every writing transaction first asks for its transaction id; after an ambiguous COMMIT the
store asks the server what became of that id (``pg_xact_status``): committed, and the
result already computed is returned; aborted, and the transaction runs again.
"""

from __future__ import annotations

import time

import psycopg

from flowsim.errors import DatabaseLostError
from flowsim_postgres.errors import reason
from flowsim_postgres.rows import Conn

FIRST_BACKOFF = 0.05
MAX_BACKOFF = 1.0
#: sent first in every writing transaction (pipelined: read when a later result is)
TRANSACTION_ID = "SELECT pg_current_xact_id()::text"
#: SQLSTATEs of a connection the server ended: class 08 (connection exception) and
#: admin/crash shutdown or "starting up" (57P01-57P03)
_LOST_SQLSTATES = frozenset({"57P01", "57P02", "57P03"})


def is_lost(conn: Conn, exc: psycopg.Error, commit_sent: bool = False) -> bool:
    """Whether ``exc`` means the connection (or the server) went away, rather than the
    server refusing the statement (after which the connection is still good).

    Once COMMIT was sent, an error of the driver's own (no SQLSTATE) counts as lost too:
    psycopg's "cannot exit pipeline mode while busy", seen when the server ended the
    session as the transaction committed, leaves the connection looking healthy and the
    outcome unknown, so it must be settled like a lost COMMIT, not simply run again (a
    claim run twice holds task runs under a token nobody has, renewed for ever)."""
    state = exc.sqlstate or ""
    if commit_sent and exc.sqlstate is None:
        return True
    return conn.broken or conn.closed or state.startswith("08") or state in _LOST_SQLSTATES


class Outage:
    """One operation's view of a lost database: since when, and the next backoff."""

    def __init__(self, display_url: str, window: float) -> None:
        self.display_url = display_url
        self.window = window
        self.since: float | None = None
        self._delay = FIRST_BACKOFF

    @property
    def active(self) -> bool:
        return self.since is not None

    def lost(self, action: str, exc: BaseException) -> None:
        """Back off before the next try, or raise ``DatabaseLostError`` once the window
        since the first loss has passed."""
        now = time.monotonic()
        if self.since is None:
            self.since = now
        elapsed = now - self.since
        if elapsed >= self.window:
            # the cause without its frames: psycopg.connect's show the connection string
            cause = exc.with_traceback(None)
            raise DatabaseLostError(self.display_url, elapsed, reason(exc), action) from cause
        time.sleep(min(self._delay, self.window - elapsed))
        self._delay = min(self._delay * 2, MAX_BACKOFF)


_STATUS = "SELECT pg_xact_status(%s::xid8)"
#: the lost session may still hold its transaction open (the server has not noticed the
#: client is gone): end it, so the transaction's fate is decided and can be read
_END_SESSION = (
    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
    "WHERE pid = %s AND backend_xid = xid(%s::xid8)"
)


def commit_status(conn: Conn, xid: str, backend_pid: int) -> str | None:
    """'committed', 'aborted' or 'in progress' (then the session holding it is ended, so
    asking again decides); None if the server no longer knows (the id is too old)."""
    row = conn.execute(_STATUS, (xid,)).fetchone()
    status = None if row is None else row[0]
    if status == "in progress":
        conn.execute(_END_SESSION, (backend_pid, xid))
    return None if status is None else str(status)
