"""``assert_views_equal``: the same history on two stores is equal whatever the ids; any
difference in what was stored is named by its path."""

from __future__ import annotations

import dataclasses

import pytest

from flowsim.store.protocol import RunStore, RunView
from flowsim.store.reference import ReferenceStore
from flowsim.testing.contract import (
    assert_views_equal,
    claim_all,
    create_run,
    run_request,
    single_spec,
    task_error,
)


def _history(store: RunStore, output: int = 1, exc: str = "boom") -> list[RunView]:
    """A parent that completes, a child that fails for good, a third run left queued."""
    spec = single_spec(retries=0)
    parent = create_run(store, spec, 0.0, {"x": 1})
    (claim,) = claim_all(store, ["single"], 1.0)
    (child,) = store.create_runs([run_request(spec)], 2.0, claim.task_run_id)
    store.complete(claim.task_run_id, claim.token, {"out": output}, 3.0)
    (child_claim,) = claim_all(store, ["single"], 4.0)
    error = task_error(exc, task_run_id=child_claim.task_run_id)
    store.fail(child_claim.task_run_id, child_claim.token, error, True, 5.0)
    queued = create_run(store, spec, 6.0)
    return store.get_runs([parent.id, child.id, queued.id])


def test_the_same_history_on_two_stores_is_equal_whatever_the_ids() -> None:
    a, b = _history(ReferenceStore()), _history(ReferenceStore())
    assert {v.id for v in a}.isdisjoint(v.id for v in b)
    assert_views_equal(a, b)
    assert_views_equal(a[0], b[0])


def test_a_different_output_is_named_by_its_path() -> None:
    a, b = _history(ReferenceStore()), _history(ReferenceStore(), output=2)
    with pytest.raises(AssertionError, match=r"\['tasks'\]\['t'\]\['output'\]\['out'\]: 1 != 2"):
        assert_views_equal(a, b)


def test_error_messages_are_compared_unless_told_not_to() -> None:
    a, b = _history(ReferenceStore()), _history(ReferenceStore(), exc="bang")
    with pytest.raises(AssertionError, match=r"\['error'\]\['exc'\]: 'boom' != 'bang'"):
        assert_views_equal(a, b)
    assert_views_equal(a, b, messages=False)


def test_a_child_pointing_at_a_different_parent_task_is_caught() -> None:
    a, b = _history(ReferenceStore()), _history(ReferenceStore())
    # the child's parent_task_run_id must map to the parent's task, not to another id
    moved = dataclasses.replace(b[1], parent_task_run_id=b[2].tasks["t"].id)
    with pytest.raises(AssertionError, match="parent_task_run_id"):
        assert_views_equal(a, [b[0], moved, b[2]])


def test_runs_in_a_different_order_are_not_equal() -> None:
    a, b = _history(ReferenceStore()), _history(ReferenceStore())
    with pytest.raises(AssertionError, match="runs differ"):
        assert_views_equal(a, [b[1], b[0], b[2]])
