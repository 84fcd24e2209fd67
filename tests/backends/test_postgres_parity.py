"""The parity machine (``flowsim.testing.statemachine``) on the Postgres store: the
reference and a Postgres store driven side by side by hypothesis, everything observable
compared after every step. Each example gets the test's schema emptied and a fresh store;
without a server this skips (fails with ``$CI`` set), as test_postgres_store.py does.
"""

from __future__ import annotations

from typing import Any

from flowsim_postgres import open_store
from hypothesis.stateful import run_state_machine_as_test

from flowsim.store.protocol import RunStore
from flowsim.testing.statemachine import make_parity_machine, parity_settings
from tests.backends.servers import empty_schema, postgres_schema, with_query

#: few examples: each one opens a store and empties a schema on a real server
PARITY = parity_settings(max_examples=15, stateful_step_count=40)


def test_postgres_store_matches_the_reference() -> None:
    with postgres_schema("parity") as (dsn, schema):
        url = with_query(dsn, schema=schema)

        def open_fresh() -> RunStore:
            store: Any = open_store(url)
            empty_schema(dsn, schema)
            fresh: RunStore = store
            return fresh

        run_state_machine_as_test(make_parity_machine(open_fresh), settings=PARITY)
