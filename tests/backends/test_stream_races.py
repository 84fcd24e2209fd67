"""Stream chunks put at once to one run by two processes (two stores on one
SQLite file or Postgres schema, from threads): positions stay gapless and in the order
stored, and a reader following the stream as it grows never skips a chunk it will later
find behind its position. Chunks outlive the store that wrote them."""

from __future__ import annotations

import functools
import threading

from flowsim.testing.contract import create_run, single_spec
from tests.backends.servers import open_shared_store, run_in_threads, sql_url

__all__ = ["sql_url"]

PUTS = 150


def test_two_writers_of_one_run_never_leave_a_reader_behind_a_gap(sql_url: str) -> None:
    setup = open_shared_store(sql_url)
    run = create_run(setup, single_spec("streams"), 0.0)
    task = run.tasks["t"].id
    writers = [open_shared_store(sql_url) for _ in range(2)]
    start = threading.Barrier(3)
    followed: list[int] = []

    def put(which: int) -> None:
        start.wait()
        for index in range(PUTS):
            writers[which].put_stream(run.id, task, index, f"{which}:{index}", 1.0)

    def follow() -> None:
        """Read on from the last position seen, as a subscriber does."""
        start.wait()
        after = 0
        while after < 2 * PUTS:
            for chunk in setup.read_stream(run.id, after):
                followed.append(chunk.position)
                after = chunk.position

    errors = run_in_threads(functools.partial(put, 0), functools.partial(put, 1), follow)
    try:
        assert not errors, errors
        assert followed == list(range(1, 2 * PUTS + 1))
        chunks = setup.read_stream(run.id, 0)
        for which in range(2):  # each writer's chunks in the order it put them
            mine = [chunk.data for chunk in chunks if chunk.data.startswith(f"{which}:")]
            assert mine == [f"{which}:{index}" for index in range(PUTS)]
    finally:
        for store in (setup, *writers):
            store.close()
    reopened = open_shared_store(sql_url)
    try:
        assert reopened.stream_position(run.id) == 2 * PUTS
    finally:
        reopened.close()
