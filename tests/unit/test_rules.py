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
