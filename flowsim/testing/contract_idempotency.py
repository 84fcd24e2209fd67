"""The idempotency part of the store contract (``RunStoreContract`` inherits it).

What every store must do when ``create_runs`` gets a run of a workflow with an idempotency
key (``flowsim.idempotency``): the first run of a key claims it; while the claim holds
(TTL: until ``now + ttl``; STATUS: until the holder ends, ``fallback_ttl`` at most) a
request of the key is not created and a ``Collision`` naming the holder takes its place in
the answer; a batch creates its other requests; keys are one namespace for all workflows;
a re-spawned child is the run that exists, not a collision; a key that cannot be
evaluated refuses the whole batch.
"""

from __future__ import annotations

import dataclasses

import pytest

import flowsim.testing.contract as c
from flowsim.errors import InvalidInputError
from flowsim.idempotency import STATUS, TTL, Collision, IdempotencyRule
from flowsim.rules import RunStatus
from flowsim.store.protocol import RunStore, RunView
from flowsim.store.records import WorkflowSpec


def keyed(
    name: str = "keyed", seconds: float = 10.0, method: str = TTL, **task: object
) -> WorkflowSpec:
    """A one-task workflow whose runs claim ``input.id`` for ``seconds``."""
    spec = c.single_spec(name, **task)
    return dataclasses.replace(spec, idempotency=IdempotencyRule("input.id", seconds, method))


def answer(store: RunStore, spec: WorkflowSpec, now: float, id: str) -> RunView | Collision:
    (result,) = store.create_runs([c.run_request(spec, {"id": id})], now)
    return result


def created(store: RunStore, spec: WorkflowSpec, now: float, id: str) -> RunView:
    result = answer(store, spec, now, id)
    assert isinstance(result, RunView), f"{id!r} at {now}: expected a new run, got {result}"
    return result


def finish(store: RunStore, view: RunView, now: float, *, fail: bool = False) -> None:
    """Claim the run's task and end that attempt (a failure is retried if it may be)."""
    (claim,) = [cl for cl in c.claim_all(store, [view.workflow], now) if cl.run_id == view.id]
    if fail:
        store.fail(claim.task_run_id, claim.token, c.task_error(), False, now)
    else:
        store.complete(claim.task_run_id, claim.token, {"done": True}, now)


class IdempotencyContract:
    def test_a_run_of_a_held_key_is_not_created_and_the_holder_is_named(
        self, store: RunStore
    ) -> None:
        spec = keyed()
        first = created(store, spec, 0.0, "a")
        assert answer(store, spec, 5.0, "a") == Collision("keyed", "a", first.id)
        other = created(store, spec, 5.0, "b")  # another key is free
        assert len(store.run_ids()) == 2 and other.id != first.id

    def test_a_ttl_key_is_free_again_at_its_ttl_and_the_new_run_holds_it_for_its_own(
        self, store: RunStore
    ) -> None:
        spec = keyed(seconds=10.0)
        first = created(store, spec, 0.0, "a")
        assert isinstance(answer(store, spec, c.just_before(10.0), "a"), Collision)
        second = created(store, spec, 10.0, "a")
        assert answer(store, spec, 19.0, "a") == Collision("keyed", "a", second.id)
        assert first.id != second.id

    def test_a_ttl_key_stays_held_after_its_holder_ends(self, store: RunStore) -> None:
        spec = keyed(seconds=10.0)
        first = created(store, spec, 0.0, "a")
        finish(store, first, 1.0)
        assert c.get_run(store, first.id).status is RunStatus.COMPLETED
        assert answer(store, spec, 2.0, "a") == Collision("keyed", "a", first.id)

    def test_a_status_key_is_free_once_its_holder_completes(self, store: RunStore) -> None:
        spec = keyed(method=STATUS, seconds=100.0)
        first = created(store, spec, 0.0, "a")
        assert isinstance(answer(store, spec, 1.0, "a"), Collision)
        finish(store, first, 2.0)
        second = created(store, spec, 3.0, "a")
        assert answer(store, spec, 4.0, "a") == Collision("keyed", "a", second.id)

    def test_a_status_key_is_held_through_retries_and_free_when_the_holder_fails(
        self, store: RunStore
    ) -> None:
        spec = keyed(method=STATUS, seconds=100.0, retries=1)
        first = created(store, spec, 0.0, "a")
        finish(store, first, 1.0, fail=True)  # retried: the run goes on
        assert answer(store, spec, 2.0, "a") == Collision("keyed", "a", first.id)
        finish(store, first, 3.0, fail=True)  # out of retries: FAILED
        assert c.get_run(store, first.id).status is RunStatus.FAILED
        created(store, spec, 4.0, "a")

    def test_a_status_key_is_free_once_its_holder_is_cancelled(self, store: RunStore) -> None:
        spec = keyed(method=STATUS, seconds=100.0)
        first = created(store, spec, 0.0, "a")
        store.cancel_run(first.id, "cancelled by the test", 1.0)
        created(store, spec, 2.0, "a")

    def test_a_status_key_is_free_after_its_fallback_ttl_while_the_holder_runs(
        self, store: RunStore
    ) -> None:
        spec = keyed(method=STATUS, seconds=10.0, execution_timeout=1000.0)
        first = created(store, spec, 0.0, "a")
        c.claim_all(store, ["keyed"], 1.0, lease=1000.0)
        assert isinstance(answer(store, spec, c.just_before(10.0), "a"), Collision)
        created(store, spec, 10.0, "a")
        assert c.get_run(store, first.id).status is RunStatus.RUNNING

    def test_in_one_batch_the_first_request_of_a_key_claims_it_and_the_rest_are_created(
        self, store: RunStore
    ) -> None:
        spec = keyed()
        answers = store.create_runs(
            [c.run_request(spec, {"id": key}) for key in ("a", "a", "b", "a")], 0.0
        )
        first, second, other, fourth = answers
        assert isinstance(first, RunView) and isinstance(other, RunView)
        assert second == fourth == Collision("keyed", "a", first.id)
        assert sorted(store.run_ids()) == sorted([first.id, other.id])

    def test_keys_are_one_namespace_for_every_workflow(self, store: RunStore) -> None:
        orders = created(store, keyed("orders"), 0.0, "a")
        assert answer(store, keyed("refunds"), 1.0, "a") == Collision("refunds", "a", orders.id)

    def test_a_key_may_be_built_from_literals_and_additional_metadata(
        self, store: RunStore
    ) -> None:
        rule = IdempotencyRule("'tenant:' + additional_metadata.tenant + ':' + input.id", 10.0)
        spec = dataclasses.replace(c.single_spec("meta"), idempotency=rule)
        request = c.run_request(spec, {"id": "7"}, metadata={"tenant": "acme"})
        (first,) = store.create_runs([request], 0.0)
        (again,) = store.create_runs([request], 1.0)
        assert isinstance(first, RunView)
        assert again == Collision("meta", "tenant:acme:7", first.id)

    def test_a_child_spawned_again_is_the_run_that_exists_not_a_collision(
        self, store: RunStore
    ) -> None:
        parent = c.create_run(store, c.single_spec("parent", retries=1), 0.0)
        claim = c.claim_all(store, ["parent"], 1.0)[0]
        child = keyed("child")
        (first,) = store.create_runs([c.run_request(child, {"id": "a"})], 1.0, claim.task_run_id)
        store.fail(claim.task_run_id, claim.token, c.task_error(), False, 2.0)
        retry = c.claim_all(store, ["parent"], 3.0)[0]
        assert retry.run_id == parent.id
        (again,) = store.create_runs([c.run_request(child, {"id": "a"})], 3.0, retry.task_run_id)
        assert isinstance(first, RunView) and isinstance(again, RunView)
        assert again.id == first.id

    def test_a_key_that_cannot_be_evaluated_refuses_the_batch(self, store: RunStore) -> None:
        spec = keyed()
        requests = [c.run_request(spec, {"id": "a"}), c.run_request(spec, {"other": 1})]
        with pytest.raises(InvalidInputError, match=r"workflow 'keyed'.*input\.id"):
            store.create_runs(requests, 0.0)
        assert store.run_ids() == []
        created(store, spec, 1.0, "a")  # nothing claimed it
