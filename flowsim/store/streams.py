"""Stream chunks kept in this process's memory: the in-memory engine's and the reference
store's (``RunStore.put_stream`` / ``stream_position`` / ``read_stream``).

A chunk is appended under the caller's lock; positions are list indexes plus one, so a
subscriber's "after" is a slice start and a read costs what it returns.
"""

from __future__ import annotations

from flowsim.store.protocol import StreamChunk


class StreamLog:
    def __init__(self) -> None:
        self._chunks: dict[str, list[StreamChunk]] = {}

    def put(self, run_id: str, task_run_id: str, index: int, data: str) -> None:
        chunks = self._chunks.setdefault(run_id, [])
        chunks.append(StreamChunk(len(chunks) + 1, task_run_id, index, data))

    def position(self, run_id: str) -> int:
        return len(self._chunks.get(run_id, ()))

    def read(self, run_id: str, after: int) -> list[StreamChunk]:
        return self._chunks.get(run_id, [])[max(after, 0) :]
