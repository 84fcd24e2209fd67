"""flowsim.placement's pure rules, against Hatchet's scheduler (``computeWeight``) and its
Worker Affinity / Sticky Assignment guides."""

import pytest

from flowsim.placement import (
    DEFAULT_WEIGHT,
    Comparator,
    DesiredLabel,
    Peer,
    Placement,
    Sticky,
    defer_to,
    label_score,
    score,
)


@pytest.mark.parametrize(
    ("comparator", "worker_value", "matches"),
    [
        (Comparator.EQUAL, 256, True),
        (Comparator.NOT_EQUAL, 256, False),
        (Comparator.GREATER_THAN, 512, True),
        (Comparator.GREATER_THAN, 256, False),
        (Comparator.GREATER_THAN_OR_EQUAL, 256, True),
        (Comparator.LESS_THAN, 128, True),
        (Comparator.LESS_THAN, 512, False),
        (Comparator.LESS_THAN_OR_EQUAL, 256, True),
        (Comparator.EQUAL, "256", False),  # a string never equals an integer
    ],
)
def test_the_workers_value_is_compared_with_the_desired_one(
    comparator: Comparator, worker_value: str | int, matches: bool
) -> None:
    desired = DesiredLabel("memory", 256, required=True, comparator=comparator)
    assert (label_score([desired], {"memory": worker_value}) is not None) is matches


def test_strings_compare_only_for_equality() -> None:
    assert label_score([DesiredLabel("m", "b", True, 1, Comparator.NOT_EQUAL)], {"m": "a"}) == 1
    assert (
        label_score([DesiredLabel("m", "a", True, 1, Comparator.GREATER_THAN)], {"m": "b"}) is None
    )


def test_a_score_sums_the_weights_matched_and_a_missing_required_label_excludes() -> None:
    desired = [
        DesiredLabel("model", "v2", weight=10),
        DesiredLabel("region", "eu"),
        DesiredLabel("gpu", "a100", required=True),
    ]
    # a matched required label adds its weight too, as in computeWeight
    assert label_score(desired, {"model": "v2", "region": "eu", "gpu": "a100"}) == 10 + 100 + 100
    assert label_score(desired, {"gpu": "a100"}) == 100
    assert label_score(desired, {"model": "v2", "region": "eu"}) is None
    assert DEFAULT_WEIGHT == 100


def test_hard_sticky_admits_only_the_pinned_worker_and_soft_ranks_it_first() -> None:
    assert score(Placement((), Sticky.HARD, "a"), "b", {}) is None
    assert score(Placement((), Sticky.HARD, None), "b", {}) == (0, 0)  # not pinned yet
    soft = Placement((DesiredLabel("model", "v2", weight=10),), Sticky.SOFT, "a")
    assert score(soft, "a", {}) > score(soft, "b", {"model": "v2"})  # type: ignore[operator]


def test_a_worker_defers_only_to_a_better_peer_with_a_free_slot() -> None:
    placement = Placement((DesiredLabel("model", "v2", weight=10),))
    better_busy = Peer("b", {"model": "v2"}, free=0)
    better_free = Peer("c", {"model": "v2"}, free=2)
    same = Peer("d", {}, free=5)
    assert defer_to(placement, "a", {}, [better_busy, same], slot_cost=1) is None
    assert defer_to(placement, "a", {}, [better_busy, better_free], slot_cost=1) == "c"
    assert defer_to(placement, "a", {}, [better_free], slot_cost=3) is None  # cost 3 > 2
    assert defer_to(placement, "a", {"model": "v2"}, [better_free], slot_cost=1) is None
