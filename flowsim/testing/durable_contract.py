"""The durable-task part of the run-store contract: the event log and eviction.

``RunStoreContract`` inherits these tests, so every backend runs them unchanged (see
``flowsim.store.durable_log`` for the semantics they hold a store to). Kept in its own
module so the log's contract reads in one place; it builds its runs straight from the
protocol's types.
"""

from __future__ import annotations

from collections.abc import Sequence

from flowsim import rules
from flowsim.errors import TaskRunError
from flowsim.rules import RunStatus, SlotPool
from flowsim.store.durable_log import EVICTED, DurableStep, StepKind
from flowsim.store.protocol import Claim, RunRequest, RunStore, RunView
from flowsim.store.records import TaskSpec, WorkflowSpec
from flowsim.testing.creating import created

_LEASE = 30.0
_WORKER = "durable-worker"


def _spec(name: str, durable: bool) -> WorkflowSpec:
    task = TaskSpec("t", (), 1, None, None, rules.DEFAULT_EXECUTION_TIMEOUT,
                    rules.DEFAULT_SCHEDULE_TIMEOUT, durable)  # fmt: skip
    return WorkflowSpec(name, {"t": task})


PARENT = _spec("durable_parent", durable=True)
CHILD = _spec("plain_child", durable=False)


def _request(spec: WorkflowSpec, key: str | None = None) -> RunRequest:
    return RunRequest(spec, {}, {}, rules.DEFAULT_PRIORITY, key)


def _claim_one(store: RunStore, spec: WorkflowSpec, now: float) -> Claim:
    pool = SlotPool.DURABLE if spec.tasks["t"].durable else SlotPool.DEFAULT
    claims = store.claim(_WORKER, [spec.name], pool, 1, now, _LEASE)
    assert len(claims) == 1, f"expected one claim of {spec.name} at {now}, got {claims}"
    return claims[0]


def _held_parent(store: RunStore, now: float = 0.0) -> tuple[RunView, Claim]:
    (parent,) = created(store, [_request(PARENT)], now)
    return parent, _claim_one(store, PARENT, now)


def _attempt_outcomes(store: RunStore, run_id: str) -> list[str]:
    (view,) = store.get_runs([run_id])
    return [attempt.outcome for attempt in view.tasks["t"].attempts]


def _children(store: RunStore, claim: Claim, now: float, keys: Sequence[str]) -> list[RunView]:
    return created(store, [_request(CHILD, key) for key in keys], now, claim.task_run_id)


class DurableStoreContract:
    """The event log and eviction, on any ``RunStore`` (mixed into ``RunStoreContract``)."""

    # ------------------------------------------------------------ the event log

    def test_durable_steps_come_back_in_position_order_with_their_data(
        self, store: RunStore
    ) -> None:
        _, claim = _held_parent(store)
        assert store.durable_steps(claim.task_run_id) == []
        later = DurableStep(1, StepKind.SPAWN, "plain_child", {"run_id": "r-1"}, 2.5)
        first = DurableStep(0, StepKind.SLEEP, "5s", {"wake_at": 1234.000001}, 1.25)
        assert store.record_steps(claim.task_run_id, [later]) == [later]
        assert store.record_steps(claim.task_run_id, [first]) == [first]
        assert store.durable_steps(claim.task_run_id) == [first, later]
        assert store.durable_steps("no-such-task-run") == []

    def test_recording_a_step_where_one_is_logged_keeps_the_logged_one(
        self, store: RunStore
    ) -> None:
        _, claim = _held_parent(store)
        logged = DurableStep(0, StepKind.SLEEP, "5s", {"wake_at": 5.0}, 0.0)
        store.record_steps(claim.task_run_id, [logged])
        other = DurableStep(0, StepKind.SPAWN, "plain_child", {"run_id": "x"}, 1.0)
        new = DurableStep(1, StepKind.SPAWN, "plain_child", {"run_id": "y"}, 1.0)
        assert store.record_steps(claim.task_run_id, [new, other]) == [new, logged]
        assert store.durable_steps(claim.task_run_id) == [logged, new]

    def test_the_event_log_outlives_a_retry_and_a_lost_lease(self, store: RunStore) -> None:
        _, claim = _held_parent(store)
        step = DurableStep(0, StepKind.MEMO, "digest", {"result": [1, "two", None]}, 0.0)
        store.record_steps(claim.task_run_id, [step])
        store.fail(claim.task_run_id, claim.token, _error(claim), False, 1.0)
        retry = _claim_one(store, PARENT, 1.0)
        assert store.durable_steps(retry.task_run_id) == [step]
        store.expire(1.0 + _LEASE)
        reclaimed = _claim_one(store, PARENT, 1.0 + _LEASE)
        assert reclaimed.task_run_id == claim.task_run_id
        assert store.durable_steps(reclaimed.task_run_id) == [step]

    # ------------------------------------------------------------ eviction

    def test_evicting_until_a_time_requeues_the_task_run_as_a_restore_claimable_then(
        self, store: RunStore
    ) -> None:
        parent, claim = _held_parent(store)
        spawned = _children(store, claim, 1.0, ["a", "b"])
        outcome = store.evict(claim.task_run_id, claim.token, 50.0, (), "ttl", 10.0)
        assert outcome.accepted and outcome.queued == 0
        (view,) = store.get_runs([parent.id])
        assert view.tasks["t"].status is RunStatus.QUEUED and view.tasks["t"].retry_count == 0
        assert _attempt_outcomes(store, parent.id) == [EVICTED]
        assert view.tasks["t"].attempts[0].finished_at == 10.0
        assert view.tasks["t"].attempts[0].error == "ttl"
        assert store.next_wakeup(10.0) == 50.0
        store.expire(49.0)
        assert store.claim(_WORKER, [PARENT.name], SlotPool.DURABLE, 10, 49.0, _LEASE) == []
        store.expire(50.0)
        restored = _claim_one(store, PARENT, 50.0)
        assert restored.retry_count == 0 and restored.token > claim.token
        again = _children(store, restored, 51.0, ["a", "b"])  # the spawn index restarted
        assert [run.id for run in again] == [run.id for run in spawned]

    def test_an_eviction_with_a_stale_token_changes_nothing(self, store: RunStore) -> None:
        parent, claim = _held_parent(store)
        outcome = store.evict(claim.task_run_id, claim.token + 1, 5.0, (), "ttl", 1.0)
        assert not outcome.accepted
        assert _attempt_outcomes(store, parent.id) == ["RUNNING"]
        assert store.complete(claim.task_run_id, claim.token, {"ok": True}, 2.0).accepted

    def test_an_evicted_attempts_late_result_is_ignored(self, store: RunStore) -> None:
        parent, claim = _held_parent(store)
        store.evict(claim.task_run_id, claim.token, 5.0, (), "ttl", 1.0)
        assert not store.complete(claim.task_run_id, claim.token, {"late": True}, 2.0).accepted
        (view,) = store.get_runs([parent.id])
        assert view.tasks["t"].status is RunStatus.QUEUED and view.tasks["t"].output is None

    def test_a_task_run_evicted_awaiting_runs_is_restored_once_they_all_ended(
        self, store: RunStore
    ) -> None:
        parent, claim = _held_parent(store)
        first, second = _children(store, claim, 1.0, ["a", "b"])
        outcome = store.evict(
            claim.task_run_id, claim.token, None, [first.id, second.id], "capacity", 2.0
        )
        assert outcome.accepted and outcome.queued == 0
        one = _claim_one(store, CHILD, 3.0)
        two = _claim_one(store, CHILD, 3.0)
        store.complete(one.task_run_id, one.token, {"n": 1}, 4.0)
        assert store.expire(20.0).queued == 0  # time does not release it: one child runs
        assert store.claim(_WORKER, [PARENT.name], SlotPool.DURABLE, 10, 20.0, _LEASE) == []
        store.fail(two.task_run_id, two.token, _error(two), True, 21.0)
        assert store.expire(22.0).queued == 1
        restored = _claim_one(store, PARENT, 22.0)
        assert restored.task_run_id == claim.task_run_id and restored.retry_count == 0
        assert _attempt_outcomes(store, parent.id) == [EVICTED, "RUNNING"]

    def test_an_eviction_awaiting_runs_that_already_ended_requeues_at_once(
        self, store: RunStore
    ) -> None:
        _, claim = _held_parent(store)
        (child,) = _children(store, claim, 1.0, ["a"])
        held = _claim_one(store, CHILD, 1.0)
        store.complete(held.task_run_id, held.token, {"done": True}, 2.0)
        outcome = store.evict(claim.task_run_id, claim.token, None, [child.id], "ttl", 3.0)
        assert outcome.queued == 1
        assert _claim_one(store, PARENT, 3.0).task_run_id == claim.task_run_id

    def test_a_cancelled_evicted_task_run_is_never_restored(self, store: RunStore) -> None:
        parent, claim = _held_parent(store)
        (child,) = _children(store, claim, 1.0, ["a"])
        store.evict(claim.task_run_id, claim.token, None, [child.id], "ttl", 2.0)
        store.cancel_run(parent.id, "cancelled by the test", 3.0)
        assert store.expire(4.0).queued == 0
        assert store.claim(_WORKER, [PARENT.name], SlotPool.DURABLE, 10, 4.0, _LEASE) == []
        (view,) = store.get_runs([parent.id])
        assert view.status is RunStatus.CANCELLED


def _error(claim: Claim) -> TaskRunError:
    return TaskRunError("boom", "ValueError", "", claim.task_run_id)
