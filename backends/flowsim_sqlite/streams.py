"""Stream chunks (``ctx.put_stream``): appended at the run's next position inside
``BEGIN IMMEDIATE``, which serialises the writers of one file, so positions follow the
order the chunks were stored in, without gaps, whichever process put them."""

from __future__ import annotations

from flowsim.store.protocol import StreamChunk
from flowsim_sqlite.rows import Tx

_PUT = (
    "INSERT INTO stream_chunks (run_id, position, task_run_id, event_index, data, created_at) "
    "SELECT ?, coalesce(max(position), 0) + 1, ?, ?, ?, ? FROM stream_chunks WHERE run_id = ?"
)


def put_stream(tx: Tx, run_id: str, task_run_id: str, index: int, data: str, now: float) -> None:
    tx.execute(_PUT, (run_id, task_run_id, index, data, now, run_id))


def stream_position(tx: Tx, run_id: str) -> int:
    (last,) = tx.execute(
        "SELECT coalesce(max(position), 0) FROM stream_chunks WHERE run_id = ?", (run_id,)
    ).fetchone()
    return int(last)


def read_stream(tx: Tx, run_id: str, after: int) -> list[StreamChunk]:
    rows = tx.execute(
        "SELECT position, task_run_id, event_index, data FROM stream_chunks "
        "WHERE run_id = ? AND position > ? ORDER BY position",
        (run_id, after),
    ).fetchall()
    return [StreamChunk(*row) for row in rows]
