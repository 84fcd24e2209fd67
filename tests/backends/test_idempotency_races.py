"""Runs of one idempotency key created at once by several processes (stores on one SQLite
file or Postgres schema, from threads), round after round: each round exactly one run is
created, and every other request is a collision naming it."""

from __future__ import annotations

import dataclasses
import threading

from flowsim.idempotency import TTL, Collision, IdempotencyRule
from flowsim.store.protocol import RunView
from flowsim.testing.contract import run_request, single_spec
from tests.backends.servers import open_shared_store, run_in_threads, sql_url

__all__ = ["sql_url"]

WRITERS = 3
ROUNDS = 20


def test_processes_racing_for_one_key_create_one_run_per_round(sql_url: str) -> None:
    spec = dataclasses.replace(
        single_spec("keyed"), idempotency=IdempotencyRule("input.key", 10.0, TTL)
    )
    stores = [open_shared_store(sql_url) for _ in range(WRITERS)]
    start = threading.Barrier(WRITERS)
    answers: list[list[RunView | Collision]] = [[] for _ in range(WRITERS)]

    def create(which: int) -> None:
        for round_ in range(ROUNDS):
            start.wait()
            request = run_request(spec, {"key": f"k{round_}", "writer": which})
            answers[which].extend(stores[which].create_runs([request], float(round_)))

    try:
        errors = run_in_threads(*[lambda w=w: create(w) for w in range(WRITERS)])
        assert not errors, errors
        for round_ in range(ROUNDS):
            got = [answers[which][round_] for which in range(WRITERS)]
            created = [a for a in got if isinstance(a, RunView)]
            assert len(created) == 1, (round_, got)
            assert [a for a in got if isinstance(a, Collision)] == [
                Collision("keyed", f"k{round_}", created[0].id)
            ] * (WRITERS - 1)
        assert len(stores[0].run_ids()) == ROUNDS
    finally:
        for store in stores:
            store.close()
