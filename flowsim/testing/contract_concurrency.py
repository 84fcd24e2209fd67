"""The concurrency part of the store contract: limits, waiting, admission, cancellation.

``RunStoreContract`` inherits ``ConcurrencyContract``, so every store runs these tests
unchanged. Expected values come from Hatchet's documented semantics (its "Concurrency"
guide, as ``flowsim.rules.on_arrival`` states them), never from the reference store:
GROUP_ROUND_ROBIN runs over the limit wait and are admitted first come first served as
places free; CANCEL_IN_PROGRESS cancels the oldest holder, CANCEL_NEWEST the newcomer,
both with ``rules.CONCURRENCY_CANCEL_REASON``; a list of limits admits only when every
one does; a workflow-level limit is held for the whole run.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import pytest

from flowsim import rules
from flowsim.errors import InvalidInputError
from flowsim.rules import ConcurrencyStrategy, RunStatus
from flowsim.store.protocol import RunStore
from flowsim.store.records import ConcurrencyLimit, WorkflowSpec

GRR = ConcurrencyStrategy.GROUP_ROUND_ROBIN
CIP = ConcurrencyStrategy.CANCEL_IN_PROGRESS
CN = ConcurrencyStrategy.CANCEL_NEWEST
EXCEPT_NEWEST = ConcurrencyStrategy.CANCEL_QUEUED_EXCEPT_NEWEST
EXCEPT_OLDEST = ConcurrencyStrategy.CANCEL_QUEUED_EXCEPT_OLDEST


def limited(
    spec: WorkflowSpec,
    *limits: ConcurrencyLimit,
    task: str | None = None,
) -> WorkflowSpec:
    """``spec`` with ``limits`` on the workflow, or on its task ``task``."""
    if task is None:
        return dataclasses.replace(spec, concurrency=tuple(limits))
    tasks = dict(spec.tasks)
    tasks[task] = dataclasses.replace(tasks[task], concurrency=tuple(limits))
    return dataclasses.replace(spec, tasks=tasks)


def by_group(
    max_runs: int = 1, strategy: ConcurrencyStrategy = GRR, key: str = "input.group"
) -> ConcurrencyLimit:
    return ConcurrencyLimit(key, max_runs, strategy)


def _groups(groups: Sequence[str]) -> list[dict[str, str]]:
    return [{"group": group} for group in groups]


class ConcurrencyContract:
    """Mixed into ``RunStoreContract``; see the module docstring."""

    def _one_task(self, *limits: ConcurrencyLimit, level: str = "workflow", **task: object
                  ) -> WorkflowSpec:  # fmt: skip
        spec = c.single_spec("limited", **task)
        return limited(spec, *limits, task="t" if level == "task" else None)

    def _claimed_groups(self, store: RunStore, now: float, free: int = 100) -> list[str]:
        claims = c.claim_all(store, ["limited"], now, free=free)
        return [claim.input["group"] for claim in claims]

    def test_concurrency_group_round_robin_runs_over_the_limit_wait_per_key(
        self, store: RunStore
    ) -> None:
        self._runs_over_the_limit_wait(store, "workflow")

    def test_concurrency_task_level_runs_over_the_limit_wait_per_key(self, store: RunStore) -> None:
        self._runs_over_the_limit_wait(store, "task")

    def _runs_over_the_limit_wait(self, store: RunStore, level: str) -> None:
        spec = self._one_task(by_group(max_runs=2), level=level)
        requests = [c.run_request(spec, i) for i in _groups("AAABA")]
        views = c.created(store, requests, 0.0)
        assert [view.status for view in views] == [RunStatus.QUEUED] * 5
        # two of A (first come first served) and B; the third and fourth A wait
        assert self._claimed_groups(store, 1.0) == ["A", "A", "B"]
        assert c.claim_all(store, ["limited"], 2.0) == []
        waiting = {task.run_id for task in store.snapshot(2.0).queued}
        assert waiting == {views[2].id, views[4].id}

    def test_concurrency_a_freed_place_admits_the_oldest_waiting_run_of_its_key(
        self, store: RunStore
    ) -> None:
        spec = self._one_task(by_group())
        first, second, third = c.created(
            store, [c.run_request(spec, i) for i in _groups("AAA")], 0.0
        )
        (claim,) = c.claim_all(store, ["limited"], 1.0)
        assert claim.run_id == first.id
        outcome = store.complete(claim.task_run_id, claim.token, {"ok": 1}, 2.0)
        assert outcome.queued >= 1
        (claim,) = c.claim_all(store, ["limited"], 3.0)
        assert claim.run_id == second.id
        assert c.get_run(store, third.id).status is RunStatus.QUEUED

    def test_concurrency_admitted_runs_queue_behind_runs_already_queued(
        self, store: RunStore
    ) -> None:
        spec = self._one_task(by_group())
        plain = c.single_spec("plain")
        _, a2 = c.created(store, [c.run_request(spec, i) for i in _groups("AA")], 0.0)
        (claim,) = c.claim_all(store, ["limited"], 1.0)
        other = c.create_run(store, plain, 2.0)
        store.complete(claim.task_run_id, claim.token, None, 3.0)
        # a2 was created first but joins the queue when admitted, behind `other`
        claims = c.claim_all(store, ["plain", "limited"], 4.0)
        assert [claim.run_id for claim in claims] == [other.id, a2.id]

    def test_concurrency_waiting_run_is_cancelled_at_its_schedule_deadline(
        self, store: RunStore
    ) -> None:
        spec = self._one_task(by_group(), schedule_timeout=10.0)
        holder, waiter = c.created(store, [c.run_request(spec, i) for i in _groups("AA")], 0.0)
        c.claim_all(store, ["limited"], 1.0)
        assert store.next_wakeup(2.0) == 10.0
        outcome = store.expire(10.0)
        assert outcome.finished == (waiter.id,)
        task = c.get_run(store, waiter.id).tasks["t"]
        assert task.status is RunStatus.CANCELLED
        assert task.error is not None and "SCHEDULING_TIMED_OUT" in task.error.exc
        assert c.get_run(store, holder.id).status is RunStatus.RUNNING

    def test_concurrency_cancelling_a_holder_admits_the_next_and_a_waiter_frees_nothing(
        self, store: RunStore
    ) -> None:
        spec = self._one_task(by_group())
        one, two, three = c.created(store, [c.run_request(spec, i) for i in _groups("AAA")], 0.0)
        c.claim_all(store, ["limited"], 1.0)
        store.cancel_run(two.id, "not wanted", 2.0)  # waiting: nothing frees
        assert c.claim_all(store, ["limited"], 3.0) == []
        assert store.cancel_run(one.id, "stop", 4.0).queued >= 1
        (claim,) = c.claim_all(store, ["limited"], 5.0)
        assert claim.run_id == three.id

    def test_concurrency_a_retrying_holder_keeps_its_place(self, store: RunStore) -> None:
        spec = self._one_task(by_group(), level="task", retries=1)
        holder, waiter = c.created(store, [c.run_request(spec, i) for i in _groups("AA")], 0.0)
        (claim,) = c.claim_all(store, ["limited"], 1.0)
        assert store.fail(claim.task_run_id, claim.token, c.task_error(), False, 2.0).queued == 1
        (retry,) = c.claim_all(store, ["limited"], 3.0)
        assert retry.run_id == holder.id
        assert c.get_run(store, waiter.id).status is RunStatus.QUEUED

    def test_concurrency_cancel_in_progress_cancels_the_oldest_running_holder(
        self, store: RunStore
    ) -> None:
        spec = self._one_task(by_group(strategy=CIP))
        old = c.create_run(store, spec, 0.0, {"group": "A"})
        other = c.create_run(store, spec, 0.0, {"group": "B"})
        claims = c.claim_all(store, ["limited"], 1.0)
        new = c.create_run(store, spec, 2.0, {"group": "A"})
        cancelled = c.get_run(store, old.id)
        assert cancelled.status is RunStatus.CANCELLED
        task = cancelled.tasks["t"]
        assert task.error is not None
        assert (task.error.exc, task.error.exc_type) == (
            rules.CONCURRENCY_CANCEL_REASON,
            "CancelledError",
        )
        assert [a.outcome for a in task.attempts] == ["CANCELLED"]
        # the cancelled attempt is fenced off: its late result changes nothing
        late = claims[0]
        assert not store.complete(late.task_run_id, late.token, {"late": 1}, 3.0).accepted
        assert c.get_run(store, other.id).status is RunStatus.RUNNING
        (claim,) = c.claim_all(store, ["limited"], 3.0)
        assert claim.run_id == new.id

    def test_concurrency_cancel_in_progress_keeps_max_runs_newest(self, store: RunStore) -> None:
        spec = self._one_task(by_group(max_runs=2, strategy=CIP), level="task")
        views = c.created(store, [c.run_request(spec, i) for i in _groups("AAAA")], 0.0)
        statuses = [run.status for run in store.get_runs([view.id for view in views])]
        assert statuses == [RunStatus.CANCELLED] * 2 + [RunStatus.QUEUED] * 2

    def test_concurrency_cancel_newest_cancels_the_newcomer(self, store: RunStore) -> None:
        spec = self._one_task(by_group(strategy=CN))
        first = c.create_run(store, spec, 0.0, {"group": "A"})
        (claim,) = c.claim_all(store, ["limited"], 1.0)
        newest = c.create_run(store, spec, 2.0, {"group": "A"})
        assert newest.status is RunStatus.CANCELLED
        task = newest.tasks["t"]
        assert task.error is not None and task.error.exc == rules.CONCURRENCY_CANCEL_REASON
        assert task.attempts == ()
        assert c.get_run(store, first.id).status is RunStatus.RUNNING
        store.complete(claim.task_run_id, claim.token, None, 3.0)
        # the place is free again: the next one runs
        later = c.create_run(store, spec, 4.0, {"group": "A"})
        assert later.status is RunStatus.QUEUED
        assert [claim.run_id for claim in c.claim_all(store, ["limited"], 5.0)] == [later.id]

    def test_concurrency_cancel_queued_except_newest_replaces_the_waiting_run(
        self, store: RunStore
    ) -> None:
        self._newest_replaces_the_waiting_run(store, "workflow")

    def test_concurrency_cancel_queued_except_newest_replaces_a_waiting_task_run(
        self, store: RunStore
    ) -> None:
        self._newest_replaces_the_waiting_run(store, "task")

    def _newest_replaces_the_waiting_run(self, store: RunStore, level: str) -> None:
        """Hatchet's guide, max_runs=1: A runs, B waits, C replaces B; C runs after A."""
        spec = self._one_task(by_group(strategy=EXCEPT_NEWEST), level=level)
        a = c.create_run(store, spec, 0.0, {"group": "G"})
        (claim,) = c.claim_all(store, ["limited"], 1.0)
        b = c.create_run(store, spec, 2.0, {"group": "G"})
        assert c.claim_all(store, ["limited"], 2.5) == []  # B waits
        cc = c.create_run(store, spec, 3.0, {"group": "G"})
        cancelled = c.get_run(store, b.id)
        assert cancelled.status is RunStatus.CANCELLED
        error = cancelled.tasks["t"].error
        assert error is not None and error.exc == rules.CONCURRENCY_CANCEL_REASON
        assert cc.status is RunStatus.QUEUED
        store.complete(claim.task_run_id, claim.token, None, 4.0)
        assert c.get_run(store, a.id).status is RunStatus.COMPLETED
        assert [claim.run_id for claim in c.claim_all(store, ["limited"], 5.0)] == [cc.id]

    def test_create_runs_returns_each_run_as_the_whole_batch_left_it(self, store: RunStore) -> None:
        """max_runs=1, the newest replacing the waiting run: A holds the place, then one
        batch brings B and C. C replaces B within the batch, and the views the batch
        returns show B cancelled, as a read afterwards does."""
        for level in ("workflow", "task"):
            spec = self._one_task(by_group(strategy=EXCEPT_NEWEST), level=level)
            c.create_run(store, spec, 0.0, {"group": level})
            pair = [c.run_request(spec, {"group": level}) for _ in range(2)]
            returned = c.created(store, pair, 1.0)
            read = store.get_runs([view.id for view in returned])
            expected = [RunStatus.CANCELLED, RunStatus.QUEUED]
            assert [view.status for view in returned] == expected, level
            assert [view.status for view in read] == expected, level
            assert [view.tasks["t"].status for view in returned] == expected, level

    def test_concurrency_cancel_queued_except_oldest_cancels_the_newcomer(
        self, store: RunStore
    ) -> None:
        self._oldest_cancels_the_newcomer(store, "workflow")

    def test_concurrency_cancel_queued_except_oldest_cancels_a_newcomer_task_run(
        self, store: RunStore
    ) -> None:
        self._oldest_cancels_the_newcomer(store, "task")

    def _oldest_cancels_the_newcomer(self, store: RunStore, level: str) -> None:
        """Hatchet's guide, max_runs=1: A runs, B waits, C is cancelled; B runs after A."""
        spec = self._one_task(by_group(strategy=EXCEPT_OLDEST), level=level)
        c.create_run(store, spec, 0.0, {"group": "G"})
        (claim,) = c.claim_all(store, ["limited"], 1.0)
        b = c.create_run(store, spec, 2.0, {"group": "G"})
        cc = c.create_run(store, spec, 3.0, {"group": "G"})
        assert cc.status is RunStatus.CANCELLED
        assert c.get_run(store, b.id).status is RunStatus.QUEUED
        store.complete(claim.task_run_id, claim.token, None, 4.0)
        assert [claim.run_id for claim in c.claim_all(store, ["limited"], 5.0)] == [b.id]

    def test_concurrency_cancel_queued_except_keeps_max_runs_running_and_max_runs_queued(
        self, store: RunStore
    ) -> None:
        self._backlog_leaves_max_runs_queued(store, EXCEPT_NEWEST, [6, 7])
        self._backlog_leaves_max_runs_queued(store, EXCEPT_OLDEST, [2, 3])

    def _backlog_leaves_max_runs_queued(
        self, store: RunStore, strategy: ConcurrencyStrategy, waiting: list[int]
    ) -> None:
        """The engine's own invariant: a backlog of 8 on one key with max_runs=2 leaves 2
        running, 2 queued (the newest or the oldest) and 4 cancelled; the other keys' runs
        are not touched."""
        name = f"backlog-{strategy.value.lower()}"
        spec = limited(c.single_spec(name), by_group(max_runs=2, strategy=strategy))
        runs = c.created(store, [c.run_request(spec, i) for i in _groups("GGGGGGGGH")], 0.0)
        views = store.get_runs([run.id for run in runs])
        cancelled = [i for i, view in enumerate(views) if view.status is RunStatus.CANCELLED]
        assert cancelled == [i for i in range(2, 8) if i not in waiting]
        claims = c.claim_all(store, [name], 1.0)
        assert [claim.run_id for claim in claims] == [runs[0].id, runs[1].id, runs[8].id]
        assert c.claim_all(store, [name], 1.5) == []  # G is full, its queue waits
        for claim in claims:
            store.complete(claim.task_run_id, claim.token, None, 2.0)
        assert [claim.run_id for claim in c.claim_all(store, [name], 3.0)] == [
            runs[i].id for i in waiting
        ]

    def test_concurrency_a_shared_limit_spans_workflows(self, store: RunStore) -> None:
        """A tenant-scoped limit, shared by name: a run of one workflow holding the place
        keeps a run of another waiting; its end lets that one in."""
        shared = dataclasses.replace(by_group(), shared="per-customer")
        first = limited(c.single_spec("shared-a"), shared)
        second = limited(c.single_spec("shared-b"), shared)
        a = c.create_run(store, first, 0.0, {"group": "G"})
        b = c.create_run(store, second, 1.0, {"group": "G"})
        other = c.create_run(store, second, 1.5, {"group": "H"})
        claims = c.claim_all(store, ["shared-a", "shared-b"], 2.0)
        assert [claim.run_id for claim in claims] == [a.id, other.id]
        store.complete(claims[0].task_run_id, claims[0].token, None, 3.0)
        assert [claim.run_id for claim in c.claim_all(store, ["shared-b"], 4.0)] == [b.id]

    def test_concurrency_every_limit_of_a_list_must_admit(self, store: RunStore) -> None:
        digit = ConcurrencyLimit("input.digit", 1, GRR)
        name = ConcurrencyLimit("input.name", 1, GRR)
        spec = self._one_task(digit, name, level="task")
        inputs = [("1", "anna"), ("1", "bob"), ("2", "anna"), ("2", "bob")]
        x, y, z, w = c.created(
            store, [c.run_request(spec, {"digit": d, "name": n}) for d, n in inputs], 0.0
        )
        # y waits for digit 1, z for anna (digit 2 is free), w behind z for digit 2
        (claim,) = c.claim_all(store, ["limited"], 1.0)
        assert claim.run_id == x.id
        store.complete(claim.task_run_id, claim.token, None, 2.0)
        claims = c.claim_all(store, ["limited"], 3.0)
        assert [claim.run_id for claim in claims] == [y.id, z.id]
        for claim in claims:
            assert c.claim_all(store, ["limited"], 4.0) == []  # w needs digit 2 and bob
            store.complete(claim.task_run_id, claim.token, None, 4.0)
        assert [claim.run_id for claim in c.claim_all(store, ["limited"], 5.0)] == [w.id]

    def test_concurrency_workflow_level_place_is_held_for_the_whole_dag(
        self, store: RunStore
    ) -> None:
        spec = limited(c.diamond_spec("limited"), by_group())
        first, second = c.created(store, [c.run_request(spec, i) for i in _groups("AA")], 0.0)
        now = 1.0
        for wave in (["a"], ["b", "c"], ["d"]):
            claims = c.claim_all(store, ["limited"], now)
            assert [(claim.run_id, claim.task) for claim in claims] == [
                (first.id, name) for name in wave
            ]
            for claim in claims:
                store.complete(claim.task_run_id, claim.token, None, now + 0.5)
            now += 1.0
        assert c.get_run(store, first.id).status is RunStatus.COMPLETED
        assert [claim.run_id for claim in c.claim_all(store, ["limited"], now)] == [second.id]

    def test_concurrency_task_level_limit_applies_when_a_dag_task_is_created(
        self, store: RunStore
    ) -> None:
        spec = limited(c.diamond_spec("limited"), by_group(), task="d")
        first, second = c.created(store, [c.run_request(spec, i) for i in _groups("AA")], 0.0)
        for now in (1.0, 2.0):  # a of both runs, then b and c of both
            for claim in c.claim_all(store, ["limited"], now):
                store.complete(claim.task_run_id, claim.token, None, now + 0.5)
        # both runs created d; the first's took the place, the second's waits
        (claim,) = c.claim_all(store, ["limited"], 3.0)
        assert (claim.run_id, claim.task) == (first.id, "d")
        assert c.get_run(store, second.id).tasks["d"].status is RunStatus.QUEUED
        store.complete(claim.task_run_id, claim.token, None, 3.5)
        (claim,) = c.claim_all(store, ["limited"], 4.0)
        assert (claim.run_id, claim.task) == (second.id, "d")

    def test_concurrency_key_that_cannot_be_evaluated_creates_nothing(
        self, store: RunStore
    ) -> None:
        spec = self._one_task(by_group())
        good = c.run_request(spec, {"group": "A"})
        with pytest.raises(InvalidInputError, match=r"input\.group"):
            c.created(store, [good, c.run_request(spec, {"other": 1})], 0.0)
        assert store.run_ids() == []

    def test_concurrency_key_reads_additional_metadata(self, store: RunStore) -> None:
        spec = self._one_task(by_group(key="additional_metadata.tenant"))
        a, b, c2 = c.created(
            store, [c.run_request(spec, {}, metadata={"tenant": t}) for t in ("x", "x", "y")], 0.0
        )
        assert {claim.run_id for claim in c.claim_all(store, ["limited"], 1.0)} == {a.id, c2.id}
        assert c.get_run(store, b.id).status is RunStatus.QUEUED


# imported last: contract imports this module to build RunStoreContract
from flowsim.testing import contract as c  # noqa: E402
