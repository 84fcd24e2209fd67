"""The event filter part of the store contract (``RunStoreContract`` inherits it).

A store keeps the filters ``hatchet.filters`` creates as given, refuses a second filter
equal to a stored one (same workflow, scope, expression and payload, the payload compared
by content) on create and on update, and lists them newest first, selected by workflow
and scope, a page at a time with the total.
"""

from __future__ import annotations

import pytest

from flowsim.errors import InvalidInputError
from flowsim.store.event_filters import FilterChange, StoredFilter
from flowsim.store.protocol import RunStore

WORKFLOW_A = "00000000-0000-5000-8000-00000000000a"
WORKFLOW_B = "00000000-0000-5000-8000-00000000000b"
MISSING = "00000000-0000-4000-8000-999999999999"


def _filter(
    number: int,
    workflow_id: str = WORKFLOW_A,
    scope: str = "tenant-1",
    expression: str = "input.x > 1",
    payload: dict[str, object] | None = None,
) -> StoredFilter:
    return StoredFilter(
        f"00000000-0000-4000-8000-{number:012d}",
        workflow_id,
        scope,
        expression,
        {"n": number} if payload is None else dict(payload),
        float(number),
        float(number),
    )


class FilterContract:
    def test_a_filter_is_stored_as_given_and_read_back_by_its_id(self, store: RunStore) -> None:
        payload = {"nested": {"b": [1, 2.5, None], "a": "text"}, "flag": True}
        created = store.create_filter(_filter(1, payload=payload))
        assert store.get_filter(created.id) == created
        assert store.get_filter(created.id).payload == payload  # type: ignore[union-attr]
        assert store.get_filter(MISSING) is None

    def test_an_equal_filter_is_refused_and_one_differing_in_anything_is_stored(
        self, store: RunStore
    ) -> None:
        store.create_filter(_filter(1, payload={"a": 1, "b": 2}))
        with pytest.raises(InvalidInputError, match="exists already") as raised:
            store.create_filter(_filter(2, payload={"b": 2, "a": 1}))  # the same JSON
        assert _filter(1).id in str(raised.value)  # names the filter stored
        assert store.get_filter(_filter(2).id) is None  # nothing written
        store.create_filter(_filter(3, payload={"a": 1, "b": 3}))
        store.create_filter(_filter(4, payload={"a": 1, "b": 2}, scope="tenant-2"))
        store.create_filter(_filter(5, payload={"a": 1, "b": 2}, expression="true"))
        store.create_filter(_filter(6, payload={"a": 1, "b": 2}, workflow_id=WORKFLOW_B))
        assert store.list_filters(None, None, 100, 0)[1] == 5
        with pytest.raises(InvalidInputError, match=f"id {_filter(3).id} exists already"):
            store.create_filter(_filter(3, expression="false"))  # an id is never reused
        assert store.get_filter(_filter(3).id) == _filter(3, payload={"a": 1, "b": 3})

    def test_an_update_replaces_the_fields_given_and_may_not_make_two_equal(
        self, store: RunStore
    ) -> None:
        first = store.create_filter(_filter(1))
        second = store.create_filter(_filter(2))
        changed = store.update_filter(first.id, FilterChange(scope="tenant-9"), 10.0)
        assert changed is not None
        assert (changed.scope, changed.expression, changed.payload) == (
            "tenant-9", "input.x > 1", {"n": 1}
        )  # fmt: skip
        assert (changed.created_at, changed.updated_at) == (1.0, 10.0)
        assert store.get_filter(first.id) == changed
        both = FilterChange(expression="input.y == 'a'", payload={"m": 2})
        changed = store.update_filter(first.id, both, 11.0)
        assert changed is not None and store.get_filter(first.id) == changed
        assert (changed.scope, changed.expression, changed.payload) == (
            "tenant-9", "input.y == 'a'", {"m": 2}
        )  # fmt: skip
        like_first = FilterChange("tenant-9", "input.y == 'a'", {"m": 2})
        with pytest.raises(InvalidInputError, match=first.id):
            store.update_filter(second.id, like_first, 12.0)
        assert store.get_filter(second.id) == second  # unchanged
        assert store.update_filter(MISSING, FilterChange(), 13.0) is None

    def test_a_deleted_filter_is_returned_once_and_gone(self, store: RunStore) -> None:
        created = store.create_filter(_filter(1))
        assert store.delete_filter(created.id) == created
        assert store.get_filter(created.id) is None
        assert store.delete_filter(created.id) is None
        store.create_filter(_filter(2, payload={"n": 1}))  # its identity is free again

    def test_listing_selects_by_workflow_and_scope_newest_first_a_page_at_a_time(
        self, store: RunStore
    ) -> None:
        for number, workflow, scope in [(1, WORKFLOW_A, "s1"), (2, WORKFLOW_B, "s1"),
                                        (3, WORKFLOW_A, "s2"), (4, WORKFLOW_A, "s1")]:  # fmt: skip
            store.create_filter(_filter(number, workflow_id=workflow, scope=scope))

        def numbers(rows: list[StoredFilter]) -> list[int]:
            return [int(row.id[-12:]) for row in rows]

        rows, total = store.list_filters(None, None, 100, 0)
        assert (numbers(rows), total) == ([4, 3, 2, 1], 4)
        rows, total = store.list_filters([WORKFLOW_A], None, 100, 0)
        assert (numbers(rows), total) == ([4, 3, 1], 3)
        rows, total = store.list_filters(None, ["s1"], 100, 0)
        assert (numbers(rows), total) == ([4, 2, 1], 3)
        rows, total = store.list_filters([WORKFLOW_A, WORKFLOW_B], ["s2", "s9"], 100, 0)
        assert (numbers(rows), total) == ([3], 1)
        rows, total = store.list_filters(None, None, 2, 1)
        assert (numbers(rows), total) == ([3, 2], 4)
        assert store.list_filters([], None, 100, 0) == ([], 0)
