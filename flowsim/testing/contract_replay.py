"""The replay part of the store contract (``RunStoreContract`` inherits it).

``replay_tasks`` is ``hatchet.runs.replay`` in the store: an ended task run is queued
again under its id as its next retry, with its whole retry budget back (retries count from
the replay), its output and error gone, spawn index 0, at retry priority, its schedule
clock starting at the replay; its run is RUNNING and ends again later. A task run that has
not ended is left alone.
"""

from __future__ import annotations

import pytest

import flowsim.testing.contract as c
from flowsim import rules
from flowsim.errors import RunNotFoundError
from flowsim.rules import ConcurrencyStrategy, RunStatus
from flowsim.store.protocol import Claim, RunStore, RunView
from flowsim.testing.contract_concurrency import by_group, limited


def _ended_once(
    store: RunStore, spec_name: str = "single", **task: object
) -> tuple[RunView, Claim]:
    """A one-task run, claimed at 1.0 and completed at 2.0 with ``{"n": 1}``."""
    view = c.create_run(store, c.single_spec(spec_name, **task), 0.0)
    (claim,) = c.claim_all(store, [spec_name], 1.0)
    store.complete(claim.task_run_id, claim.token, {"n": 1}, 2.0)
    return view, claim


class ReplayContract:
    def test_replay_queues_an_ended_task_run_again_under_its_id_as_its_next_retry(
        self, store: RunStore
    ) -> None:
        view, first = _ended_once(store)
        cursor = store.finished_since(None).cursor
        outcome = store.replay_tasks([first.task_run_id], 10.0)
        assert (outcome.accepted, outcome.finished, outcome.queued) == (True, (), 1)
        run = c.get_run(store, view.id)
        assert (run.status, run.finished_at) == (RunStatus.RUNNING, None)
        task = run.tasks["t"]
        assert (task.id, task.status, task.retry_count) == (first.task_run_id, RunStatus.QUEUED, 1)
        assert (task.output, task.error, task.worker_id) == (None, None, None)
        assert [a.outcome for a in task.attempts] == ["COMPLETED"]  # the history stays
        (again,) = c.claim_all(store, ["single"], 10.0)
        assert (again.task_run_id, again.retry_count) == (first.task_run_id, 1)
        assert again.token > first.token
        assert store.complete(again.task_run_id, again.token, {"n": 2}, 11.0).finished == (view.id,)
        run = c.get_run(store, view.id)
        assert (run.status, run.finished_at, run.tasks["t"].output) == (
            RunStatus.COMPLETED, 11.0, {"n": 2}
        )  # fmt: skip
        assert [(a.number, a.queued_at) for a in run.tasks["t"].attempts] == [(1, 0.0), (2, 10.0)]
        assert view.id in store.finished_since(cursor).run_ids  # it ended again

    def test_a_replayed_task_run_has_its_whole_retry_budget_back(self, store: RunStore) -> None:
        spec = c.single_spec(retries=1, backoff_factor=2.0)
        view = c.create_run(store, spec, 0.0)
        now = 0.0
        for _ in range(2):  # the first attempt and its one retry fail: the run FAILED
            now = max(now, store.next_wakeup(now) or now)
            (claim,) = c.claim_all(store, ["single"], now)
            store.fail(claim.task_run_id, claim.token, c.task_error(), False, now)
        assert c.get_run(store, view.id).status is RunStatus.FAILED
        store.replay_tasks([claim.task_run_id], 100.0)
        task = c.get_run(store, view.id).tasks["t"]
        assert (task.status, task.retry_count, task.error) == (RunStatus.QUEUED, 2, None)
        (replayed,) = c.claim_all(store, ["single"], 100.0)
        assert replayed.retry_count == 2
        outcome = store.fail(replayed.task_run_id, replayed.token, c.task_error(), False, 101.0)
        assert outcome.finished == ()  # retried: the budget counts from the replay
        ready_at = 101.0 + rules.backoff_delay(1, 2.0, None)  # and so does the backoff
        assert c.claim_all(store, ["single"], c.just_before(ready_at)) == []
        (retry,) = c.claim_all(store, ["single"], ready_at)
        assert retry.retry_count == 3
        failed = store.fail(retry.task_run_id, retry.token, c.task_error("last"), False, 110.0)
        assert failed.finished == (view.id,)
        task = c.get_run(store, view.id).tasks["t"]
        assert (task.status, task.retry_count, len(task.attempts)) == (RunStatus.FAILED, 3, 4)

    def test_replay_leaves_a_queued_or_running_task_run_alone(self, store: RunStore) -> None:
        queued = c.create_run(store, c.single_spec("waiting"), 0.0)
        running = c.create_run(store, c.single_spec(), 0.0)
        (claim,) = c.claim_all(store, ["single"], 1.0)
        before = c.canonical_views(store.get_runs([queued.id, running.id]))
        ids = [queued.tasks["t"].id, claim.task_run_id]
        assert store.replay_tasks(ids, 2.0).queued == 0
        assert c.canonical_views(store.get_runs([queued.id, running.id])) == before
        assert store.complete(claim.task_run_id, claim.token, {}, 3.0).accepted

    def test_a_replay_jumps_ahead_of_queued_runs_at_retry_priority(self, store: RunStore) -> None:
        _, done = _ended_once(store)
        waiting = c.create_run(store, c.single_spec(), 3.0, priority=3)
        store.replay_tasks([done.task_run_id], 4.0)
        claims = c.claim_all(store, ["single"], 5.0)
        assert [claim.task_run_id for claim in claims] == [
            done.task_run_id, waiting.tasks["t"].id
        ]  # fmt: skip

    def test_a_replayed_task_runs_schedule_clock_starts_at_the_replay(
        self, store: RunStore
    ) -> None:
        view, done = _ended_once(store, schedule_timeout=30.0)
        store.replay_tasks([done.task_run_id], 100.0)
        deadline = rules.schedule_deadline(100.0, 30.0)
        assert store.expire(c.just_before(deadline)).finished == ()
        assert store.expire(deadline).finished == (view.id,)
        assert c.get_run(store, view.id).tasks["t"].status is RunStatus.CANCELLED

    def test_a_replayed_parent_spawning_again_gets_the_children_it_spawned(
        self, store: RunStore
    ) -> None:
        parent = c.create_run(store, c.single_spec("parent"), 0.0)
        (claim,) = c.claim_all(store, ["parent"], 0.0, lease=1000.0)
        child = c.single_spec("child")
        spawned = c.created(store, [c.run_request(child, {"i": 0})], 1.0, claim.task_run_id)
        store.complete(claim.task_run_id, claim.token, {}, 2.0)
        store.replay_tasks([claim.task_run_id], 3.0)
        (again,) = c.claim_all(store, ["parent"], 3.0, lease=1000.0)
        respawned = c.created(store, [c.run_request(child, {"i": 9})], 4.0, again.task_run_id)
        assert [v.id for v in respawned] == [v.id for v in spawned]
        assert c.get_run(store, parent.id).status is RunStatus.RUNNING

    def test_replay_of_an_unknown_task_run_raises_and_replays_nothing(
        self, store: RunStore
    ) -> None:
        view, done = _ended_once(store)
        with pytest.raises(RunNotFoundError, match="no-such-task-run"):
            store.replay_tasks([done.task_run_id, "no-such-task-run"], 3.0)
        assert c.get_run(store, view.id).status is RunStatus.COMPLETED
        assert c.claim_all(store, ["single"], 3.0) == []

    # ------------------------------------------------------------ DAGs

    def _finished_diamond(self, store: RunStore) -> tuple[RunView, dict[str, str]]:
        """A diamond run (``a -> b, c -> d``) completed, each task with ``{"from": name}``;
        its task run ids by name."""
        view = c.create_run(store, c.diamond_spec(), 0.0)
        now = 1.0
        while claims := c.claim_all(store, ["diamond"], now):
            for claim in claims:
                store.complete(claim.task_run_id, claim.token, {"from": claim.task}, now)
            now += 1.0
        run = c.get_run(store, view.id)
        assert run.status is RunStatus.COMPLETED
        return view, {name: task.id for name, task in run.tasks.items()}

    def test_a_replayed_dag_runs_again_from_its_roots_each_task_under_its_id(
        self, store: RunStore
    ) -> None:
        view, ids = self._finished_diamond(store)
        outcome = store.replay_tasks([ids[name] for name in "dcba"], 10.0)
        assert (outcome.finished, outcome.queued) == ((), 1)  # only the root: the rest waits
        run = c.get_run(store, view.id)
        assert (run.status, run.finished_at) == (RunStatus.RUNNING, None)
        assert {name: task.retry_count for name, task in run.tasks.items()} == {
            "a": 1, "b": 0, "c": 0, "d": 0
        }  # fmt: skip
        # the tasks waiting for their parents show what they did before until they run
        assert run.tasks["d"].output == {"from": "d"}
        (a,) = c.claim_all(store, ["diamond"], 10.0)
        assert (a.task_run_id, a.retry_count) == (ids["a"], 1)
        assert store.complete(a.task_run_id, a.token, {"from": "a2"}, 11.0).queued == 2
        b, cc = c.claim_all(store, ["diamond"], 12.0)
        assert [(x.task_run_id, x.retry_count) for x in (b, cc)] == [(ids["b"], 1), (ids["c"], 1)]
        assert b.parent_outputs == {"a": {"from": "a2"}}
        store.complete(b.task_run_id, b.token, {"from": "b2"}, 13.0)
        assert c.get_run(store, view.id).tasks["d"].status is RunStatus.COMPLETED  # still old
        store.complete(cc.task_run_id, cc.token, {"from": "c2"}, 14.0)
        (d,) = c.claim_all(store, ["diamond"], 15.0)
        assert (d.task_run_id, d.parent_outputs) == (ids["d"], {"b": {"from": "b2"},
                                                               "c": {"from": "c2"}})  # fmt: skip
        assert store.complete(d.task_run_id, d.token, {"from": "d2"}, 16.0).finished == (view.id,)
        run = c.get_run(store, view.id)
        assert (run.status, run.finished_at) == (RunStatus.COMPLETED, 16.0)
        assert run.result() == {name: {"from": f"{name}2"} for name in "abcd"}
        assert [len(task.attempts) for task in run.tasks.values()] == [2, 2, 2, 2]

    def test_replaying_a_dag_task_reruns_what_is_downstream_and_keeps_what_is_upstream(
        self, store: RunStore
    ) -> None:
        view, ids = self._finished_diamond(store)
        assert store.replay_tasks([ids["b"], ids["d"]], 10.0).queued == 1
        (b,) = c.claim_all(store, ["diamond"], 10.0)
        assert (b.task_run_id, b.parent_outputs) == (ids["b"], {"a": {"from": "a"}})
        assert store.complete(b.task_run_id, b.token, {"from": "b2"}, 11.0).queued == 1
        (d,) = c.claim_all(store, ["diamond"], 12.0)
        assert d.parent_outputs == {"b": {"from": "b2"}, "c": {"from": "c"}}
        store.complete(d.task_run_id, d.token, {"from": "d2"}, 13.0)
        run = c.get_run(store, view.id)
        assert run.status is RunStatus.COMPLETED
        assert {name: task.retry_count for name, task in run.tasks.items()} == {
            "a": 0, "b": 1, "c": 0, "d": 1
        }  # fmt: skip

    def test_a_failure_in_a_replayed_dag_cancels_what_waits_downstream(
        self, store: RunStore
    ) -> None:
        view, ids = self._finished_diamond(store)
        store.replay_tasks(list(ids.values()), 10.0)
        (a,) = c.claim_all(store, ["diamond"], 10.0)
        outcome = store.fail(a.task_run_id, a.token, c.task_error(), False, 11.0)
        assert outcome.finished == (view.id,)
        run = c.get_run(store, view.id)
        assert run.status is RunStatus.FAILED
        assert {name: (task.status, task.retry_count) for name, task in run.tasks.items()} == {
            "a": (RunStatus.FAILED, 1),
            "b": (RunStatus.CANCELLED, 1),
            "c": (RunStatus.CANCELLED, 1),
            "d": (RunStatus.CANCELLED, 1),
        }
        assert run.tasks["d"].output is None
        assert c.claim_all(store, ["diamond"], 12.0) == []

    def _failed_and_handled(self, store: RunStore) -> tuple[RunView, dict[str, str]]:
        """A run of ``a -> b`` with the on-failure task ``h``: ``a`` failed at 2.0, ``b``
        was cancelled, ``h`` completed at 4.0 with ``{"handled": 1}``; the run FAILED."""
        spec = c.workflow_spec(
            "guarded", c.task_spec("a"), c.task_spec("b", parents=("a",)),
            c.task_spec("h", on_failure=True),
        )  # fmt: skip
        view = c.create_run(store, spec, 0.0)
        (a,) = c.claim_all(store, ["guarded"], 1.0)
        store.fail(a.task_run_id, a.token, c.task_error("a broke"), True, 2.0)
        (h,) = c.claim_all(store, ["guarded"], 3.0)
        store.complete(h.task_run_id, h.token, {"handled": 1}, 4.0)
        run = c.get_run(store, view.id)
        assert run.status is RunStatus.FAILED
        return view, {name: task.id for name, task in run.tasks.items()}

    def test_a_replayed_run_keeps_its_on_failure_task_as_it_was_when_the_dag_completes(
        self, store: RunStore
    ) -> None:
        view, ids = self._failed_and_handled(store)
        assert store.replay_tasks(list(ids.values()), 10.0).queued == 1  # the root only
        run = c.get_run(store, view.id)
        assert (run.tasks["h"].status, run.tasks["h"].retry_count) == (RunStatus.COMPLETED, 0)
        (a,) = c.claim_all(store, ["guarded"], 10.0)
        assert a.task_run_id == ids["a"]
        store.complete(a.task_run_id, a.token, {"a": 2}, 11.0)
        (b,) = c.claim_all(store, ["guarded"], 12.0)
        assert (b.task_run_id, b.retry_count) == (ids["b"], 1)
        assert store.complete(b.task_run_id, b.token, {"b": 2}, 13.0).finished == (view.id,)
        run = c.get_run(store, view.id)
        assert (run.status, run.finished_at) == (RunStatus.COMPLETED, 13.0)
        # not run again: it keeps what it did (Hatchet marks it skipped, and shows it done)
        assert (run.tasks["h"].status, run.tasks["h"].output) == (
            RunStatus.COMPLETED, {"handled": 1}
        )  # fmt: skip
        assert c.claim_all(store, ["guarded"], 14.0) == []
        # the run ended: the on-failure task is no longer re-armed, so a task replayed
        # alone that fails again ends the run without running it
        store.replay_tasks([ids["a"], ids["b"]], 20.0)
        (a,) = c.claim_all(store, ["guarded"], 20.0)
        outcome = store.fail(a.task_run_id, a.token, c.task_error("again"), True, 21.0)
        assert (outcome.finished, outcome.queued) == ((view.id,), 0)
        assert c.get_run(store, view.id).tasks["h"].output == {"handled": 1}

    def test_a_replayed_run_that_fails_again_runs_its_on_failure_task_again_under_its_id(
        self, store: RunStore
    ) -> None:
        view, ids = self._failed_and_handled(store)
        store.replay_tasks(list(ids.values()), 10.0)
        (a,) = c.claim_all(store, ["guarded"], 10.0)
        outcome = store.fail(a.task_run_id, a.token, c.task_error("again"), True, 11.0)
        assert (outcome.finished, outcome.queued) == ((), 1)
        (h,) = c.claim_all(store, ["guarded"], 12.0)
        assert (h.task, h.task_run_id, h.retry_count) == ("h", ids["h"], 1)
        assert store.complete(h.task_run_id, h.token, {"handled": 2}, 13.0).finished == (view.id,)
        run = c.get_run(store, view.id)
        assert (run.status, run.finished_at) == (RunStatus.FAILED, 13.0)
        assert (run.tasks["h"].output, len(run.tasks["h"].attempts)) == ({"handled": 2}, 2)
        assert run.tasks["b"].status is RunStatus.CANCELLED

    def test_an_on_failure_task_replayed_alone_runs_again_at_once_and_a_dag_task_alone_leaves_it(
        self, store: RunStore
    ) -> None:
        view, ids = self._failed_and_handled(store)
        assert store.replay_tasks([ids["h"]], 10.0).queued == 1
        (h,) = c.claim_all(store, ["guarded"], 10.0)
        assert (h.task_run_id, h.retry_count) == (ids["h"], 1)
        store.complete(h.task_run_id, h.token, {"handled": 2}, 11.0)
        assert c.get_run(store, view.id).status is RunStatus.FAILED
        # a DAG task replayed alone: the on-failure task is not re-armed
        assert store.replay_tasks([ids["a"], ids["b"]], 20.0).queued == 1
        (a,) = c.claim_all(store, ["guarded"], 20.0)
        outcome = store.fail(a.task_run_id, a.token, c.task_error("third"), True, 21.0)
        assert (outcome.finished, outcome.queued) == ((view.id,), 0)
        run = c.get_run(store, view.id)
        assert run.status is RunStatus.FAILED
        assert (run.tasks["h"].output, run.tasks["h"].retry_count) == ({"handled": 2}, 1)

    # ------------------------------------------------------------ concurrency limits

    def _limited_runs(
        self, store: RunStore, strategy: ConcurrencyStrategy, level: str = "workflow"
    ) -> tuple[RunView, RunView, Claim]:
        """Two runs of one group with one place: the first ended at 2.0, the second
        claimed at 3.0 and running (it holds the place), with its claim."""
        spec = limited(c.single_spec("limited"), by_group(1, strategy),
                       task="t" if level == "task" else None)  # fmt: skip
        first = c.create_run(store, spec, 0.0, {"group": "A"})
        (claim,) = c.claim_all(store, ["limited"], 1.0)
        store.complete(claim.task_run_id, claim.token, {"n": 1}, 2.0)
        second = c.create_run(store, spec, 2.5, {"group": "A"})
        (holder,) = c.claim_all(store, ["limited"], 3.0)
        assert holder.run_id == second.id
        return first, second, holder

    def test_a_replayed_run_waits_for_a_place_in_its_group_as_a_newcomer(
        self, store: RunStore
    ) -> None:
        self._replay_waits_for_a_place(store, "workflow")

    def test_a_replayed_task_waits_for_a_place_in_its_task_level_group(
        self, store: RunStore
    ) -> None:
        self._replay_waits_for_a_place(store, "task")

    def _replay_waits_for_a_place(self, store: RunStore, level: str) -> None:
        first, _, holder = self._limited_runs(store, ConcurrencyStrategy.GROUP_ROUND_ROBIN, level)
        store.replay_tasks([first.tasks["t"].id], 10.0)
        assert c.claim_all(store, ["limited"], 11.0) == []  # the second run holds the place
        assert {task.run_id for task in store.snapshot(11.0).queued} == {first.id}
        outcome = store.complete(holder.task_run_id, holder.token, {"n": 2}, 12.0)
        assert outcome.queued >= 1  # the place freed admits the replay
        (again,) = c.claim_all(store, ["limited"], 13.0)
        assert (again.run_id, again.retry_count) == (first.id, 1)

    def test_a_replayed_run_cancels_the_run_in_progress_of_its_group(self, store: RunStore) -> None:
        first, second, _ = self._limited_runs(store, ConcurrencyStrategy.CANCEL_IN_PROGRESS)
        outcome = store.replay_tasks([first.tasks["t"].id], 10.0)
        assert second.id in outcome.finished
        cancelled = c.get_run(store, second.id)
        assert cancelled.status is RunStatus.CANCELLED
        assert cancelled.tasks["t"].error is not None
        assert cancelled.tasks["t"].error.exc == rules.CONCURRENCY_CANCEL_REASON
        (again,) = c.claim_all(store, ["limited"], 11.0)
        assert (again.run_id, again.retry_count) == (first.id, 1)

    def test_a_replayed_run_meeting_a_full_group_is_cancelled_by_cancel_newest(
        self, store: RunStore
    ) -> None:
        first, second, _ = self._limited_runs(store, ConcurrencyStrategy.CANCEL_NEWEST)
        outcome = store.replay_tasks([first.tasks["t"].id], 10.0)
        assert first.id in outcome.finished
        replayed = c.get_run(store, first.id)
        assert (replayed.status, replayed.tasks["t"].retry_count) == (RunStatus.CANCELLED, 1)
        assert replayed.tasks["t"].error is not None
        assert replayed.tasks["t"].error.exc == rules.CONCURRENCY_CANCEL_REASON
        assert c.get_run(store, second.id).status is RunStatus.RUNNING
        assert c.claim_all(store, ["limited"], 11.0) == []
