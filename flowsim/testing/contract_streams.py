"""The stream part of the store contract (``RunStoreContract`` inherits it).

What every store must do with ``ctx.put_stream`` chunks: number them per run from 1 in
the order stored, hand back exactly what was put (text, untouched), read a run's chunks
after a position in position order, and keep one run's chunks apart from another's. A
subscriber relies on all of it: it asks for the position it starts after, then reads on.
"""

from __future__ import annotations

import flowsim.testing.contract as c
from flowsim.store.protocol import RunStore, StreamChunk

#: texts a store could mangle: empty, non-ASCII, JSON-looking, SQL-looking, long
AWKWARD = ["", "héllo ✓ 世界", '{"a": [1, 2]}', "'); DROP TABLE runs; --", "x" * 70_000]


class StreamContract:
    def test_chunks_are_numbered_per_run_in_the_order_stored(self, store: RunStore) -> None:
        spec = c.single_spec("streaming")
        first = c.create_run(store, spec, 0.0)
        second = c.create_run(store, spec, 0.0)
        task = first.tasks["t"].id
        assert store.stream_position(first.id) == 0
        assert store.read_stream(first.id, 0) == []
        store.put_stream(first.id, task, 0, "a", 1.0)
        store.put_stream(second.id, second.tasks["t"].id, 0, "other", 1.0)
        store.put_stream(first.id, task, 1, "b", 2.0)
        assert store.read_stream(first.id, 0) == [
            StreamChunk(1, task, 0, "a"),
            StreamChunk(2, task, 1, "b"),
        ]
        assert store.stream_position(first.id) == 2
        assert store.stream_position(second.id) == 1

    def test_a_read_after_a_position_returns_only_what_was_stored_after_it(
        self, store: RunStore
    ) -> None:
        run = c.create_run(store, c.single_spec("streaming"), 0.0)
        task = run.tasks["t"].id
        store.put_stream(run.id, task, 0, "before", 1.0)
        start = store.stream_position(run.id)
        for index, data in enumerate(["one", "two", "three"], start=1):
            store.put_stream(run.id, task, index, data, 2.0)
        assert [chunk.data for chunk in store.read_stream(run.id, start)] == [
            "one",
            "two",
            "three",
        ]
        assert [chunk.data for chunk in store.read_stream(run.id, start + 2)] == ["three"]
        assert store.read_stream(run.id, store.stream_position(run.id)) == []

    def test_chunks_of_every_task_of_a_dag_run_share_the_runs_numbering(
        self, store: RunStore
    ) -> None:
        run = c.create_run(store, c.diamond_spec("streaming_dag"), 0.0)
        (first,) = c.claim_all(store, ["streaming_dag"], 0.0)
        store.complete(first.task_run_id, first.token, {}, 0.5)  # queues b and c
        a, b = first.task_run_id, c.get_run(store, run.id).tasks["b"].id
        store.put_stream(run.id, a, 0, "a0", 1.0)
        store.put_stream(run.id, b, 0, "b0", 1.0)
        store.put_stream(run.id, a, 1, "a1", 1.0)
        chunks = store.read_stream(run.id, 0)
        assert [(k.position, k.task_run_id, k.index) for k in chunks] == [
            (1, a, 0),
            (2, b, 0),
            (3, a, 1),
        ]

    def test_what_was_put_comes_back_exactly(self, store: RunStore) -> None:
        run = c.create_run(store, c.single_spec("streaming"), 0.0)
        task = run.tasks["t"].id
        for index, data in enumerate(AWKWARD):
            store.put_stream(run.id, task, index, data, 1.0)
        assert [chunk.data for chunk in store.read_stream(run.id, 0)] == AWKWARD
