"""Stream chunks (``ctx.put_stream``) on Postgres.

Two tasks of one run may put at once, from two processes. Each put takes a
transaction-scoped advisory lock for its run (the two-key form, whose key space no other
flowsim lock uses) before reading the run's last position, so the puts of one run are
serialised until they commit: positions follow commit order without gaps, and a reader
that saw position n can never later find an n - 1 it missed. Puts of different runs do
not wait for each other. The NOTIFY of the transaction wakes subscribers elsewhere.
"""

from __future__ import annotations

from flowsim.store.protocol import StreamChunk
from flowsim_postgres.rows import Conn, Session

_LOCK = (
    "SELECT pg_advisory_xact_lock(hashtext(current_schema() || '/flowsim-streams'), hashtext(%s))"
)
_PUT = (
    "INSERT INTO stream_chunks (run_id, position, task_run_id, event_index, data, created_at) "
    "SELECT %(run)s, coalesce(max(position), 0) + 1, %(task)s, %(index)s, %(data)s, %(now)s "
    "FROM stream_chunks WHERE run_id = %(run)s"
)


def put_stream(
    session: Session, run_id: str, task_run_id: str, index: int, data: str, now: float
) -> None:
    session.conn.execute(_LOCK, (run_id,))
    session.conn.execute(
        _PUT, {"run": run_id, "task": task_run_id, "index": index, "data": data, "now": now}
    )
    session.changed = True


def stream_position(conn: Conn, run_id: str) -> int:
    row = conn.execute(
        "SELECT coalesce(max(position), 0) FROM stream_chunks WHERE run_id = %s", (run_id,)
    ).fetchone()
    return 0 if row is None else int(row[0])


def read_stream(conn: Conn, run_id: str, after: int) -> list[StreamChunk]:
    rows = conn.execute(
        "SELECT position, task_run_id, event_index, data FROM stream_chunks "
        "WHERE run_id = %s AND position > %s ORDER BY position",
        (run_id, after),
    )
    return [StreamChunk(*row) for row in rows]
