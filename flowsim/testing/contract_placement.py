"""The placement part of the ``RunStore`` contract: worker labels, affinity, sticky runs.

``RunStoreContract`` inherits these tests, so every store runs them unchanged. Expected
outcomes come from ``flowsim.placement`` (its comparator direction, its patience), never
from the reference store.
"""

from __future__ import annotations

from collections.abc import Mapping

from flowsim.placement import (
    PREFERENCE_PATIENCE,
    Comparator,
    DesiredLabel,
    LabelValue,
    Sticky,
)
from flowsim.rules import SlotPool
from flowsim.store.protocol import RunRequest, RunStore, WorkerInfo
from flowsim.store.records import TaskSpec, WorkflowSpec
from flowsim.testing.creating import created

A, B = "worker-a", "worker-b"
LEASE = 30.0


def _labelled(name: str, *desired: DesiredLabel, sticky: Sticky | None = None) -> WorkflowSpec:
    task = TaskSpec("t", (), 0, None, None, 60.0, 300.0, False, desired_labels=desired)
    return WorkflowSpec(name, {"t": task}, sticky=sticky)


def _sticky_dag(name: str, sticky: Sticky) -> WorkflowSpec:
    """``first -> second``, sticky."""
    first = TaskSpec("first", (), 0, None, None, 60.0, 300.0, False)
    second = TaskSpec("second", ("first",), 0, None, None, 60.0, 300.0, False)
    return WorkflowSpec(name, {"first": first, "second": second}, sticky=sticky)


def _register(
    store: RunStore,
    worker: str,
    workflows: tuple[str, ...],
    labels: Mapping[str, LabelValue] | None = None,
    slots: int = 10,
    now: float = 0.0,
) -> None:
    info = WorkerInfo(worker, worker, {SlotPool.DEFAULT: slots}, workflows, dict(labels or {}))
    store.register_worker(info, now, LEASE)


def _create(
    store: RunStore, spec: WorkflowSpec, now: float, sticky_worker: str | None = None
) -> str:
    (view,) = created(store, [RunRequest(spec, {}, sticky_worker=sticky_worker)], now)
    return view.id


def _claim(
    store: RunStore, worker: str, workflows: list[str], now: float, free: int = 10
) -> list[str]:
    """The run ids the worker claims."""
    return [c.run_id for c in store.claim(worker, workflows, SlotPool.DEFAULT, free, now, LEASE)]


GPU = DesiredLabel("gpu", "a100", required=True)


class PlacementContract:
    """Placement behaviours every store keeps (mixed into ``RunStoreContract``)."""

    def test_a_required_label_the_worker_lacks_is_passed_over(self, store: RunStore) -> None:
        _register(store, A, ("gpu", "plain"), {"gpu": "t4"})
        needs_gpu = _create(store, _labelled("gpu", GPU), 0.0)
        plain = _create(store, _labelled("plain"), 0.0)
        # the task run A may not take stays queued, and the one behind it is still claimed
        assert _claim(store, A, ["gpu", "plain"], 1.0) == [plain]
        assert store.get_runs([needs_gpu])[0].status.value == "QUEUED"
        _register(store, B, ("gpu",), {"gpu": "a100"})
        assert _claim(store, B, ["gpu"], 2.0) == [needs_gpu]

    def test_ordering_comparators_compare_the_workers_value_with_the_desired_one(
        self, store: RunStore
    ) -> None:
        under = DesiredLabel("memory", 256, required=True, comparator=Comparator.LESS_THAN)
        _register(store, A, ("mem",), {"memory": 512})
        _register(store, B, ("mem",), {"memory": 128})
        run = _create(store, _labelled("mem", under), 0.0)
        assert _claim(store, A, ["mem"], 1.0) == []  # 512 < 256 is false
        assert _claim(store, B, ["mem"], 1.0) == [run]  # 128 < 256

    def test_a_preference_waits_for_a_better_live_worker_with_a_free_slot(
        self, store: RunStore
    ) -> None:
        prefers = DesiredLabel("model", "v2", weight=10)
        _register(store, A, ("pref",), {"model": "v1"})
        _register(store, B, ("pref",), {"model": "v2"})
        first = _create(store, _labelled("pref", prefers), 0.0)
        assert _claim(store, A, ["pref"], 0.5) == []  # left to B, which scores 10
        assert store.next_wakeup(0.5) == PREFERENCE_PATIENCE  # A looks again then
        assert _claim(store, B, ["pref"], 0.6) == [first]
        second = _create(store, _labelled("pref", prefers), 1.0)
        # patience is bounded: past it, any eligible worker takes the task run
        assert _claim(store, A, ["pref"], 1.0 + PREFERENCE_PATIENCE) == [second]

    def test_a_preference_does_not_wait_for_a_worker_with_no_free_slot(
        self, store: RunStore
    ) -> None:
        prefers = DesiredLabel("model", "v2", weight=10)
        _register(store, A, ("pref",), {"model": "v1"})
        _register(store, B, ("pref",), {"model": "v2"}, slots=1)
        busy = _create(store, _labelled("pref", prefers), 0.0)
        assert _claim(store, B, ["pref"], 0.1) == [busy]  # B is full now
        waiting = _create(store, _labelled("pref", prefers), 0.2)
        assert _claim(store, A, ["pref"], 0.3) == [waiting]

    def test_a_preference_does_not_wait_for_a_dead_or_stopped_worker(self, store: RunStore) -> None:
        prefers = DesiredLabel("model", "v2", weight=10)
        _register(store, A, ("pref",), {"model": "v1"}, now=0.0)
        _register(store, B, ("pref",), {"model": "v2"}, now=-LEASE)  # its lease ended at 0
        run = _create(store, _labelled("pref", prefers), 0.0)
        assert _claim(store, A, ["pref"], 0.1) == [run]

    def test_hard_sticky_runs_every_task_on_the_worker_of_the_first(self, store: RunStore) -> None:
        _register(store, A, ("hard",))
        _register(store, B, ("hard",))
        run = _create(store, _sticky_dag("hard", Sticky.HARD), 0.0)
        (claim,) = store.claim(A, ["hard"], SlotPool.DEFAULT, 10, 1.0, LEASE)
        store.complete(claim.task_run_id, claim.token, {}, 2.0)
        assert _claim(store, B, ["hard"], 3.0) == []  # pinned to A, which lives
        assert _claim(store, A, ["hard"], 3.0) == [run]

    def test_hard_sticky_waits_for_its_worker_even_when_it_is_gone(self, store: RunStore) -> None:
        _register(store, A, ("hard",))
        _register(store, B, ("hard",))
        run = _create(store, _sticky_dag("hard", Sticky.HARD), 0.0)
        (claim,) = store.claim(A, ["hard"], SlotPool.DEFAULT, 10, 1.0, LEASE)
        store.complete(claim.task_run_id, claim.token, {}, 2.0)
        store.stop_worker(A)
        # Hatchet: the task stays pending until its worker is back or its schedule times out
        assert _claim(store, B, ["hard"], 3.0) == []
        store.expire(2.0 + 300.0)
        assert store.get_runs([run])[0].tasks["second"].status.value == "CANCELLED"

    def test_soft_sticky_prefers_its_worker_and_falls_back_when_it_is_full(
        self, store: RunStore
    ) -> None:
        _register(store, A, ("soft",), slots=1)
        _register(store, B, ("soft",))
        one = _create(store, _sticky_dag("soft", Sticky.SOFT), 0.0)
        (first,) = store.claim(A, ["soft"], SlotPool.DEFAULT, 1, 1.0, LEASE)
        assert first.run_id == one
        store.complete(first.task_run_id, first.token, {}, 1.5)
        assert _claim(store, B, ["soft"], 1.6) == []  # A has a free slot: left to A
        assert _claim(store, A, ["soft"], 1.7, free=1) == [one]
        # A is full now: a run pinned to it may go to B at once
        other = _create(store, _sticky_dag("soft", Sticky.SOFT), 2.0, sticky_worker=A)
        assert _claim(store, B, ["soft"], 2.1) == [other]

    def test_a_child_triggered_sticky_is_pinned_to_its_spawners_worker(
        self, store: RunStore
    ) -> None:
        _register(store, A, ("child",))
        _register(store, B, ("child",))
        child = _create(store, _labelled("child", sticky=Sticky.HARD), 0.0, sticky_worker=B)
        assert _claim(store, A, ["child"], 1.0) == []
        assert _claim(store, B, ["child"], 1.0) == [child]

    def test_set_worker_labels_changes_what_it_may_claim(self, store: RunStore) -> None:
        _register(store, A, ("gpu",), {"gpu": "t4"})
        run = _create(store, _labelled("gpu", GPU), 0.0)
        assert _claim(store, A, ["gpu"], 1.0) == []
        store.set_worker_labels(A, {"gpu": "a100"})
        assert _claim(store, A, ["gpu"], 2.0) == [run]
        (worker,) = store.snapshot(2.0).workers
        assert worker.info.labels == {"gpu": "a100"}

    def test_a_workers_labels_are_stored_for_every_process(self, store: RunStore) -> None:
        _register(store, A, ("plain",), {"model": "v2", "memory": 512})
        (worker,) = store.snapshot(0.0).workers
        assert worker.info.labels == {"model": "v2", "memory": 512}


__all__ = ["PlacementContract"]
