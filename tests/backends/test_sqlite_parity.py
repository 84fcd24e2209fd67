"""The parity machine (``flowsim.testing.statemachine``) on the SQLite store: the reference
and a SQLite store on a real file driven side by side by hypothesis, everything observable
compared after every step (each example opens a fresh file)."""

from __future__ import annotations

import itertools
from pathlib import Path

from flowsim_sqlite import open_store
from hypothesis.stateful import run_state_machine_as_test

from flowsim.store.protocol import RunStore
from flowsim.testing.statemachine import make_parity_machine, parity_settings

#: 150 examples of 50 steps: ~15 s here
PARITY = parity_settings(max_examples=150, stateful_step_count=50)


def test_sqlite_store_matches_the_reference(tmp_path: Path) -> None:
    files = itertools.count()

    def open_fresh() -> RunStore:
        return open_store(f"sqlite:///{tmp_path / f'parity-{next(files)}.db'}")

    run_state_machine_as_test(make_parity_machine(open_fresh), settings=PARITY)
