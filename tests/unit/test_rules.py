"""The pure rules, checked against the Hatchet behaviour each one mirrors."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from flowsim import rules
from flowsim.errors import WorkflowDefinitionError
from flowsim.rules import RunStatus, SlotPool


def test_backoff_matches_hatchets_documented_sequence() -> None:
    # Hatchet's retries example: factor 2, max 10 -> "2s, 4s, 8s, 10s, 10s, 10s..."
    assert [rules.backoff_delay(n, 2.0, 10) for n in range(1, 7)] == [2, 4, 8, 10, 10, 10]
    assert rules.backoff_delay(1, None, 10) == 0.0
    assert rules.backoff_delay(40, 10.0, None) == rules.DEFAULT_BACKOFF_MAX_SECONDS
    with pytest.raises(ValueError):
        rules.backoff_delay(0, 2.0, None)


@given(
    retries=st.integers(0, 10),
    failures=st.integers(0, 12),
    factor=st.none() | st.floats(1.0, 5.0),
    cap=st.none() | st.integers(1, 100),
)
def test_a_task_runs_at_most_retries_plus_one_times(
    retries: int, failures: int, factor: float | None, cap: int | None
) -> None:
    now, count, attempts, delays = 0.0, 0, 1, []
    for _ in range(failures):
        decision = rules.decide_after_failure(
            retry_count=count,
            retries=retries,
            non_retryable=False,
            backoff_factor=factor,
            backoff_max=cap,
            now=now,
        )
        if not decision.retry:
            break
        delays.append(decision.ready_at - now)
        now, count, attempts = decision.ready_at, decision.retry_count, attempts + 1
    assert attempts == min(failures, retries) + 1
    expected = [rules.backoff_delay(n, factor, cap) for n in range(1, len(delays) + 1)]
    assert delays == pytest.approx(expected)
    limit = cap if cap is not None else rules.DEFAULT_BACKOFF_MAX_SECONDS
    assert all(d <= limit + 1e-9 for d in delays)


def test_non_retryable_ends_at_once() -> None:
    decision = rules.decide_after_failure(
        retry_count=0, retries=5, non_retryable=True, backoff_factor=None, backoff_max=None, now=0
    )
    assert not decision.retry


def test_dag_readiness_cancellation_and_rollup() -> None:
    parents = {"a": (), "b": (), "c": ("a", "b"), "d": ("c",), "e": ("b",)}
    assert rules.ready_tasks(parents, {}) == ["a", "b"]
    done = {"a": RunStatus.COMPLETED, "b": RunStatus.COMPLETED}
    assert rules.ready_tasks(parents, done) == ["c", "e"]
    failed = {"a": RunStatus.FAILED, "b": RunStatus.COMPLETED}
    assert rules.upstream_cancelled(parents, failed) == ["c", "d"]
    assert rules.rollup_status(parents, {}) is RunStatus.QUEUED
    assert rules.rollup_status(parents, {**done, "c": RunStatus.RUNNING}) is RunStatus.RUNNING
    final = {**failed, "c": RunStatus.CANCELLED, "d": RunStatus.CANCELLED, "e": RunStatus.COMPLETED}
    assert rules.rollup_status(parents, final) is RunStatus.FAILED
    cancelled = {k: RunStatus.COMPLETED for k in parents} | {"d": RunStatus.CANCELLED}
    assert rules.rollup_status(parents, cancelled) is RunStatus.CANCELLED


def test_check_dag_names_cycles_and_unknown_parents() -> None:
    with pytest.raises(WorkflowDefinitionError, match="cycle"):
        rules.check_dag("wf", {"a": ["c"], "b": ["a"], "c": ["b"]})
    with pytest.raises(WorkflowDefinitionError, match="names parent 'x'"):
        rules.check_dag("wf", {"a": ["x"]})
    rules.check_dag("wf", {"a": [], "b": ["a"]})


def test_claim_order_is_priority_then_fifo() -> None:
    keys = [rules.claim_key(p, s) for p, s in [(1, 0), (3, 5), (1, 1), (4, 9), (3, 2)]]
    assert sorted(keys) == [(-4, 9), (-3, 2), (-3, 5), (-1, 0), (-1, 1)]


def test_worker_slot_defaults_follow_hatchet() -> None:
    assert rules.resolve_worker_slots(None, None, True, False) == {SlotPool.DEFAULT: 100}
    assert rules.resolve_worker_slots(None, None, False, True) == {SlotPool.DURABLE: 1000}
    assert rules.resolve_worker_slots(2, None, True, True) == {
        SlotPool.DEFAULT: 2,
        SlotPool.DURABLE: 1000,
    }


def test_child_spawn_key_prefers_the_key_over_the_index() -> None:
    assert rules.child_spawn_key("t1", None, 3) == "t1.3"
    assert rules.child_spawn_key("t1", "k", 3) == "t1.k"


def test_durations_are_formatted_like_hatchet() -> None:
    assert rules.timeout_message(60) == "Task exceeded timeout of 1m"
    assert [rules.format_duration(s) for s in (5, 90, 7200, 0.5)] == ["5s", "90s", "2h", "0.5s"]


# ---------------------------------------------------------------- concurrency

GRR = rules.ConcurrencyStrategy.GROUP_ROUND_ROBIN
CIP = rules.ConcurrencyStrategy.CANCEL_IN_PROGRESS
CN = rules.ConcurrencyStrategy.CANCEL_NEWEST
EXCEPT_NEWEST = rules.ConcurrencyStrategy.CANCEL_QUEUED_EXCEPT_NEWEST
EXCEPT_OLDEST = rules.ConcurrencyStrategy.CANCEL_QUEUED_EXCEPT_OLDEST


def test_group_round_robin_admits_while_room_and_nobody_waits_before() -> None:
    assert rules.on_arrival(GRR, 2, ["a"], waiting=[]) == rules.Arrival(admit=True)
    assert rules.on_arrival(GRR, 2, ["a"], waiting=["w"]) == rules.Arrival(admit=False)
    assert rules.on_arrival(GRR, 1, ["a"], waiting=[]) == rules.Arrival(admit=False)


def test_cancel_newest_cancels_the_arrival_when_the_group_is_full() -> None:
    # Hatchet's test: one run, then ten more with its key: the first completes
    assert rules.on_arrival(CN, 1, [], waiting=[]) == rules.Arrival(admit=True)
    assert rules.on_arrival(CN, 1, ["first"], waiting=[]) == rules.Arrival(
        admit=False, cancel_new=True
    )


def test_cancel_in_progress_admits_and_cancels_the_oldest_holders() -> None:
    assert rules.on_arrival(CIP, 1, ["old"], waiting=[]) == rules.Arrival(
        admit=True, cancel_holders=("old",)
    )
    assert rules.on_arrival(CIP, 2, ["a", "b", "c"], waiting=[]).cancel_holders == ("a", "b")
    assert rules.on_arrival(CIP, 3, ["a"], waiting=[]).cancel_holders == ()


def test_cancel_queued_except_newest_keeps_the_newest_max_runs_waiting() -> None:
    """Hatchet's guide, max_runs=1: A runs, B waits, C replaces B (B is cancelled)."""
    assert rules.on_arrival(EXCEPT_NEWEST, 1, [], waiting=[]) == rules.Arrival(admit=True)
    assert rules.on_arrival(EXCEPT_NEWEST, 1, ["A"], waiting=[]) == rules.Arrival(admit=False)
    assert rules.on_arrival(EXCEPT_NEWEST, 1, ["A"], waiting=["B"]) == rules.Arrival(
        admit=False, cancel_waiting=("B",)
    )
    # a deeper queue: the oldest beyond max_runs go, the newcomer stays
    assert rules.on_arrival(EXCEPT_NEWEST, 2, ["A", "B"], waiting=["C", "D"]).cancel_waiting == (
        "C",
    )
    # room, but someone waits first: the newcomer queues behind it
    assert rules.on_arrival(EXCEPT_NEWEST, 2, ["A"], waiting=["B"]) == rules.Arrival(admit=False)


def test_cancel_queued_except_oldest_cancels_a_newcomer_finding_the_queue_full() -> None:
    """Hatchet's guide, max_runs=1: A runs, B waits, C is cancelled, B runs after A."""
    assert rules.on_arrival(EXCEPT_OLDEST, 1, [], waiting=[]) == rules.Arrival(admit=True)
    assert rules.on_arrival(EXCEPT_OLDEST, 1, ["A"], waiting=[]) == rules.Arrival(admit=False)
    assert rules.on_arrival(EXCEPT_OLDEST, 1, ["A"], waiting=["B"]) == rules.Arrival(
        admit=False, cancel_new=True
    )
    assert rules.on_arrival(EXCEPT_OLDEST, 2, ["A", "B"], waiting=["C"]) == rules.Arrival(
        admit=False
    )


def test_round_robin_serves_the_oldest_of_each_group_in_turn() -> None:
    waiting = [("A", 1), ("A", 2), ("A", 3), ("B", 4), ("B", 5), ("C", 6)]
    order = rules.round_robin_order(waiting)
    assert [waiting[i] for i in order] == [
        ("A", 1), ("B", 4), ("C", 6), ("A", 2), ("B", 5), ("A", 3)
    ]  # fmt: skip


@given(st.lists(st.tuples(st.sampled_from("ABC"), st.integers(0, 10**6)), unique_by=lambda e: e[1]))
def test_round_robin_keeps_each_groups_own_order(waiting: list[tuple[str, int]]) -> None:
    order = rules.round_robin_order(waiting)
    assert sorted(order) == list(range(len(waiting)))
    for group in "ABC":
        served = [waiting[i][1] for i in order if waiting[i][0] == group]
        assert served == sorted(served)


@given(
    retries=st.integers(0, 5),
    retry_count=st.integers(0, 6),
    asked=st.floats(-10.0, 1e9),
    factor=st.none() | st.floats(1.0, 5.0),
)
def test_a_requested_delay_replaces_the_backoff_clamped_to_a_week(
    retries: int, retry_count: int, asked: float, factor: float | None
) -> None:
    decision = rules.decide_after_failure(
        retry_count=retry_count, retries=retries, non_retryable=False,
        backoff_factor=factor, backoff_max=None, now=100.0, retry_after=asked,
    )  # fmt: skip
    assert decision.retry is (retry_count < retries)  # it counts against the retries
    if decision.retry:
        expected = min(max(asked, 0.0), rules.MAX_RETRY_AFTER_SECONDS)
        assert decision.ready_at - 100.0 == pytest.approx(expected)
        assert decision.retry_count == retry_count + 1
    never = rules.decide_after_failure(
        retry_count=0, retries=retries, non_retryable=True,
        backoff_factor=factor, backoff_max=None, now=100.0, retry_after=asked,
    )  # fmt: skip
    assert not never.retry  # a non-retryable failure wins over the request
