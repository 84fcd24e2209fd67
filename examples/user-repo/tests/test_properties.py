"""Property tests: hypothesis searches slot counts, concurrent checkouts, cart sizes and
failure schedules on flowsim's simulator, and reports the smallest case that breaks."""

import pytest
from hypothesis import settings
from shop import workflows

from flowsim.strategies import (
    DeadlockFoundError,
    assert_deadlock_free,
    assert_retries_converge,
)

#: the same search on every run, so a red build is reproducible
REPRODUCIBLE = settings(derandomize=True, database=None)


def test_checkout_can_deadlock_a_small_worker() -> None:
    with pytest.raises(DeadlockFoundError) as caught:
        assert_deadlock_free(
            workflows, "checkout", max_slots=8, max_children=5, settings=REPRODUCIBLE
        )

    case = caught.value.case
    # the smallest deadlock there is: one slot, one checkout, one item
    assert (case.slots, case.parents, case.input) == (1, 1, {"items": 1})
    assert "1 child run was spawned" in str(caught.value)


def test_checkout_is_deadlock_free_on_the_production_worker() -> None:
    assert_deadlock_free(
        workflows,
        "checkout",
        min_slots=8,
        max_slots=8,
        max_parents=4,
        max_children=5,
        settings=REPRODUCIBLE,
    )


def test_checkout_survives_declined_charges_within_the_retries() -> None:
    assert_retries_converge(workflows, "checkout", settings=REPRODUCIBLE)
