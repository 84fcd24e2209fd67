"""The cron part of the store contract (``RunStoreContract`` inherits it).

A store keeps the crons ``hatchet.cron.create`` makes as given, in the order they were
made, refuses a second cron of a workflow with the same name and expression (the same name
with another expression is a second cron), and deletes one by id, saying what it deleted.
"""

from __future__ import annotations

import pytest

from flowsim.errors import InvalidInputError
from flowsim.store.cron_records import StoredCron
from flowsim.store.protocol import RunStore

MISSING = "00000000-0000-4000-8000-999999999999"


def _cron(
    number: int, workflow: str = "report", name: str = "daily", expression: str = "0 12 * * *"
) -> StoredCron:
    return StoredCron(
        f"00000000-0000-4000-8000-{number:012d}",
        workflow,
        name,
        expression,
        {"n": number, "nested": {"list": [1, 2.5, None], "text": "é"}},
        {"customer": f"c{number}", "flag": True},
        number % 3 + 1,
        float(number),
    )


class CronContract:
    def test_a_cron_is_stored_as_given_and_read_back_by_its_id(self, store: RunStore) -> None:
        created = store.create_cron(_cron(1))
        assert created == _cron(1)
        assert store.get_cron(created.id) == _cron(1)
        assert store.get_cron(MISSING) is None

    def test_crons_are_listed_in_the_order_they_were_made(self, store: RunStore) -> None:
        assert store.list_crons() == []
        for number, workflow in ((3, "b"), (1, "a"), (2, "c")):
            store.create_cron(_cron(number, workflow=workflow))
        assert [cron.id for cron in store.list_crons()] == [_cron(n).id for n in (3, 1, 2)]

    def test_the_same_name_and_expression_twice_is_refused_naming_the_cron_stored(
        self, store: RunStore
    ) -> None:
        store.create_cron(_cron(1))
        refused = "name-expression pair already exists"
        with pytest.raises(InvalidInputError, match=refused) as raised:
            store.create_cron(_cron(2))
        assert _cron(1).id in str(raised.value)
        assert store.get_cron(_cron(2).id) is None  # nothing written
        store.create_cron(_cron(3, expression="0 13 * * *"))  # another expression
        store.create_cron(_cron(4, name="weekly"))  # another name
        store.create_cron(_cron(5, workflow="other"))  # another workflow
        assert len(store.list_crons()) == 4
        with pytest.raises(InvalidInputError, match=f"id {_cron(3).id} exists already"):
            store.create_cron(_cron(3, name="hourly"))  # an id is never reused

    def test_delete_returns_the_cron_deleted_and_none_for_an_unknown_id(
        self, store: RunStore
    ) -> None:
        store.create_cron(_cron(1))
        store.create_cron(_cron(2, name="weekly"))
        assert store.delete_cron(_cron(1).id) == _cron(1)
        assert store.delete_cron(_cron(1).id) is None
        assert store.delete_cron(MISSING) is None
        assert store.list_crons() == [_cron(2, name="weekly")]
        store.create_cron(_cron(3))  # its name and expression are free again
