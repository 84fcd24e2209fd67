"""The parity machine on the SQLite store: real database files, one per example."""

from __future__ import annotations

import itertools
from pathlib import Path

import pytest
from hypothesis.stateful import run_state_machine_as_test

from flowsim.store.protocol import RunStore
from flowsim.testing.statemachine import make_parity_machine, parity_settings

flowsim_sqlite = pytest.importorskip("flowsim_sqlite")

PARITY = parity_settings(max_examples=100, stateful_step_count=50)


def test_sqlite_store_matches_the_reference(tmp_path: Path) -> None:
    numbers = itertools.count()

    def open_fresh() -> RunStore:
        store: RunStore = flowsim_sqlite.open_store(f"sqlite:///{tmp_path / f'{next(numbers)}.db'}")
        return store

    run_state_machine_as_test(make_parity_machine(open_fresh), settings=PARITY)
