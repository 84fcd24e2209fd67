"""The conditions part of the ``RunStore`` contract (``RunStoreContract`` inherits it).

Every store holds a task run back until its ``wait_for`` conditions hold, skips or cancels
it when a ``skip_if``/``cancel_if`` holds first (SKIP > CANCEL > QUEUE), measures a sleep
from the instant the wait was registered, sees only events pushed after that, and keeps a
durable wait's result; the expected values come from ``flowsim.store.conditions`` and the
rules Hatchet documents, never from the reference store.
"""

from __future__ import annotations

import dataclasses

from flowsim.rules import ConcurrencyStrategy, RunStatus, SlotPool
from flowsim.store import conditions as cond
from flowsim.store.conditions import Action, ConditionSpec, Kind
from flowsim.store.protocol import Claim, RunRequest, RunStore, RunView
from flowsim.store.records import ConcurrencyLimit, TaskSpec, WorkflowSpec
from flowsim.testing.creating import created

WORKER = "worker-1"


def _task(name: str, parents: tuple[str, ...] = (), *conditions: ConditionSpec) -> TaskSpec:
    return TaskSpec(name, parents, 0, None, None, 60.0, 300.0, False, conditions=conditions)


def sleep(seconds: float, action: Action = Action.QUEUE, group: int = 0) -> ConditionSpec:
    return ConditionSpec(Kind.SLEEP, action, group, f"sleep:{seconds}", seconds=seconds)


def event(
    key: str, action: Action = Action.QUEUE, group: int = 1, expression: str | None = None
) -> ConditionSpec:
    return ConditionSpec(Kind.EVENT, action, group, key, event_key=key, expression=expression)


def parent(
    name: str, expression: str, action: Action = Action.SKIP, group: int = 2
) -> ConditionSpec:
    return ConditionSpec(Kind.PARENT, action, group, f"{name}:{expression}",
                         expression=expression, parent=name)  # fmt: skip


def two_step(*conditions: ConditionSpec, name: str = "cond") -> WorkflowSpec:
    """``start -> target`` (with the conditions) ``-> after``."""
    tasks = [_task("start"), _task("target", ("start",), *conditions),
             _task("after", ("target",))]  # fmt: skip
    return WorkflowSpec(name, {t.name: t for t in tasks})


def _run(store: RunStore, spec: WorkflowSpec, now: float) -> RunView:
    (view,) = created(store, [RunRequest(spec, {}, {})], now)
    return view


def _claim(store: RunStore, workflow: str, now: float) -> list[Claim]:
    return store.claim(WORKER, [workflow], SlotPool.DEFAULT, 100, now, 30.0)


def _finish_start(store: RunStore, spec: WorkflowSpec, output: object, now: float) -> RunView:
    """Create the run at 0, claim and complete ``start`` at ``now``."""
    view = _run(store, spec, 0.0)
    (start,) = _claim(store, spec.name, 0.0)
    store.complete(start.task_run_id, start.token, output, now)
    (view,) = store.get_runs([view.id])
    return view


def _status(store: RunStore, run_id: str, task: str) -> RunStatus:
    (view,) = store.get_runs([run_id])
    return view.tasks[task].status


class ConditionsContract:
    """Mixed into ``RunStoreContract``: its ``store`` fixture is the subclass's."""

    def test_wait_for_sleep_holds_the_task_until_the_sleep_elapsed_from_registration(
        self, store: RunStore
    ) -> None:
        spec = two_step(sleep(10.0))
        view = _finish_start(store, spec, {"n": 1}, 5.0)
        assert view.tasks["target"].status is RunStatus.QUEUED
        assert _claim(store, "cond", 14.0) == []
        assert store.next_wakeup(6.0) == 15.0
        store.expire(14.999)
        assert _claim(store, "cond", 14.999) == []
        outcome = store.expire(15.0)
        assert outcome.queued == 1
        (target,) = _claim(store, "cond", 15.0)
        assert (target.task, target.parent_outputs) == ("target", {"start": {"n": 1}})

    def test_wait_for_event_queues_only_on_a_matching_event_pushed_after_registration(
        self, store: RunStore
    ) -> None:
        spec = two_step(event("go", expression="input.ok == true"))
        view = _run(store, spec, 0.0)
        assert store.push_event("go", {"ok": True}, {}, 0.5).queued == 0  # no wait yet
        (start,) = _claim(store, "cond", 0.0)
        store.complete(start.task_run_id, start.token, {}, 1.0)
        assert store.push_event("go", {"ok": False}, {}, 2.0).queued == 0
        assert store.push_event("other", {"ok": True}, {}, 2.0).queued == 0
        assert store.next_wakeup(2.0) is None  # nothing but an event can release it
        assert _claim(store, "cond", 3.0) == []
        assert store.push_event("go", {"ok": True}, {}, 4.0).queued == 1
        (target,) = _claim(store, "cond", 4.0)
        assert target.task == "target"
        assert store.push_event("go", {"ok": True}, {}, 5.0).queued == 0  # fired once
        (view,) = store.get_runs([view.id])
        assert view.status is RunStatus.RUNNING

    def test_skip_if_parent_condition_skips_at_once_and_skips_a_child_of_only_skipped(
        self, store: RunStore
    ) -> None:
        spec = two_step(parent("start", "output.n > 0"))
        view = _finish_start(store, spec, {"n": 1}, 1.0)
        target, after = view.tasks["target"], view.tasks["after"]
        assert (target.status, target.output) == (RunStatus.COMPLETED, cond.SKIPPED_OUTPUT)
        assert (after.status, after.output) == (RunStatus.COMPLETED, cond.SKIPPED_OUTPUT)
        assert (view.status, view.finished_at) == (RunStatus.COMPLETED, 1.0)
        assert target.attempts == ()

    def test_skip_if_parent_condition_that_does_not_hold_queues_the_task(
        self, store: RunStore
    ) -> None:
        spec = two_step(parent("start", "output.n > 5"))
        view = _finish_start(store, spec, {"n": 1}, 1.0)
        assert view.tasks["target"].status is RunStatus.QUEUED
        (target,) = _claim(store, "cond", 1.0)
        assert target.task == "target"

    def test_a_child_of_a_skipped_and_a_completed_parent_runs(self, store: RunStore) -> None:
        tasks = [
            _task("start"),
            _task("skipped", ("start",), parent("start", "output.n == 1")),
            _task("ran", ("start",)),
            _task("join", ("skipped", "ran")),
        ]
        spec = WorkflowSpec("mixed", {t.name: t for t in tasks})
        view = _finish_start(store, spec, {"n": 1}, 1.0)
        assert view.tasks["skipped"].output == cond.SKIPPED_OUTPUT
        (ran,) = _claim(store, "mixed", 2.0)
        store.complete(ran.task_run_id, ran.token, {"r": 1}, 3.0)
        (join,) = _claim(store, "mixed", 4.0)
        assert join.task == "join"
        assert join.parent_outputs == {"skipped": cond.SKIPPED_OUTPUT, "ran": {"r": 1}}

    def test_cancel_if_event_cancels_the_held_task_and_its_downstream(
        self, store: RunStore
    ) -> None:
        spec = two_step(sleep(30.0), event("abort", Action.CANCEL))
        view = _finish_start(store, spec, {}, 1.0)
        outcome = store.push_event("abort", {}, {}, 3.0)
        assert outcome.finished == (view.id,)
        (view,) = store.get_runs([view.id])
        assert view.status is RunStatus.CANCELLED
        assert view.tasks["target"].status is RunStatus.CANCELLED
        error = view.tasks["target"].error
        assert error is not None and error.exc == cond.cancel_reason("target")
        assert view.tasks["after"].status is RunStatus.CANCELLED
        assert store.expire(31.0).queued == 0  # the sleep no longer matters
        assert _claim(store, "cond", 31.0) == []

    def test_skip_wins_over_queue_and_a_sleep_decides_a_race(self, store: RunStore) -> None:
        spec = two_step(event("proceed"), sleep(8.0, Action.SKIP))
        view = _finish_start(store, spec, {}, 0.0)
        assert store.expire(7.999).finished == ()
        assert store.expire(8.0).finished == (view.id,)  # "after" is skipped too
        (skipped,) = store.get_runs([view.id])
        assert skipped.status is RunStatus.COMPLETED
        assert skipped.tasks["target"].output == cond.SKIPPED_OUTPUT
        assert store.push_event("proceed", {}, {}, 9.0).queued == 0

    def test_or_groups_and_across_groups(self, store: RunStore) -> None:
        spec = two_step(
            event("a", group=0), event("b", group=0), event("c", group=1), name="groups"
        )
        view = _finish_start(store, spec, {}, 0.0)
        assert store.push_event("a", {}, {}, 1.0).queued == 0  # group 0 holds, group 1 not
        assert store.push_event("b", {}, {}, 2.0).queued == 0
        assert store.push_event("c", {}, {}, 3.0).queued == 1
        assert _status(store, view.id, "target") is RunStatus.QUEUED
        (target,) = _claim(store, "groups", 3.0)
        assert target.task == "target"

    def test_cancelling_a_run_cancels_its_held_task(self, store: RunStore) -> None:
        spec = two_step(event("never"))
        view = _finish_start(store, spec, {}, 0.0)
        outcome = store.cancel_run(view.id, "stop", 1.0)
        assert outcome.finished == (view.id,)
        assert _status(store, view.id, "target") is RunStatus.CANCELLED
        assert store.push_event("never", {}, {}, 2.0).queued == 0

    def test_a_root_task_with_wait_for_is_held_from_run_creation(self, store: RunStore) -> None:
        root = _task("root", (), sleep(5.0))
        spec = WorkflowSpec("rooted", {"root": root})
        view = _run(store, spec, 1.0)
        assert view.tasks["root"].status is RunStatus.QUEUED
        assert _claim(store, "rooted", 5.9) == []
        assert store.next_wakeup(2.0) == 6.0
        store.expire(6.0)
        (claim,) = _claim(store, "rooted", 6.0)
        assert claim.task == "root"

    def test_a_durable_wait_records_which_conditions_fired(self, store: RunStore) -> None:
        spec = WorkflowSpec("host", {"t": _task("t")})
        _run(store, spec, 0.0)
        (host,) = _claim(store, "host", 0.0)
        waits = (
            ConditionSpec(Kind.SLEEP, Action.CREATE, 0, "sleep:5s", seconds=5.0),
            ConditionSpec(Kind.EVENT, Action.CREATE, 0, "evt", event_key="evt"),
        )
        store.open_wait("w1", host.task_run_id, waits, 1.0)
        store.open_wait("w1", host.task_run_id, waits, 2.0)  # again: no second wait
        store.open_wait("w2", host.task_run_id, waits, 1.0)
        assert store.wait_result("w1") is None
        assert store.next_wakeup(1.5) == 6.0
        store.push_event("evt", {"p": 1}, {}, 2.0)
        assert store.wait_result("w1") == {"CREATE": {"evt": [{"p": 1}]}}
        assert store.wait_result("w2") == {"CREATE": {"evt": [{"p": 1}]}}
        store.open_wait("w3", host.task_run_id, waits[:1], 3.0)
        store.expire(7.999)
        assert store.wait_result("w3") is None
        store.expire(8.0)
        assert store.wait_result("w3") == {"CREATE": {"sleep:5s": [{}]}}
        assert store.next_wakeup(8.0) == 30.0  # only the host's lease is left

    # ------------------------------------------------ conditions and concurrency limits

    def test_a_held_task_takes_its_task_level_place_when_its_conditions_queue_it(
        self, store: RunStore
    ) -> None:
        spec = two_step(event("go"))
        one = ConcurrencyLimit("'one'", 1, ConcurrencyStrategy.GROUP_ROUND_ROBIN)
        target = dataclasses.replace(spec.tasks["target"], concurrency=(one,))
        spec = dataclasses.replace(spec, tasks={**spec.tasks, "target": target})
        first, second = _run(store, spec, 0.0), _run(store, spec, 0.0)
        for start in _claim(store, "cond", 0.0):
            store.complete(start.task_run_id, start.token, {}, 1.0)
        assert _claim(store, "cond", 1.5) == []  # both held by their conditions
        assert store.push_event("go", {}, {}, 2.0).queued >= 1
        # one place: either target takes it (both waits fired at one push, registered at
        # one instant), the other waits for it
        (taken,) = _claim(store, "cond", 2.0)
        assert taken.task == "target" and taken.run_id in (first.id, second.id)
        other = second.id if taken.run_id == first.id else first.id
        assert _status(store, other, "target") is RunStatus.QUEUED
        assert _claim(store, "cond", 2.5) == []
        store.complete(taken.task_run_id, taken.token, {}, 3.0)
        claimed = {(c.task, c.run_id) for c in _claim(store, "cond", 3.0)}
        assert claimed == {("target", other), ("after", taken.run_id)}

    def test_a_held_root_of_a_run_waiting_for_its_place_waits_after_its_conditions(
        self, store: RunStore
    ) -> None:
        one = ConcurrencyLimit("'one'", 1, ConcurrencyStrategy.GROUP_ROUND_ROBIN)
        spec = WorkflowSpec("rooted", {"root": _task("root", (), event("go"))}, concurrency=(one,))
        first, second = _run(store, spec, 0.0), _run(store, spec, 0.0)
        assert _claim(store, "rooted", 0.5) == []  # both roots held
        store.push_event("go", {}, {}, 1.0)
        (taken,) = _claim(store, "rooted", 1.0)  # the second run still waits for its place
        assert taken.run_id == first.id
        assert _claim(store, "rooted", 1.5) == []
        store.complete(taken.task_run_id, taken.token, {}, 2.0)
        (then,) = _claim(store, "rooted", 2.0)
        assert then.run_id == second.id
