"""The contract every ``RunStore`` keeps, as a pytest suite a backend's tests inherit.

A backend (ours or a third party's) runs it unchanged by naming a fixture::

    from flowsim.testing.contract import RunStoreContract

    class TestMyStore(RunStoreContract):
        @pytest.fixture
        def store(self, tmp_path):
            store = open_my_store(tmp_path / "runs.db")
            store.migrate()
            yield store
            store.close()

``RunStoreContract`` has no ``Test`` prefix, so pytest collects it only through such a
subclass. Each test is named for the behaviour it holds the store to; the expected values
come from ``flowsim.rules`` (backoff delays, claim order, timeout texts), never from the
reference store, so a test failing on a backend says which rule the backend broke. Time is
a plain float handed to every call: nothing sleeps, and the boundaries are probed at the
last representable instant before them (``just_before``).

``assert_views_equal`` compares runs of two stores modulo their ids, for a backend author's
own differential tests (``flowsim.testing.statemachine`` uses the same comparison).
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import replace
from typing import Any, TypeAlias

import pytest

from flowsim import rules
from flowsim.errors import RunNotFoundError, StaleAttemptError, TaskRunError
from flowsim.rate_limits import RateLimitSpec
from flowsim.rules import RunStatus, SlotPool
from flowsim.store.protocol import (
    AttemptView,
    Claim,
    Completion,
    HeldTask,
    QueuedTask,
    RunRequest,
    RunStore,
    RunView,
    TaskView,
    WorkerInfo,
)
from flowsim.store.records import JSON, TaskSpec, TriggeringEvent, WorkflowSpec
from flowsim.store.views import with_progress, without_attempts
from flowsim.testing.contract_concurrency import ConcurrencyContract
from flowsim.testing.contract_conditions import ConditionsContract
from flowsim.testing.contract_crons import CronContract
from flowsim.testing.contract_filters import FilterContract
from flowsim.testing.contract_idempotency import IdempotencyContract
from flowsim.testing.contract_placement import PlacementContract
from flowsim.testing.contract_rate_limits import RateLimitContract
from flowsim.testing.contract_replay import ReplayContract
from flowsim.testing.contract_streams import StreamContract
from flowsim.testing.creating import created as created
from flowsim.testing.durable_contract import DurableStoreContract

__all__ = [
    "LEASE",
    "RunStoreContract",
    "assert_views_equal",
    "canonical_views",
    "claim_all",
    "create_run",
    "diamond_spec",
    "get_run",
    "just_before",
    "run_request",
    "single_spec",
    "task_error",
    "task_spec",
    "workflow_spec",
]

#: the lease every claim in the suite takes unless a test says otherwise
LEASE = 30.0
WORKER = "worker-1"
OTHER_WORKER = "worker-2"

Form: TypeAlias = dict[str, Any]


# ---------------------------------------------------------------- building specs and requests


def task_spec(
    name: str,
    *,
    parents: Sequence[str] = (),
    retries: int = 0,
    backoff_factor: float | None = None,
    backoff_max_seconds: float | None = None,
    execution_timeout: float = rules.DEFAULT_EXECUTION_TIMEOUT,
    schedule_timeout: float = rules.DEFAULT_SCHEDULE_TIMEOUT,
    durable: bool = False,
    slot_cost: int = 1,
    on_failure: bool = False,
    rate_limits: Sequence[RateLimitSpec] = (),
) -> TaskSpec:
    return TaskSpec(
        name=name,
        parents=tuple(parents),
        retries=retries,
        backoff_factor=backoff_factor,
        backoff_max_seconds=backoff_max_seconds,
        execution_timeout=execution_timeout,
        schedule_timeout=schedule_timeout,
        durable=durable,
        slot_cost=slot_cost,
        on_failure=on_failure,
        rate_limits=tuple(rate_limits),
    )


def workflow_spec(name: str, *tasks: TaskSpec, default_priority: int = 1) -> WorkflowSpec:
    rules.check_dag(name, {task.name: task.parents for task in tasks})
    return WorkflowSpec(name, {task.name: task for task in tasks}, default_priority)


def single_spec(name: str = "single", **task: Any) -> WorkflowSpec:
    """A one-task workflow (task ``t``); keyword arguments go to ``task_spec``."""
    return workflow_spec(name, task_spec("t", **task))


def diamond_spec(name: str = "diamond", **task: Any) -> WorkflowSpec:
    """``a -> (b, c) -> d``; keyword arguments go to every task's ``task_spec``."""
    return workflow_spec(
        name,
        task_spec("a", **task),
        task_spec("b", parents=("a",), **task),
        task_spec("c", parents=("a",), **task),
        task_spec("d", parents=("b", "c"), **task),
    )


def run_request(
    spec: WorkflowSpec,
    input: JSON = None,
    *,
    metadata: Mapping[str, JSON] | None = None,
    priority: int = rules.DEFAULT_PRIORITY,
    child_key: str | None = None,
    run_at: float | None = None,
    trigger_key: str | None = None,
) -> RunRequest:
    return RunRequest(
        spec,
        {} if input is None else input,
        dict(metadata or {}),
        priority,
        child_key,
        run_at,
        trigger_key,
    )


def task_error(
    message: str = "boom", exc_type: str = "ValueError", task_run_id: str | None = None
) -> TaskRunError:
    return TaskRunError(message, exc_type, f"Traceback: {exc_type}: {message}", task_run_id)


def just_before(instant: float) -> float:
    """The last float before ``instant``: a boundary probed as tightly as it can be."""
    return math.nextafter(instant, -math.inf)


# ---------------------------------------------------------------- calling a store


def create_run(
    store: RunStore, spec: WorkflowSpec, now: float, input: JSON = None, **options: Any
) -> RunView:
    (view,) = created(store, [run_request(spec, input, **options)], now)
    return view


def claim_all(
    store: RunStore,
    workflows: Sequence[str],
    now: float,
    *,
    worker: str = WORKER,
    pool: SlotPool = SlotPool.DEFAULT,
    free: int = 100,
    lease: float = LEASE,
) -> list[Claim]:
    return store.claim(worker, workflows, pool, free, now, lease)


def get_run(store: RunStore, run_id: str) -> RunView:
    (view,) = store.get_runs([run_id])
    return view


def _task(store: RunStore, run_id: str, name: str) -> TaskView:
    return get_run(store, run_id).tasks[name]


def _only(claims: Sequence[Claim]) -> Claim:
    assert len(claims) == 1, f"expected exactly one claim, got {len(claims)}: {claims}"
    return claims[0]


# ---------------------------------------------------------------- comparing runs modulo ids


class _Labels:
    """Names ids by first appearance, so two stores' runs compare by structure: equal forms
    mean there is one consistent mapping between their ids."""

    def __init__(self) -> None:
        self._labels: dict[str, str] = {}

    def __call__(self, id_: str | None) -> str | None:
        if id_ is None:
            return None
        return self._labels.setdefault(id_, f"#{len(self._labels)}")


def _error_form(error: TaskRunError | None, label: _Labels, messages: bool) -> Form | None:
    if error is None:
        return None
    if not messages:
        return {"exc_type": error.exc_type}
    return {
        "exc_type": error.exc_type,
        "exc": error.exc,
        "trace": error.trace,
        "task_run_external_id": label(error.task_run_external_id),
    }


def _attempt_form(attempt: AttemptView, messages: bool) -> Form:
    form: Form = {
        "number": attempt.number,
        "worker_id": attempt.worker_id,
        "queued_at": attempt.queued_at,
        "started_at": attempt.started_at,
        "finished_at": attempt.finished_at,
        "outcome": attempt.outcome,
    }
    if messages:
        form["error"] = attempt.error
    return form


def _task_form(task: TaskView, label: _Labels, messages: bool) -> Form:
    return {
        "id": label(task.id),
        "name": task.name,
        "status": str(task.status),
        "retry_count": task.retry_count,
        "output": task.output,
        "error": _error_form(task.error, label, messages),
        "worker_id": task.worker_id,
        "attempts": [_attempt_form(attempt, messages) for attempt in task.attempts],
    }


def canonical_views(views: Sequence[RunView], *, messages: bool = True) -> list[Form]:
    """The runs as plain data with every id replaced by a label in order of appearance
    (run, its parent task run, then its tasks by name), so two stores' views of the same
    history are equal. Pass the runs in creation order and include the parents' runs for a
    child's ``parent_task_run_id`` to be checked. ``messages=False`` keeps only error type
    names (the texts of cancel and lost reasons are a backend's own wording)."""
    label = _Labels()
    forms: list[Form] = []
    for view in views:
        forms.append(
            {
                "id": label(view.id),
                "workflow": view.workflow,
                "status": str(view.status),
                "input": view.input,
                "additional_metadata": view.additional_metadata,
                "priority": view.priority,
                "created_at": view.created_at,
                "finished_at": view.finished_at,
                "parent_task_run_id": label(view.parent_task_run_id),
                "child_key": view.child_key,
                "child_index": view.child_index,
                "triggering_event": _event_form(view),
                "tasks": {
                    name: _task_form(view.tasks[name], label, messages)
                    for name in sorted(view.tasks)
                },
            }
        )
    return forms


def _event_form(view: RunView) -> Form | None:
    event = view.triggering_event
    return None if event is None else {"id": event.id, "key": event.key}


def first_difference(a: Any, b: Any, path: str = "") -> str | None:
    """Where two plain-data structures first differ, as ``path: a != b``."""
    if isinstance(a, dict) and isinstance(b, dict):
        for key in list(a) + [k for k in b if k not in a]:
            if key not in a or key not in b:
                side = "left" if key not in a else "right"
                return f"{path}[{key!r}]: missing on the {side}"
            found = first_difference(a[key], b[key], f"{path}[{key!r}]")
            if found is not None:
                return found
        return None
    if isinstance(a, list | tuple) and isinstance(b, list | tuple):
        if len(a) != len(b):
            return f"{path or 'value'}: {len(a)} items != {len(b)} items ({a!r} != {b!r})"
        for index, (x, y) in enumerate(zip(a, b, strict=True)):
            found = first_difference(x, y, f"{path}[{index}]")
            if found is not None:
                return found
        return None
    if a != b or (type(a) is not type(b) and not (_number(a) and _number(b))):
        return f"{path or 'value'}: {a!r} != {b!r}"
    return None


def _number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def assert_views_equal(
    a: RunView | Sequence[RunView], b: RunView | Sequence[RunView], *, messages: bool = True
) -> None:
    """Assert two stores hold the same runs, ids aside (see ``canonical_views``)."""
    left = canonical_views([a] if isinstance(a, RunView) else a, messages=messages)
    right = canonical_views([b] if isinstance(b, RunView) else b, messages=messages)
    difference = first_difference(left, right)
    if difference is not None:
        raise AssertionError(f"runs differ (ids aside) at {difference}")


# ---------------------------------------------------------------- the suite


class RunStoreContract(
    IdempotencyContract,
    PlacementContract,
    DurableStoreContract,
    RateLimitContract,
    ConcurrencyContract,
    ConditionsContract,
    StreamContract,
    ReplayContract,
    FilterContract,
    CronContract,
):
    """Inherit this in a ``Test...`` class that defines a ``store`` fixture (a fresh,
    migrated store, closed afterwards)."""

    @pytest.fixture
    def store(self) -> Iterator[RunStore]:
        pytest.fail(
            f"{type(self).__name__} inherits RunStoreContract but defines no `store` fixture: "
            "add one returning a fresh, migrated RunStore"
        )
        yield  # pragma: no cover - pytest.fail raised

    # ------------------------------------------------------------ creating and reading runs

    def test_create_runs_returns_queued_views_with_only_root_tasks(self, store: RunStore) -> None:
        single, diamond = single_spec(), diamond_spec()
        views = created(
            store,
            [
                run_request(single, {"n": 1}, metadata={"tenant": "a"}, priority=3),
                run_request(diamond, {"n": 2}),
            ],
            10.0,
        )
        assert [v.workflow for v in views] == ["single", "diamond"]
        first, second = views
        assert first.status is RunStatus.QUEUED
        assert (first.input, first.additional_metadata, first.priority) == (
            {"n": 1},
            {"tenant": "a"},
            3,
        )
        assert (first.created_at, first.finished_at) == (10.0, None)
        assert (first.parent_task_run_id, first.child_key, first.child_index) == (None, None, None)
        assert sorted(first.tasks) == ["t"]
        # a DAG task is created only when its parents completed
        assert sorted(second.tasks) == list(diamond.roots) == ["a"]
        for task in [first.tasks["t"], second.tasks["a"]]:
            assert task.status is RunStatus.QUEUED
            assert (task.retry_count, task.output, task.error, task.worker_id) == (
                0,
                None,
                None,
                None,
            )
            assert task.attempts == ()
        assert get_run(store, first.id).tasks["t"].name == "t"

    def test_create_runs_gives_unique_string_ids_in_request_order(self, store: RunStore) -> None:
        spec = single_spec()
        views = created(store, [run_request(spec, {"i": i}) for i in range(5)], 0.0)
        assert [v.input for v in views] == [{"i": i} for i in range(5)]
        ids = [v.id for v in views] + [v.tasks["t"].id for v in views]
        assert all(isinstance(id_, str) and id_ for id_ in ids)
        assert len(set(ids)) == len(ids)

    def test_create_runs_of_a_batch_are_claimed_in_request_order(self, store: RunStore) -> None:
        spec = single_spec()
        views = created(store, [run_request(spec, {"i": i}) for i in range(4)], 0.0)
        claims = claim_all(store, ["single"], 1.0)
        assert [c.run_id for c in claims] == [v.id for v in views]

    def test_create_runs_with_an_empty_batch_returns_nothing(self, store: RunStore) -> None:
        assert created(store, [], 0.0) == []
        assert claim_all(store, ["single"], 0.0) == []

    def test_create_runs_under_an_unknown_parent_raises_and_creates_nothing(
        self, store: RunStore
    ) -> None:
        spec = single_spec()
        with pytest.raises(RunNotFoundError):
            created(store, [run_request(spec), run_request(spec)], 0.0, "no-such-task-run")
        assert store.snapshot(0.0).queued == ()
        assert claim_all(store, ["single"], 0.0) == []

    def test_a_triggering_event_is_stored_with_the_run(self, store: RunStore) -> None:
        """With the payload of the event filter that started it, if one did (an object, an
        empty one, or none). A batch of 300 too: a SQL store may write a large batch
        another way (Postgres: COPY)."""
        spec = single_spec()
        filters: list[JSON] = [None, {}, {"tier": "gold", "n": [1, 2.5, None]}]
        for batch in (1, 300):
            events = [TriggeringEvent(f"e{n}", "k", filters[n % 3]) for n in range(batch)]
            pushed = [
                replace(run_request(spec, {"n": n}), triggering_event=event)
                for n, event in enumerate(events)
            ]
            views = created(store, [*pushed, run_request(spec)], 0.0)
            expected = [*events, None]
            assert [view.triggering_event for view in views] == expected, batch
            stored = store.get_runs([view.id for view in views], attempts=False)
            assert [view.triggering_event for view in stored] == expected, batch

    def test_get_runs_returns_runs_in_the_order_asked(self, store: RunStore) -> None:
        spec = single_spec()
        a, b, c = created(store, [run_request(spec, {"i": i}) for i in range(3)], 0.0)
        assert [v.id for v in store.get_runs([c.id, a.id, b.id])] == [c.id, a.id, b.id]
        assert store.get_runs([]) == []

    def test_get_runs_of_an_unknown_id_raises_run_not_found_naming_it(
        self, store: RunStore
    ) -> None:
        known = create_run(store, single_spec(), 0.0)
        with pytest.raises(RunNotFoundError, match="no-such-run"):
            store.get_runs([known.id, "no-such-run"])

    def test_payloads_round_trip_as_json(self, store: RunStore) -> None:
        payload = {
            "text": "héllo ✓ \"quoted\" 'single' \\ back",
            "numbers": [0, -1, 2**40, 0.1, 1e-300, 3.5],
            "flags": [True, False, None],
            "nested": {"empty": {}, "list": [[], [{}]]},
        }
        view = create_run(store, single_spec(), 0.0, payload, metadata={"m": payload})
        assert get_run(store, view.id).input == payload
        assert get_run(store, view.id).additional_metadata == {"m": payload}
        claim = _only(claim_all(store, ["single"], 1.0))
        assert (claim.input, claim.additional_metadata) == (payload, {"m": payload})
        store.complete(claim.task_run_id, claim.token, {"out": payload}, 2.0)
        assert _task(store, view.id, "t").output == {"out": payload}

    # ------------------------------------------------------------ children

    def _held_parent(
        self, store: RunStore, spec: WorkflowSpec, now: float = 0.0, **options: Any
    ) -> tuple[RunView, Claim]:
        parent = create_run(store, spec, now, **options)
        claim = _only(claim_all(store, [spec.name], now, lease=1000.0))
        return parent, claim

    def test_child_records_its_parent_task_run_key_and_spawn_index(self, store: RunStore) -> None:
        parent, claim = self._held_parent(store, single_spec("parent"))
        child = single_spec("child")
        views = created(
            store,
            [run_request(child), run_request(child, child_key="k"), run_request(child)],
            1.0,
            claim.task_run_id,
        )
        assert [v.parent_task_run_id for v in views] == [claim.task_run_id] * 3
        assert [v.child_key for v in views] == [None, "k", None]
        # every item takes the next spawn index, keyed or not
        assert [v.child_index for v in views] == [0, 1, 2]
        assert all(v.status is RunStatus.QUEUED and sorted(v.tasks) == ["t"] for v in views)
        claims = claim_all(store, ["child"], 2.0)
        assert [c.parent_run_id for c in claims] == [parent.id] * 3

    def test_child_inherits_parent_metadata_with_its_own_keys_winning(
        self, store: RunStore
    ) -> None:
        _, claim = self._held_parent(
            store, single_spec("parent"), metadata={"tenant": "acme", "env": "prod"}
        )
        (child,) = created(
            store,
            [run_request(single_spec("child"), metadata={"env": "test", "x": 1})],
            1.0,
            claim.task_run_id,
        )
        expected = {"tenant": "acme", "env": "test", "x": 1}
        assert child.additional_metadata == expected
        assert get_run(store, child.id).additional_metadata == expected
        assert _only(claim_all(store, ["child"], 2.0)).additional_metadata == expected

    def test_run_ids_lists_every_run_oldest_first_children_included(self, store: RunStore) -> None:
        assert store.run_ids() == []
        parent, claim = self._held_parent(store, single_spec("parent"))
        later = created(store, [run_request(single_spec(), {"i": i}) for i in range(3)], 1.0)
        (child,) = created(store, [run_request(single_spec("child"))], 2.0, claim.task_run_id)
        assert store.run_ids() == [parent.id, *(view.id for view in later), child.id]

    def test_unkeyed_children_spawned_in_one_attempt_are_distinct(self, store: RunStore) -> None:
        _, claim = self._held_parent(store, single_spec("parent"))
        child = single_spec("child")
        (first,) = created(store, [run_request(child)], 1.0, claim.task_run_id)
        (second,) = created(store, [run_request(child)], 2.0, claim.task_run_id)
        assert first.id != second.id
        assert (first.child_index, second.child_index) == (0, 1)
        assert len(claim_all(store, ["child"], 3.0)) == 2

    def test_child_key_returns_the_existing_child(self, store: RunStore) -> None:
        _, claim = self._held_parent(store, single_spec("parent"))
        child = single_spec("child")
        (first,) = created(
            store, [run_request(child, {"v": 1}, child_key="k")], 1.0, claim.task_run_id
        )
        (again,) = created(
            store, [run_request(child, {"v": 2}, child_key="k")], 2.0, claim.task_run_id
        )
        assert again.id == first.id
        assert (again.input, again.created_at, again.child_index) == ({"v": 1}, 1.0, 0)
        # the de-duplicated item still used up spawn index 1
        (unkeyed,) = created(store, [run_request(child)], 3.0, claim.task_run_id)
        assert unkeyed.child_index == 2
        assert len(claim_all(store, ["child"], 4.0)) == 2

    def test_child_key_repeated_within_one_batch_creates_one_child(self, store: RunStore) -> None:
        _, claim = self._held_parent(store, single_spec("parent"))
        child = single_spec("child")
        views = created(
            store,
            [
                run_request(child, {"v": 1}, child_key="k"),
                run_request(child, {"v": 2}, child_key="k"),
            ],
            1.0,
            claim.task_run_id,
        )
        assert views[0].id == views[1].id
        assert [v.input for v in views] == [{"v": 1}, {"v": 1}]
        assert len(claim_all(store, ["child"], 2.0)) == 1

    def test_retry_resets_the_spawn_index_so_respawning_returns_the_same_children(
        self, store: RunStore
    ) -> None:
        parent, claim = self._held_parent(store, single_spec("parent", retries=1))
        child = single_spec("child")
        spawned = created(
            store,
            [run_request(child, {"i": 0}), run_request(child, {"i": 1})],
            1.0,
            claim.task_run_id,
        )
        store.fail(claim.task_run_id, claim.token, task_error(), False, 2.0)
        retry = _only(claim_all(store, ["parent"], 2.0))
        assert retry.retry_count == 1
        again = created(
            store,
            [run_request(child, {"i": 9}), run_request(child, {"i": 9})],
            3.0,
            retry.task_run_id,
        )
        assert [v.id for v in again] == [v.id for v in spawned]
        assert [v.input for v in again] == [{"i": 0}, {"i": 1}]
        (third,) = created(store, [run_request(child)], 4.0, retry.task_run_id)
        assert third.id not in {v.id for v in spawned}
        assert third.child_index == 2
        assert len(claim_all(store, ["child"], 5.0)) == 3
        assert get_run(store, parent.id).tasks["t"].retry_count == 1

    def test_lease_reclaim_resets_the_spawn_index_so_respawning_returns_the_same_children(
        self, store: RunStore
    ) -> None:
        create_run(store, single_spec("parent"), 0.0)
        claim = _only(claim_all(store, ["parent"], 0.0))
        child = single_spec("child")
        spawned = created(
            store, [run_request(child), run_request(child, child_key="k")], 1.0, claim.task_run_id
        )
        store.expire(LEASE)
        reclaim = _only(claim_all(store, ["parent"], LEASE, worker=OTHER_WORKER))
        assert reclaim.retry_count == 0
        again = created(
            store,
            [run_request(child), run_request(child, child_key="k")],
            LEASE,
            reclaim.task_run_id,
        )
        assert [v.id for v in again] == [v.id for v in spawned]
        assert len(claim_all(store, ["child"], LEASE + 1)) == 2

    def test_a_spawn_by_an_attempt_that_lost_its_lease_is_refused_and_uses_no_index(
        self, store: RunStore
    ) -> None:
        create_run(store, single_spec("parent"), 0.0)
        zombie = _only(claim_all(store, ["parent"], 0.0))
        child = single_spec("child")
        store.expire(LEASE)
        holder = _only(claim_all(store, ["parent"], LEASE, worker=OTHER_WORKER))
        with pytest.raises(StaleAttemptError) as refused:
            created(store, [run_request(child)], LEASE, zombie.task_run_id, zombie.token)
        assert refused.value.task_run_id == zombie.task_run_id
        assert claim_all(store, ["child"], LEASE) == []
        (first,) = created(store, [run_request(child)], LEASE, holder.task_run_id, holder.token)
        assert first.child_index == 0

    def test_a_spawn_fenced_by_the_holding_token_succeeds_and_by_a_finished_one_fails(
        self, store: RunStore
    ) -> None:
        create_run(store, single_spec("parent"), 0.0)
        claim = _only(claim_all(store, ["parent"], 0.0))
        child = single_spec("child")
        (first,) = created(store, [run_request(child)], 1.0, claim.task_run_id, claim.token)
        assert first.child_index == 0
        assert store.complete(claim.task_run_id, claim.token, {"ok": True}, 2.0).accepted
        with pytest.raises(StaleAttemptError):
            created(store, [run_request(child)], 3.0, claim.task_run_id, claim.token)
        assert len(claim_all(store, ["child"], 4.0)) == 1

    # ------------------------------------------------------------ claiming

    def test_claim_starts_the_task_with_an_attempt_a_lease_and_a_token(
        self, store: RunStore
    ) -> None:
        view = create_run(store, single_spec(), 5.0, {"x": 1}, metadata={"m": "v"})
        claim = _only(claim_all(store, ["single"], 7.0, lease=12.5))
        assert claim.task_run_id == view.tasks["t"].id
        assert (claim.run_id, claim.workflow, claim.task) == (view.id, "single", "t")
        assert (claim.pool, claim.slot_cost, claim.retry_count) == (SlotPool.DEFAULT, 1, 0)
        assert (claim.input, claim.additional_metadata) == ({"x": 1}, {"m": "v"})
        assert (claim.parent_outputs, claim.parent_run_id) == ({}, None)
        assert claim.lease_expires_at == 7.0 + 12.5
        assert isinstance(claim.token, int)
        run = get_run(store, view.id)
        assert run.status is RunStatus.RUNNING
        task = run.tasks["t"]
        assert (task.status, task.worker_id) == (RunStatus.RUNNING, WORKER)
        assert task.attempts == (AttemptView(1, WORKER, 5.0, 7.0, None, "RUNNING", None),)

    def test_claim_order_is_priority_then_creation_sequence(self, store: RunStore) -> None:
        priorities = [1, 3, 2, 3, 1, 2]
        spec = single_spec()
        ids = [
            create_run(store, spec, float(i), {"i": i}, priority=p).id
            for i, p in enumerate(priorities)
        ]
        order = sorted(range(len(ids)), key=lambda i: rules.claim_key(priorities[i], i))
        claims = claim_all(store, ["single"], 10.0)
        assert [c.run_id for c in claims] == [ids[i] for i in order]

    def test_claim_order_spans_all_the_given_workflows(self, store: RunStore) -> None:
        x, y = single_spec("x"), single_spec("y")
        made = [(x, 1), (y, 1), (x, 2), (y, 3), (x, 1)]
        ids = [create_run(store, spec, float(i), priority=p).id for i, (spec, p) in enumerate(made)]
        order = sorted(range(len(made)), key=lambda i: rules.claim_key(made[i][1], i))
        claims = [_only(claim_all(store, ["x", "y"], 10.0, free=1)) for _ in made]
        assert [c.run_id for c in claims] == [ids[i] for i in order]
        assert claim_all(store, ["x", "y"], 10.0) == []

    def test_claim_takes_at_most_free_slots(self, store: RunStore) -> None:
        spec = single_spec()
        ids = [v.id for v in created(store, [run_request(spec) for _ in range(5)], 0.0)]
        assert [c.run_id for c in claim_all(store, ["single"], 1.0, free=3)] == ids[:3]
        assert [c.run_id for c in claim_all(store, ["single"], 1.0, free=3)] == ids[3:]

    def test_claim_with_no_free_slot_takes_nothing(self, store: RunStore) -> None:
        create_run(store, single_spec(), 0.0)
        assert claim_all(store, ["single"], 1.0, free=0) == []
        assert get_run(store, store.snapshot(1.0).queued[0].run_id).status is RunStatus.QUEUED

    def test_claim_stops_at_the_first_task_whose_slot_cost_does_not_fit(
        self, store: RunStore
    ) -> None:
        light, heavy = single_spec("light"), single_spec("heavy", slot_cost=3)
        first = create_run(store, light, 0.0)
        second = create_run(store, heavy, 1.0)
        third = create_run(store, light, 2.0)
        both = ["light", "heavy"]
        # 1 of 3 slots used, the heavy head needs 3: stop, though the light third would fit
        assert [c.run_id for c in claim_all(store, both, 3.0, free=3)] == [first.id]
        assert claim_all(store, both, 3.0, free=2) == []
        heavy_claim = _only(claim_all(store, both, 3.0, free=3))
        assert (heavy_claim.run_id, heavy_claim.slot_cost) == (second.id, 3)
        assert [c.run_id for c in claim_all(store, both, 3.0, free=3)] == [third.id]

    def test_claim_keeps_default_and_durable_pools_apart(self, store: RunStore) -> None:
        spec = workflow_spec("mixed", task_spec("plain"), task_spec("durable", durable=True))
        create_run(store, spec, 0.0)
        durable = _only(claim_all(store, ["mixed"], 1.0, pool=SlotPool.DURABLE))
        assert (durable.task, durable.pool) == ("durable", SlotPool.DURABLE)
        assert claim_all(store, ["mixed"], 1.0, pool=SlotPool.DURABLE) == []
        plain = _only(claim_all(store, ["mixed"], 1.0, pool=SlotPool.DEFAULT))
        assert (plain.task, plain.pool) == ("plain", SlotPool.DEFAULT)

    def test_claim_takes_only_the_given_workflows(self, store: RunStore) -> None:
        create_run(store, single_spec("x"), 0.0)
        wanted = create_run(store, single_spec("y"), 1.0)
        assert claim_all(store, [], 2.0) == []
        assert claim_all(store, ["unknown"], 2.0) == []
        assert [c.run_id for c in claim_all(store, ["y"], 2.0)] == [wanted.id]

    def test_a_claimed_task_is_not_claimed_again(self, store: RunStore) -> None:
        create_run(store, single_spec(), 0.0)
        _only(claim_all(store, ["single"], 1.0))
        assert claim_all(store, ["single"], 1.0, worker=OTHER_WORKER) == []

    # ------------------------------------------------------------ fencing

    def _reclaimed(self, store: RunStore) -> tuple[RunView, Claim, Claim]:
        """A task whose first claim's lease expired and which a second worker holds now."""
        view = create_run(store, single_spec(retries=3), 0.0)
        first = _only(claim_all(store, ["single"], 0.0))
        store.expire(LEASE)
        second = _only(claim_all(store, ["single"], LEASE, worker=OTHER_WORKER))
        return view, first, second

    def test_complete_with_a_stale_token_is_rejected_and_changes_nothing(
        self, store: RunStore
    ) -> None:
        view, stale, current = self._reclaimed(store)
        before = canonical_views(store.get_runs([view.id]))
        outcome = store.complete(stale.task_run_id, stale.token, {"late": True}, LEASE + 1)
        assert (outcome.accepted, outcome.finished, outcome.queued) == (False, (), 0)
        assert canonical_views(store.get_runs([view.id])) == before
        accepted = store.complete(current.task_run_id, current.token, {"ok": 1}, LEASE + 2)
        assert (accepted.accepted, accepted.finished) == (True, (view.id,))
        assert _task(store, view.id, "t").output == {"ok": 1}

    def test_fail_with_a_stale_token_is_rejected_and_changes_nothing(self, store: RunStore) -> None:
        view, stale, _ = self._reclaimed(store)
        before = canonical_views(store.get_runs([view.id]))
        for non_retryable in (False, True):
            error = task_error(task_run_id=stale.task_run_id)
            outcome = store.fail(stale.task_run_id, stale.token, error, non_retryable, LEASE + 1)
            assert (outcome.accepted, outcome.finished, outcome.queued) == (False, (), 0)
        assert canonical_views(store.get_runs([view.id])) == before

    def test_tokens_strictly_increase_across_reclaims_and_retries(self, store: RunStore) -> None:
        create_run(store, single_spec(retries=2), 0.0)
        tokens: list[int] = []
        now = 0.0
        for _ in range(3):
            claim = _only(claim_all(store, ["single"], now))
            tokens.append(claim.token)
            now += LEASE
            store.expire(now)
        claim = _only(claim_all(store, ["single"], now))
        tokens.append(claim.token)
        store.fail(claim.task_run_id, claim.token, task_error(), False, now)
        tokens.append(_only(claim_all(store, ["single"], now)).token)
        assert tokens == sorted(set(tokens)), f"tokens must strictly increase: {tokens}"

    def test_results_for_a_queued_or_unknown_task_run_are_rejected(self, store: RunStore) -> None:
        view = create_run(store, single_spec(), 0.0)
        queued = view.tasks["t"].id
        for token in range(3):
            assert not store.complete(queued, token, {}, 1.0).accepted
            assert not store.fail(queued, token, task_error(), False, 1.0).accepted
        assert not store.complete("no-such-task-run", 1, {}, 1.0).accepted
        assert not store.fail("no-such-task-run", 1, task_error(), True, 1.0).accepted
        task = _task(store, view.id, "t")
        assert (task.status, task.attempts) == (RunStatus.QUEUED, ())

    def test_a_second_complete_is_rejected_and_keeps_the_first_output(
        self, store: RunStore
    ) -> None:
        view = create_run(store, single_spec(), 0.0)
        claim = _only(claim_all(store, ["single"], 1.0))
        assert store.complete(claim.task_run_id, claim.token, {"n": 1}, 2.0).accepted
        again = store.complete(claim.task_run_id, claim.token, {"n": 2}, 3.0)
        assert (again.accepted, again.finished) == (False, ())
        run = get_run(store, view.id)
        assert (run.tasks["t"].output, run.finished_at) == ({"n": 1}, 2.0)

    # ------------------------------------------------------------ completing

    def test_complete_finishes_a_one_task_run(self, store: RunStore) -> None:
        view = create_run(store, single_spec(), 0.0)
        claim = _only(claim_all(store, ["single"], 1.0))
        outcome = store.complete(claim.task_run_id, claim.token, {"answer": 42}, 3.0)
        assert (outcome.accepted, outcome.finished, outcome.queued) == (True, (view.id,), 0)
        run = get_run(store, view.id)
        assert (run.status, run.finished_at) == (RunStatus.COMPLETED, 3.0)
        assert run.result() == {"t": {"answer": 42}}
        task = run.tasks["t"]
        assert (task.status, task.output, task.error) == (RunStatus.COMPLETED, {"answer": 42}, None)
        assert task.attempts == (AttemptView(1, WORKER, 0.0, 1.0, 3.0, "COMPLETED", None),)

    def test_get_runs_without_attempts_is_the_same_view_with_none(self, store: RunStore) -> None:
        """What waiters read: statuses, outputs and errors as stored, attempts left out."""
        done = create_run(store, single_spec(), 0.0)
        claim = _only(claim_all(store, ["single"], 1.0))
        store.complete(claim.task_run_id, claim.token, {"answer": 42}, 3.0)
        queued = create_run(store, single_spec(), 4.0)
        full = store.get_runs([done.id, queued.id])
        light = store.get_runs([done.id, queued.id], attempts=False)
        assert full[0].tasks["t"].attempts  # there is something to leave out
        assert light == [without_attempts(view) for view in full]
        assert [task.attempts for view in light for task in view.tasks.values()] == [(), ()]

    def test_get_progress_is_what_get_runs_shows_of_what_a_run_changes(
        self, store: RunStore
    ) -> None:
        """A waiter's re-read: status, end and task runs as ``get_runs(..., attempts=False)``
        shows them, for runs queued, running, completed, failed and halfway through a DAG;
        in the order asked, repeats repeated; an unknown id named."""
        queued = create_run(store, single_spec(), 0.0)
        done, running, failed = (create_run(store, single_spec("other"), 0.0) for _ in range(3))
        dag = create_run(store, diamond_spec(), 0.0)
        held = {claim.run_id: claim for claim in claim_all(store, ["other", "diamond"], 1.0)}
        store.complete(held[done.id].task_run_id, held[done.id].token, {"answer": 42}, 2.0)
        store.fail(held[failed.id].task_run_id, held[failed.id].token, task_error(), True, 2.0)
        store.complete(held[dag.id].task_run_id, held[dag.id].token, {"a": 1}, 2.0)
        ids = [queued.id, done.id, running.id, failed.id, dag.id, done.id]
        progress = store.get_progress(ids)
        light = store.get_runs(ids, attempts=False)
        assert [p.id for p in progress] == ids
        merged = [with_progress(view, p) for view, p in zip(light, progress, strict=True)]
        assert canonical_views(merged) == canonical_views(light)
        assert [p.status for p in progress] == [
            RunStatus.QUEUED, RunStatus.COMPLETED, RunStatus.RUNNING, RunStatus.FAILED,
            RunStatus.RUNNING, RunStatus.COMPLETED,
        ]  # fmt: skip
        assert progress[1].tasks["t"].output == {"answer": 42} and progress[1].finished_at == 2.0
        assert progress[3].tasks["t"].error is not None
        assert list(progress[4].tasks) == ["a", "b", "c"]
        assert store.get_progress([]) == []
        with pytest.raises(RunNotFoundError, match="no-such-run"):
            store.get_progress([done.id, "no-such-run"])

    def test_get_progress_answers_for_a_run_without_task_runs(self, store: RunStore) -> None:
        """No SDK workflow has no tasks, but the store takes such a spec: a read of its run's
        progress must not lose it (a read that joins task runs to runs would)."""
        view = create_run(store, workflow_spec("empty"), 0.0)
        (progress,) = store.get_progress([view.id])
        assert (progress.id, progress.status, progress.tasks) == (view.id, RunStatus.QUEUED, {})

    # ------------------------------------------------------------ completing in batches

    def test_complete_many_is_complete_of_each_item_in_order(self, store: RunStore) -> None:
        """Fenced item by item, DAGs advanced item by item: a stale token, a repeat and an
        unknown id are rejected alone; the first of two results for one task run wins;
        of a diamond's two middle tasks completed together, the second creates ``d``."""
        one, two, three = (create_run(store, single_spec(), 0.0) for _ in range(3))
        diamond = create_run(store, diamond_spec(), 0.0)
        held = {claim.run_id: claim for claim in claim_all(store, ["single", "diamond"], 1.0)}
        a = held[diamond.id]
        store.complete(a.task_run_id, a.token, {"from": "a"}, 2.0)
        b, c = claim_all(store, ["diamond"], 3.0)
        first, second, third = held[one.id], held[two.id], held[three.id]
        items = [
            Completion(first.task_run_id, first.token, {"n": 1}),
            Completion(b.task_run_id, b.token, {"from": "b"}),
            Completion(first.task_run_id, first.token, {"n": 2}),
            Completion(third.task_run_id, third.token + 1, {"stale": True}),
            Completion("no-such-task-run", 1, {}),
            Completion(c.task_run_id, c.token, {"from": "c"}),
            Completion(second.task_run_id, second.token, None),
            Completion(third.task_run_id, third.token, {"n": 3}),
        ]
        outcomes = store.complete_many(items, 4.0)
        assert [(o.accepted, o.finished, o.queued) for o in outcomes] == [
            (True, (one.id,), 0),
            (True, (), 0),
            (False, (), 0),
            (False, (), 0),
            (False, (), 0),
            (True, (), 1),
            (True, (two.id,), 0),
            (True, (three.id,), 0),
        ]
        runs = {view.id: view for view in store.get_runs([one.id, two.id, three.id])}
        outputs = [runs[run.id].tasks["t"].output for run in (one, two, three)]
        assert outputs == [{"n": 1}, None, {"n": 3}]
        for view in runs.values():
            assert (view.status, view.finished_at) == (RunStatus.COMPLETED, 4.0)
            assert view.tasks["t"].attempts == (
                AttemptView(1, WORKER, 0.0, 1.0, 4.0, "COMPLETED", None),
            )
        d = _only(claim_all(store, ["diamond"], 5.0))
        assert (d.task, d.parent_outputs) == ("d", {"b": {"from": "b"}, "c": {"from": "c"}})

    def test_complete_many_of_no_items_changes_nothing(self, store: RunStore) -> None:
        view = create_run(store, single_spec(), 0.0)
        _only(claim_all(store, ["single"], 1.0))
        assert store.complete_many([], 2.0) == []
        assert get_run(store, view.id).status is RunStatus.RUNNING

    # ------------------------------------------------------------ finished runs

    def test_children_completed_together_read_as_ended_everywhere(self, store: RunStore) -> None:
        """A worker's batch of fan-out children (one task each) ends their runs: the run,
        its progress, the finished cursor and the snapshot all see them COMPLETED at the
        batch's time; cancelling their parent afterwards leaves them so (and cancels the
        child still running). A backend that ends such a run with its task run alone
        (Postgres, migration 0014) must still answer every read this way."""
        parent, held = self._held_parent(store, single_spec("parent"))
        child = single_spec("child")
        ids = [view.id for view in created(store, [run_request(child)] * 3, 1.0,
                                                     held.task_run_id)]  # fmt: skip
        cursor = store.finished_since(None).cursor
        claims = claim_all(store, ["child"], 2.0)
        assert [claim.run_id for claim in claims] == ids
        done = [Completion(claim.task_run_id, claim.token, {"i": i})
                for i, claim in enumerate(claims[:2])]  # fmt: skip
        outcomes = store.complete_many(done, 3.0)
        assert [(o.accepted, o.finished) for o in outcomes] == [
            (True, (ids[0],)),
            (True, (ids[1],)),
        ]
        assert set(store.finished_since(cursor).run_ids) == set(ids[:2])
        ended = [(RunStatus.COMPLETED, 3.0)] * 2 + [(RunStatus.RUNNING, None)]
        assert [(run.status, run.finished_at) for run in store.get_runs(ids)] == ended
        assert [(run.status, run.finished_at) for run in store.get_progress(ids)] == ended
        assert [run.tasks["t"].output for run in store.get_runs(ids)] == [{"i": 0}, {"i": 1}, None]
        statuses = store.snapshot(4.0, ids).run_status
        assert [statuses[run_id] for run_id in ids] == [status for status, _ in ended]
        assert [o.accepted for o in store.complete_many(done[:1], 4.0)] == [False]
        store.cancel_run(parent.id, "stop", 5.0)
        assert [run.status for run in store.get_runs([parent.id, *ids])] == [
            RunStatus.CANCELLED, RunStatus.COMPLETED, RunStatus.COMPLETED, RunStatus.CANCELLED,
        ]  # fmt: skip

    def test_finished_since_names_the_runs_that_ended_after_the_cursor(
        self, store: RunStore
    ) -> None:
        """Whatever ends a run (a result, a failure, a cancel, a schedule timeout) puts it
        in the next read; a run still going never appears; ``None`` only starts a cursor."""
        completed, failed, cancelled, pending = (
            create_run(store, single_spec(), 0.0) for _ in range(4)
        )
        start = store.finished_since(None)
        assert start.run_ids == ()
        claims = {c.run_id: c for c in claim_all(store, ["single"], 1.0, free=2)}
        done = claims[completed.id]
        store.complete(done.task_run_id, done.token, {}, 2.0)
        after_one = store.finished_since(start.cursor)
        assert completed.id in after_one.run_ids
        assert {failed.id, cancelled.id, pending.id}.isdisjoint(after_one.run_ids)
        broken = claims[failed.id]
        store.fail(broken.task_run_id, broken.token, task_error(), True, 3.0)
        store.cancel_run(cancelled.id, "stop", 3.0)
        after_three = store.finished_since(after_one.cursor)
        assert {failed.id, cancelled.id} <= set(after_three.run_ids)
        assert pending.id not in after_three.run_ids
        timeout = single_spec().tasks["t"].schedule_timeout
        store.expire(timeout + 1.0)
        last = store.finished_since(after_three.cursor)
        assert pending.id in last.run_ids
        ended = {*after_one.run_ids, *after_three.run_ids, *last.run_ids}
        assert ended == {completed.id, failed.id, cancelled.id, pending.id}

    # ------------------------------------------------------------ retries

    def test_retry_with_backoff_is_claimable_exactly_at_its_ready_time(
        self, store: RunStore
    ) -> None:
        view = create_run(store, single_spec(retries=3, backoff_factor=2.0), 0.0)
        claim = _only(claim_all(store, ["single"], 1.0))
        error = task_error("first", task_run_id=claim.task_run_id)
        outcome = store.fail(claim.task_run_id, claim.token, error, False, 10.0)
        assert (outcome.accepted, outcome.finished, outcome.queued) == (True, (), 0)
        ready_at = 10.0 + rules.backoff_delay(1, 2.0, None)
        task = _task(store, view.id, "t")
        assert (task.status, task.retry_count, task.worker_id, task.error) == (
            RunStatus.QUEUED,
            1,
            None,
            None,
        )
        assert task.attempts == (AttemptView(1, WORKER, 0.0, 1.0, 10.0, "FAILED", str(error)),)
        assert get_run(store, view.id).status is RunStatus.RUNNING
        assert claim_all(store, ["single"], just_before(ready_at)) == []
        retry = _only(claim_all(store, ["single"], ready_at))
        assert (retry.retry_count, retry.task_run_id) == (1, claim.task_run_id)
        assert retry.token > claim.token
        assert _task(store, view.id, "t").attempts[1] == AttemptView(
            2, WORKER, ready_at, ready_at, None, "RUNNING", None
        )
        # the second retry waits factor ** 2
        store.fail(retry.task_run_id, retry.token, error, False, 20.0)
        second_ready = 20.0 + rules.backoff_delay(2, 2.0, None)
        assert claim_all(store, ["single"], just_before(second_ready)) == []
        assert _only(claim_all(store, ["single"], second_ready)).retry_count == 2

    def test_backoff_is_capped_at_backoff_max_seconds(self, store: RunStore) -> None:
        create_run(store, single_spec(retries=1, backoff_factor=10.0, backoff_max_seconds=5.0), 0)
        claim = _only(claim_all(store, ["single"], 0.0))
        store.fail(claim.task_run_id, claim.token, task_error(), False, 1.0)
        ready_at = 1.0 + rules.backoff_delay(1, 10.0, 5.0)
        assert ready_at == 6.0
        assert claim_all(store, ["single"], just_before(ready_at)) == []
        assert len(claim_all(store, ["single"], ready_at)) == 1

    def test_a_requested_retry_delay_replaces_the_backoff_and_counts_against_retries(
        self, store: RunStore
    ) -> None:
        spec = single_spec(retries=2, backoff_factor=10.0, backoff_max_seconds=60.0)
        view = create_run(store, spec, 0.0)
        claim = _only(claim_all(store, ["single"], 1.0))
        outcome = store.fail(claim.task_run_id, claim.token, task_error(), False, 2.0, 1.5)
        assert (outcome.accepted, outcome.finished) == (True, ())
        assert claim_all(store, ["single"], just_before(3.5)) == []  # not the backoff's 12.0
        retry = _only(claim_all(store, ["single"], 3.5))
        assert (retry.retry_count, _task(store, view.id, "t").attempts[1].queued_at) == (1, 3.5)
        # a delay of 0 (or less, taken as 0) retries at once; the last retry is spent
        store.fail(retry.task_run_id, retry.token, task_error(), False, 4.0, -3.0)
        last = _only(claim_all(store, ["single"], 4.0))
        failed = store.fail(last.task_run_id, last.token, task_error("out"), False, 5.0, 1.0)
        assert failed.finished == (view.id,)
        assert (get_run(store, view.id).status, _task(store, view.id, "t").retry_count) == (
            RunStatus.FAILED,
            2,
        )

    def test_a_requested_retry_delay_neither_retries_a_non_retryable_failure_nor_waits_past_a_week(
        self, store: RunStore
    ) -> None:
        final = create_run(store, single_spec(retries=3), 0.0)
        claim = _only(claim_all(store, ["single"], 0.0))
        outcome = store.fail(claim.task_run_id, claim.token, task_error(), True, 1.0, 5.0)
        assert outcome.finished == (final.id,)
        create_run(store, single_spec(retries=1), 2.0)
        claim = _only(claim_all(store, ["single"], 2.0))
        store.fail(claim.task_run_id, claim.token, task_error(), False, 3.0, 1e9)
        week = 3.0 + rules.MAX_RETRY_AFTER_SECONDS
        assert claim_all(store, ["single"], just_before(week)) == []
        assert _only(claim_all(store, ["single"], week)).retry_count == 1

    def test_retry_without_a_backoff_factor_is_claimable_at_once(self, store: RunStore) -> None:
        view = create_run(store, single_spec(retries=1), 0.0)
        claim = _only(claim_all(store, ["single"], 1.0))
        outcome = store.fail(claim.task_run_id, claim.token, task_error(), False, 2.0)
        assert (outcome.accepted, outcome.finished, outcome.queued) == (True, (), 1)
        retry = _only(claim_all(store, ["single"], 2.0))
        assert retry.retry_count == 1
        assert _task(store, view.id, "t").attempts[1].queued_at == 2.0

    def test_retry_jumps_ahead_at_retry_priority(self, store: RunStore) -> None:
        spec = single_spec(retries=1)
        failing = create_run(store, spec, 0.0, priority=1)
        claim = _only(claim_all(store, ["single"], 1.0))
        high = create_run(store, spec, 2.0, priority=3)
        low = create_run(store, spec, 3.0, priority=1)
        store.fail(claim.task_run_id, claim.token, task_error(), False, 4.0)
        # sequence: high=1, low=2, the retry re-queued after them=3
        keyed = {
            failing.id: rules.claim_key(rules.RETRY_PRIORITY, 3),
            high.id: rules.claim_key(3, 1),
            low.id: rules.claim_key(1, 2),
        }
        claims = claim_all(store, ["single"], 5.0)
        assert [c.run_id for c in claims] == sorted(keyed, key=keyed.__getitem__)
        assert claims[0].run_id == failing.id

    def test_exhausted_retries_fail_the_task_with_its_error(self, store: RunStore) -> None:
        view = create_run(store, single_spec(retries=2), 0.0)
        now = 0.0
        outcomes = []
        for attempt in range(3):
            claim = _only(claim_all(store, ["single"], now))
            assert claim.retry_count == attempt
            now += 1.0
            error = task_error(f"attempt {attempt}", "KeyError", claim.task_run_id)
            outcomes.append(store.fail(claim.task_run_id, claim.token, error, False, now))
        assert [o.finished for o in outcomes] == [(), (), (view.id,)]
        assert claim_all(store, ["single"], now) == []
        run = get_run(store, view.id)
        assert (run.status, run.finished_at) == (RunStatus.FAILED, now)
        task = run.tasks["t"]
        assert (task.status, task.retry_count) == (RunStatus.FAILED, 2)
        assert task.error is not None
        assert (task.error.exc, task.error.exc_type, task.error.trace) == (
            "attempt 2",
            "KeyError",
            error.trace,
        )
        assert task.error.task_run_external_id == task.id
        assert [a.number for a in task.attempts] == [1, 2, 3]
        assert [a.outcome for a in task.attempts] == ["FAILED"] * 3
        assert [r.exc_type for r in run.errors()] == ["KeyError"]

    def test_non_retryable_failure_ends_the_task_at_once(self, store: RunStore) -> None:
        view = create_run(store, single_spec(retries=3, backoff_factor=2.0), 0.0)
        claim = _only(claim_all(store, ["single"], 1.0))
        error = task_error("fatal", "NonRetryableException", claim.task_run_id)
        outcome = store.fail(claim.task_run_id, claim.token, error, True, 2.0)
        assert (outcome.accepted, outcome.finished, outcome.queued) == (True, (view.id,), 0)
        task = _task(store, view.id, "t")
        assert (task.status, task.retry_count) == (RunStatus.FAILED, 0)
        assert task.error is not None and task.error.exc_type == "NonRetryableException"
        assert store.next_wakeup(2.0) is None

    def test_expire_reports_released_retries_as_queued(self, store: RunStore) -> None:
        create_run(store, single_spec(retries=1, backoff_factor=3.0), 0.0)
        claim = _only(claim_all(store, ["single"], 0.0))
        store.fail(claim.task_run_id, claim.token, task_error(), False, 1.0)
        ready_at = 1.0 + rules.backoff_delay(1, 3.0, None)
        early = store.expire(just_before(ready_at))
        assert (early.finished, early.queued) == ((), 0)
        due = store.expire(ready_at)
        assert (due.finished, due.queued) == ((), 1)

    # ------------------------------------------------------------ schedule timeouts

    def test_schedule_timeout_cancels_a_queued_task_at_its_deadline(self, store: RunStore) -> None:
        view = create_run(store, single_spec(retries=3, schedule_timeout=30.0), 100.0)
        deadline = rules.schedule_deadline(100.0, 30.0)
        early = store.expire(just_before(deadline))
        assert (early.finished, early.queued) == ((), 0)
        assert _task(store, view.id, "t").status is RunStatus.QUEUED
        outcome = store.expire(deadline)
        assert outcome.finished == (view.id,)
        run = get_run(store, view.id)
        assert (run.status, run.finished_at) == (RunStatus.CANCELLED, deadline)
        task = run.tasks["t"]
        assert (task.status, task.retry_count, task.attempts) == (RunStatus.CANCELLED, 0, ())
        assert task.error is not None
        reason = f"Task exceeded schedule timeout of {rules.format_duration(30.0)}"
        assert task.error.exc == f"{reason} (SCHEDULING_TIMED_OUT)"
        assert (task.error.exc_type, task.error.task_run_external_id) == ("CancelledError", task.id)
        # never retried
        assert claim_all(store, ["single"], deadline + 1000) == []
        assert store.next_wakeup(deadline) is None

    def test_schedule_timeout_spares_a_task_once_claimed(self, store: RunStore) -> None:
        view = create_run(store, single_spec(schedule_timeout=10.0), 0.0)
        _only(claim_all(store, ["single"], 5.0, lease=1000.0))
        store.expire(50.0)
        assert _task(store, view.id, "t").status is RunStatus.RUNNING

    def test_retried_task_schedule_clock_starts_at_its_ready_time(self, store: RunStore) -> None:
        view = create_run(
            store, single_spec(retries=1, backoff_factor=2.0, schedule_timeout=30.0), 0
        )
        claim = _only(claim_all(store, ["single"], 0.0))
        store.fail(claim.task_run_id, claim.token, task_error(), False, 10.0)
        ready_at = 10.0 + rules.backoff_delay(1, 2.0, None)
        deadline = rules.schedule_deadline(ready_at, 30.0)
        # measured from the failure it would have passed already
        assert rules.schedule_deadline(10.0, 30.0) < just_before(deadline)
        store.expire(just_before(deadline))
        assert _task(store, view.id, "t").status is RunStatus.QUEUED
        assert store.expire(deadline).finished == (view.id,)
        assert _task(store, view.id, "t").status is RunStatus.CANCELLED

    def test_retried_task_schedule_clock_starts_at_its_ready_time_however_late_looked_at(
        self, store: RunStore
    ) -> None:
        view = create_run(
            store, single_spec(retries=1, backoff_factor=2.0, schedule_timeout=30.0), 0
        )
        claim = _only(claim_all(store, ["single"], 0.0))
        store.fail(claim.task_run_id, claim.token, task_error(), False, 10.0)
        ready_at = 10.0 + rules.backoff_delay(1, 2.0, None)
        late = rules.schedule_deadline(ready_at, 30.0) + 8.0
        assert store.expire(late).finished == (view.id,)
        run = get_run(store, view.id)
        assert (run.status, run.finished_at) == (RunStatus.CANCELLED, late)

    def test_released_retry_is_cancelled_at_its_deadline_before_later_queued_runs(
        self, store: RunStore
    ) -> None:
        spec = single_spec(retries=1, backoff_factor=2.0, schedule_timeout=40.0)
        retried = create_run(store, spec, 0.0)
        claim = _only(claim_all(store, ["single"], 0.0))
        store.fail(claim.task_run_id, claim.token, task_error(), False, 0.0)
        ready_at = rules.backoff_delay(1, 2.0, None)
        later = create_run(store, spec, 5.0)
        store.expire(5.0)  # releases the retry, late: its clock still starts at ready_at
        deadline = rules.schedule_deadline(ready_at, 40.0)
        assert deadline < rules.schedule_deadline(5.0, 40.0)
        assert store.next_wakeup(5.0) == deadline
        assert store.expire(deadline).finished == (retried.id,)
        assert get_run(store, later.id).status is RunStatus.QUEUED

    def test_lost_task_schedule_clock_restarts_when_requeued(self, store: RunStore) -> None:
        view = create_run(store, single_spec(schedule_timeout=100.0), 0.0)
        _only(claim_all(store, ["single"], 1.0))
        store.expire(1.0 + LEASE)
        deadline = rules.schedule_deadline(1.0 + LEASE, 100.0)
        store.expire(rules.schedule_deadline(0.0, 100.0))
        store.expire(just_before(deadline))
        assert _task(store, view.id, "t").status is RunStatus.QUEUED
        assert store.expire(deadline).finished == (view.id,)

    # ------------------------------------------------------------ leases

    def test_expired_lease_requeues_a_lost_attempt_without_using_a_retry(
        self, store: RunStore
    ) -> None:
        view = create_run(store, single_spec(retries=1), 0.0)
        claim = _only(claim_all(store, ["single"], 2.0))
        lease_end = 2.0 + LEASE
        early = store.expire(just_before(lease_end))
        assert (early.finished, early.queued) == ((), 0)
        assert _task(store, view.id, "t").status is RunStatus.RUNNING
        outcome = store.expire(lease_end)
        assert (outcome.accepted, outcome.finished, outcome.queued) == (True, (), 1)
        task = _task(store, view.id, "t")
        assert (task.status, task.retry_count, task.worker_id) == (RunStatus.QUEUED, 0, None)
        (lost,) = task.attempts
        assert (lost.number, lost.worker_id, lost.started_at) == (1, WORKER, 2.0)
        assert (lost.finished_at, lost.outcome) == (lease_end, "LOST")
        assert lost.error is not None and WORKER in lost.error
        again = _only(claim_all(store, ["single"], lease_end, worker=OTHER_WORKER))
        assert (again.retry_count, again.task_run_id) == (0, claim.task_run_id)
        # the attempt number counts retries; the lost attempt did not use one
        attempts = _task(store, view.id, "t").attempts
        assert [(a.number, a.worker_id, a.outcome) for a in attempts] == [
            (1, WORKER, "LOST"),
            (1, OTHER_WORKER, "RUNNING"),
        ]
        assert attempts[1].queued_at == lease_end

    def test_lost_task_keeps_its_priority_behind_earlier_queued_tasks(
        self, store: RunStore
    ) -> None:
        spec = single_spec()
        lost = create_run(store, spec, 0.0, priority=2)
        _only(claim_all(store, ["single"], 0.0))
        above = create_run(store, spec, 1.0, priority=3)
        same = create_run(store, spec, 2.0, priority=2)
        below = create_run(store, spec, 3.0, priority=1)
        store.expire(LEASE)
        claims = claim_all(store, ["single"], LEASE)
        assert [c.run_id for c in claims] == [above.id, same.id, lost.id, below.id]

    def test_heartbeat_extends_the_leases_of_the_workers_tasks_only(self, store: RunStore) -> None:
        spec = single_spec()
        mine = create_run(store, spec, 0.0)
        _only(claim_all(store, ["single"], 0.0, worker=WORKER))
        theirs = create_run(store, spec, 0.0)
        _only(claim_all(store, ["single"], 0.0, worker=OTHER_WORKER))
        store.heartbeat(WORKER, 20.0, LEASE)
        store.expire(LEASE)
        assert _task(store, mine.id, "t").status is RunStatus.RUNNING
        assert _task(store, theirs.id, "t").status is RunStatus.QUEUED
        store.expire(just_before(20.0 + LEASE))
        assert _task(store, mine.id, "t").status is RunStatus.RUNNING
        assert store.expire(20.0 + LEASE).queued == 1
        assert _task(store, mine.id, "t").status is RunStatus.QUEUED

    def test_complete_after_the_lease_expired_is_rejected(self, store: RunStore) -> None:
        view = create_run(store, single_spec(), 0.0)
        claim = _only(claim_all(store, ["single"], 0.0))
        store.expire(LEASE)
        assert not store.complete(claim.task_run_id, claim.token, {"late": 1}, LEASE + 1).accepted
        task = _task(store, view.id, "t")
        assert (task.status, task.output) == (RunStatus.QUEUED, None)

    # ------------------------------------------------------------ DAGs

    def test_dag_diamond_runs_each_task_after_its_parents_with_their_outputs(
        self, store: RunStore
    ) -> None:
        spec = diamond_spec()
        view = create_run(store, spec, 0.0, {"x": 1})
        a = _only(claim_all(store, ["diamond"], 1.0))
        assert (a.task, a.parent_outputs) == ("a", {})
        outcome = store.complete(a.task_run_id, a.token, {"from": "a"}, 2.0)
        assert (outcome.finished, outcome.queued) == ((), 2)
        run = get_run(store, view.id)
        assert sorted(run.tasks) == ["a", "b", "c"]
        assert run.status is rules.rollup_status(
            spec.tasks, {n: t.status for n, t in run.tasks.items()}
        )
        b, c = claim_all(store, ["diamond"], 3.0)
        # created together, queued in definition order
        assert (b.task, c.task) == ("b", "c")
        assert b.parent_outputs == c.parent_outputs == {"a": {"from": "a"}}
        assert (b.input, c.input) == ({"x": 1}, {"x": 1})
        outcome = store.complete(b.task_run_id, b.token, {"from": "b"}, 4.0)
        assert (outcome.finished, outcome.queued) == ((), 0)
        assert "d" not in get_run(store, view.id).tasks  # waits for c too
        outcome = store.complete(c.task_run_id, c.token, {"from": "c"}, 5.0)
        assert (outcome.finished, outcome.queued) == ((), 1)
        d = _only(claim_all(store, ["diamond"], 6.0))
        assert (d.task, d.parent_outputs) == ("d", {"b": {"from": "b"}, "c": {"from": "c"}})
        outcome = store.complete(d.task_run_id, d.token, {"from": "d"}, 7.0)
        assert outcome.finished == (view.id,)
        run = get_run(store, view.id)
        assert (run.status, run.finished_at) == (RunStatus.COMPLETED, 7.0)
        assert run.result() == {name: {"from": name} for name in "abcd"}

    def test_dag_failure_cancels_the_tasks_downstream_and_fails_the_run(
        self, store: RunStore
    ) -> None:
        spec = diamond_spec()
        view = create_run(store, spec, 0.0)
        a = _only(claim_all(store, ["diamond"], 1.0))
        store.complete(a.task_run_id, a.token, {"a": 1}, 2.0)
        b, c = claim_all(store, ["diamond"], 3.0)
        error = task_error("b broke", "RuntimeError", b.task_run_id)
        outcome = store.fail(b.task_run_id, b.token, error, True, 4.0)
        assert (outcome.accepted, outcome.finished, outcome.queued) == (True, (), 0)
        run = get_run(store, view.id)
        statuses = {name: task.status for name, task in run.tasks.items()}
        before_d = {name: status for name, status in statuses.items() if name != "d"}
        assert rules.upstream_cancelled(spec.parents, before_d) == ["d"]
        assert statuses == {
            "a": RunStatus.COMPLETED,
            "b": RunStatus.FAILED,
            "c": RunStatus.RUNNING,
            "d": RunStatus.CANCELLED,
        }
        assert run.tasks["d"].attempts == ()
        assert run.status is RunStatus.RUNNING  # c still runs
        outcome = store.complete(c.task_run_id, c.token, {"c": 1}, 5.0)
        assert outcome.finished == (view.id,)
        run = get_run(store, view.id)
        expected = rules.rollup_status(spec.tasks, {n: t.status for n, t in run.tasks.items()})
        assert (run.status, expected, run.finished_at) == (RunStatus.FAILED, RunStatus.FAILED, 5.0)
        assert [e.exc for e in run.errors() if e.exc_type == "RuntimeError"] == ["b broke"]
        assert claim_all(store, ["diamond"], 6.0) == []

    def test_dag_run_status_rolls_up_from_queued_to_running_to_completed(
        self, store: RunStore
    ) -> None:
        spec = workflow_spec("pair", task_spec("first"), task_spec("second", parents=("first",)))
        view = create_run(store, spec, 0.0)
        assert get_run(store, view.id).status is RunStatus.QUEUED
        first = _only(claim_all(store, ["pair"], 1.0))
        assert get_run(store, view.id).status is RunStatus.RUNNING
        store.complete(first.task_run_id, first.token, {}, 2.0)
        run = get_run(store, view.id)
        assert (run.status, run.finished_at) == (RunStatus.RUNNING, None)
        second = _only(claim_all(store, ["pair"], 3.0))
        store.complete(second.task_run_id, second.token, {}, 4.0)
        run = get_run(store, view.id)
        assert (run.status, run.finished_at) == (RunStatus.COMPLETED, 4.0)
        assert run.result() == {}  # empty outputs are left out

    def _with_on_failure(self) -> WorkflowSpec:
        """``a -> b`` and ``c``, plus the on-failure task ``h`` (no parents)."""
        return workflow_spec(
            "guarded",
            task_spec("a"),
            task_spec("b", parents=("a",)),
            task_spec("c"),
            task_spec("h", on_failure=True),
        )

    def test_on_failure_task_is_queued_at_the_first_failure_and_ends_the_run_failed(
        self, store: RunStore
    ) -> None:
        view = create_run(store, self._with_on_failure(), 0.0)
        assert sorted(view.tasks) == ["a", "c"]  # not a root: created only on a failure
        a, c = claim_all(store, ["guarded"], 1.0)
        outcome = store.fail(a.task_run_id, a.token, task_error("a broke"), True, 2.0)
        assert (outcome.finished, outcome.queued) == ((), 1)
        run = get_run(store, view.id)
        assert run.statuses() == {
            "a": RunStatus.FAILED,
            "c": RunStatus.RUNNING,  # a sibling still running does not hold it back
            "b": RunStatus.CANCELLED,
            "h": RunStatus.QUEUED,
        }
        h = _only(claim_all(store, ["guarded"], 3.0))
        assert h.task == "h"
        store.complete(c.task_run_id, c.token, {"c": 1}, 4.0)
        assert get_run(store, view.id).status is RunStatus.RUNNING  # h still runs
        outcome = store.complete(h.task_run_id, h.token, {"handled": True}, 5.0)
        assert outcome.finished == (view.id,)
        run = get_run(store, view.id)
        assert (run.status, run.finished_at) == (RunStatus.FAILED, 5.0)
        assert run.tasks["h"].output == {"handled": True}

    def test_on_failure_task_is_never_created_when_no_task_fails(self, store: RunStore) -> None:
        view = create_run(store, self._with_on_failure(), 0.0)
        a, c = claim_all(store, ["guarded"], 1.0)
        store.complete(a.task_run_id, a.token, {}, 2.0)
        store.complete(c.task_run_id, c.token, {}, 3.0)
        b = _only(claim_all(store, ["guarded"], 4.0))
        outcome = store.complete(b.task_run_id, b.token, {}, 5.0)
        assert outcome.finished == (view.id,)
        run = get_run(store, view.id)
        assert (run.status, sorted(run.tasks)) == (RunStatus.COMPLETED, ["a", "b", "c"])

    def test_on_failure_task_is_not_created_for_a_cancelled_run(self, store: RunStore) -> None:
        view = create_run(store, self._with_on_failure(), 0.0)
        store.cancel_run(view.id, "cancelled by test", 1.0)
        run = get_run(store, view.id)
        assert (run.status, "h" in run.tasks) == (RunStatus.CANCELLED, False)

    # ------------------------------------------------------------ scheduled and triggered runs

    def test_scheduled_run_is_claimable_exactly_at_its_time(self, store: RunStore) -> None:
        view = create_run(store, single_spec(), 0.0, run_at=100.0)
        assert (view.status, view.tasks["t"].status) == (RunStatus.QUEUED, RunStatus.QUEUED)
        assert store.next_wakeup(1.0) == 100.0
        assert claim_all(store, ["single"], just_before(100.0)) == []
        claim = _only(claim_all(store, ["single"], 100.0))
        attempt = _task(store, view.id, "t").attempts[0]
        assert (claim.run_id, attempt.queued_at, attempt.started_at) == (view.id, 100.0, 100.0)

    def test_scheduled_run_schedule_clock_starts_at_its_time(self, store: RunStore) -> None:
        view = create_run(store, single_spec(schedule_timeout=10.0), 0.0, run_at=100.0)
        store.expire(50.0)  # long before it is due: its schedule clock has not started
        store.expire(just_before(110.0))
        assert _task(store, view.id, "t").status is RunStatus.QUEUED
        outcome = store.expire(110.0)
        assert outcome.finished == (view.id,)
        assert get_run(store, view.id).status is RunStatus.CANCELLED

    def test_run_at_in_the_past_queues_at_once(self, store: RunStore) -> None:
        create_run(store, single_spec(), 50.0, run_at=10.0)
        assert len(claim_all(store, ["single"], 50.0)) == 1

    def test_scheduled_run_can_be_cancelled_before_it_is_due(self, store: RunStore) -> None:
        view = create_run(store, single_spec(), 0.0, run_at=100.0)
        store.cancel_run(view.id, "deleted", 1.0)
        assert get_run(store, view.id).status is RunStatus.CANCELLED
        assert claim_all(store, ["single"], 200.0) == []

    def test_trigger_key_creates_a_top_level_run_once(self, store: RunStore) -> None:
        spec = single_spec()
        first = create_run(store, spec, 0.0, trigger_key="cron:single:*/5:300")
        again = create_run(store, spec, 1.0, trigger_key="cron:single:*/5:300")
        other = create_run(store, spec, 1.0, trigger_key="cron:single:*/5:600")
        assert again.id == first.id != other.id
        assert store.run_ids() == [first.id, other.id]

    # ------------------------------------------------------------ cancelling

    def test_cancel_run_cancels_its_queued_tasks(self, store: RunStore) -> None:
        view = create_run(store, single_spec(retries=2), 0.0)
        outcome = store.cancel_run(view.id, "not wanted", 1.0)
        assert (outcome.accepted, outcome.finished, outcome.queued) == (True, (view.id,), 0)
        run = get_run(store, view.id)
        assert (run.status, run.finished_at) == (RunStatus.CANCELLED, 1.0)
        task = run.tasks["t"]
        assert (task.status, task.attempts) == (RunStatus.CANCELLED, ())
        assert task.error is not None
        assert (task.error.exc, task.error.exc_type) == ("not wanted", "CancelledError")
        assert claim_all(store, ["single"], 2.0) == []
        assert store.snapshot(2.0).queued == ()

    def test_cancel_run_fences_off_its_running_task(self, store: RunStore) -> None:
        view = create_run(store, single_spec(retries=2), 0.0)
        claim = _only(claim_all(store, ["single"], 1.0))
        assert store.cancel_run(view.id, "stop", 2.0).finished == (view.id,)
        task = _task(store, view.id, "t")
        assert task.status is RunStatus.CANCELLED
        assert [(a.outcome, a.finished_at) for a in task.attempts] == [("CANCELLED", 2.0)]
        before = canonical_views(store.get_runs([view.id]))
        assert not store.complete(claim.task_run_id, claim.token, {"late": 1}, 3.0).accepted
        assert not store.fail(claim.task_run_id, claim.token, task_error(), False, 3.0).accepted
        # its lease no longer matters: nothing to requeue
        assert store.expire(1.0 + LEASE).queued == 0
        assert canonical_views(store.get_runs([view.id])) == before
        assert store.snapshot(3.0).held == ()

    def test_cancel_run_cancels_a_dag_and_its_tasks_not_yet_created(self, store: RunStore) -> None:
        view = create_run(store, diamond_spec(), 0.0)
        a = _only(claim_all(store, ["diamond"], 1.0))
        store.complete(a.task_run_id, a.token, {"a": 1}, 2.0)
        outcome = store.cancel_run(view.id, "stop", 3.0)
        assert outcome.finished == (view.id,)
        run = get_run(store, view.id)
        assert run.status is RunStatus.CANCELLED
        assert {n: t.status for n, t in run.tasks.items()} == {
            "a": RunStatus.COMPLETED,
            "b": RunStatus.CANCELLED,
            "c": RunStatus.CANCELLED,
            "d": RunStatus.CANCELLED,
        }
        assert claim_all(store, ["diamond"], 4.0) == []

    def test_cancel_run_drops_a_retry_waiting_in_backoff(self, store: RunStore) -> None:
        view = create_run(store, single_spec(retries=1, backoff_factor=4.0), 0.0)
        claim = _only(claim_all(store, ["single"], 0.0))
        store.fail(claim.task_run_id, claim.token, task_error(), False, 1.0)
        assert store.cancel_run(view.id, "stop", 2.0).finished == (view.id,)
        ready_at = 1.0 + rules.backoff_delay(1, 4.0, None)
        assert store.expire(ready_at).queued == 0
        assert claim_all(store, ["single"], ready_at) == []
        assert _task(store, view.id, "t").status is RunStatus.CANCELLED

    def test_cancel_run_of_a_finished_run_changes_nothing(self, store: RunStore) -> None:
        view = create_run(store, single_spec(), 0.0)
        claim = _only(claim_all(store, ["single"], 1.0))
        store.complete(claim.task_run_id, claim.token, {"done": True}, 2.0)
        before = canonical_views(store.get_runs([view.id]))
        outcome = store.cancel_run(view.id, "too late", 3.0)
        assert (outcome.accepted, outcome.finished, outcome.queued) == (True, (), 0)
        assert canonical_views(store.get_runs([view.id])) == before

    def _family(self, store: RunStore) -> tuple[RunView, Claim, list[RunView], Claim]:
        """A parent holding its slot, two children (one running), a grandchild queued."""
        parent = create_run(store, single_spec("parent"), 0.0)
        parent_claim = _only(claim_all(store, ["parent"], 0.0, lease=1000.0))
        child = single_spec("child")
        children = created(store, [run_request(child), run_request(child)], 1.0,
                                     parent_claim.task_run_id)  # fmt: skip
        child_claim = claim_all(store, ["child"], 2.0, free=1, lease=1000.0)[0]
        (grandchild,) = created(
            store, [run_request(single_spec("grandchild"))], 3.0, child_claim.task_run_id
        )
        return parent, parent_claim, [*children, grandchild], child_claim

    def test_cancel_run_cascades_to_children_and_grandchildren(self, store: RunStore) -> None:
        parent, parent_claim, family, child_claim = self._family(store)
        outcome = store.cancel_run(parent.id, "stop", 4.0)
        # the run first, then what it spawned, oldest first
        assert outcome.finished == (parent.id, *[view.id for view in family])
        views = store.get_runs([parent.id, *[view.id for view in family]])
        assert [(v.status, v.finished_at) for v in views] == [(RunStatus.CANCELLED, 4.0)] * 4
        for claim in (parent_claim, child_claim):
            assert not store.complete(claim.task_run_id, claim.token, {"late": 1}, 5.0).accepted
        assert claim_all(store, ["child", "grandchild"], 5.0) == []
        assert store.snapshot(5.0).held == ()

    def test_cancel_run_of_a_child_leaves_its_parent_running(self, store: RunStore) -> None:
        parent, parent_claim, family, _ = self._family(store)
        running_child, queued_child, grandchild = family
        outcome = store.cancel_run(running_child.id, "stop", 4.0)
        assert outcome.finished == (running_child.id, grandchild.id)
        statuses = [v.status for v in store.get_runs([parent.id, queued_child.id])]
        assert statuses == [RunStatus.RUNNING, RunStatus.QUEUED]
        assert store.complete(parent_claim.task_run_id, parent_claim.token, {}, 5.0).accepted

    def test_cancel_run_of_an_unknown_id_raises_run_not_found(self, store: RunStore) -> None:
        with pytest.raises(RunNotFoundError, match="no-such-run"):
            store.cancel_run("no-such-run", "stop", 0.0)

    # ------------------------------------------------------------ snapshot and workers

    def test_snapshot_lists_workers_alive_by_their_lease(self, store: RunStore) -> None:
        one = WorkerInfo(WORKER, "one", {SlotPool.DEFAULT: 2}, ("single",))
        two = WorkerInfo(
            OTHER_WORKER, "two", {SlotPool.DEFAULT: 1, SlotPool.DURABLE: 5}, ("single", "x")
        )
        store.register_worker(one, 0.0, 30.0)
        store.register_worker(two, 0.0, 10.0)
        assert _workers(store, just_before(10.0)) == {
            WORKER: (one, 30.0, True),
            OTHER_WORKER: (two, 10.0, True),
        }
        assert _workers(store, 10.0) == {WORKER: (one, 30.0, True)}
        store.heartbeat(OTHER_WORKER, 10.0, 30.0)
        assert _workers(store, 10.0) == {
            WORKER: (one, 30.0, True),
            OTHER_WORKER: (two, 40.0, True),
        }
        assert _workers(store, 40.0) == {}

    def test_stop_worker_marks_it_not_accepting(self, store: RunStore) -> None:
        info = WorkerInfo(WORKER, "one", {SlotPool.DEFAULT: 2}, ("single",))
        store.register_worker(info, 0.0, 30.0)
        store.stop_worker(WORKER)
        assert _workers(store, 1.0) == {WORKER: (info, 30.0, False)}

    def test_snapshot_lists_held_tasks_with_the_runs_they_wait_on(self, store: RunStore) -> None:
        parent = create_run(store, single_spec("parent", durable=True), 0.0)
        claim = _only(claim_all(store, ["parent"], 1.0, pool=SlotPool.DURABLE))
        child = single_spec("child", slot_cost=2)
        kids = created(store, [run_request(child), run_request(child)], 2.0, claim.task_run_id)
        store.set_waiting(claim.task_run_id, [kid.id for kid in kids])
        snapshot = store.snapshot(3.0)
        assert snapshot.now == 3.0
        assert snapshot.held == (
            HeldTask(
                claim.task_run_id,
                parent.id,
                "parent",
                "t",
                SlotPool.DURABLE,
                1,
                WORKER,
                (kids[0].id, kids[1].id),
            ),
        )
        assert _queued(snapshot.queued) == {
            kid.tasks["t"].id: QueuedTask(
                kid.tasks["t"].id, kid.id, "child", "t", SlotPool.DEFAULT, 2, 2.0
            )
            for kid in kids
        }
        assert snapshot.run_status == {
            parent.id: RunStatus.RUNNING,
            kids[0].id: RunStatus.QUEUED,
            kids[1].id: RunStatus.QUEUED,
        }
        # a new record replaces the old one
        store.set_waiting(claim.task_run_id, [kids[1].id])
        assert store.snapshot(3.0).held[0].waiting_on == (kids[1].id,)
        store.complete(claim.task_run_id, claim.token, {}, 4.0)
        assert store.snapshot(4.0).held == ()

    def test_snapshot_lists_retries_in_backoff_with_their_ready_time(self, store: RunStore) -> None:
        view = create_run(store, single_spec(retries=1, backoff_factor=2.0), 0.0)
        claim = _only(claim_all(store, ["single"], 0.0))
        store.fail(claim.task_run_id, claim.token, task_error(), False, 1.0)
        ready_at = 1.0 + rules.backoff_delay(1, 2.0, None)
        snapshot = store.snapshot(1.0)
        assert snapshot.queued == (
            QueuedTask(claim.task_run_id, view.id, "single", "t", SlotPool.DEFAULT, 1, ready_at),
        )
        assert (snapshot.held, snapshot.run_status) == ((), {view.id: RunStatus.RUNNING})

    def test_snapshot_reports_the_status_of_awaited_runs(self, store: RunStore) -> None:
        done = create_run(store, single_spec(), 0.0)
        claim = _only(claim_all(store, ["single"], 0.0))
        store.complete(claim.task_run_id, claim.token, {}, 1.0)
        snapshot = store.snapshot(2.0, awaited=[done.id])
        assert (snapshot.held, snapshot.queued) == ((), ())
        assert snapshot.run_status == {done.id: RunStatus.COMPLETED}

    def test_set_waiting_on_a_task_run_not_held_is_ignored(self, store: RunStore) -> None:
        view = create_run(store, single_spec(), 0.0)
        other = create_run(store, single_spec("other"), 0.0)
        store.set_waiting(view.tasks["t"].id, [other.id])
        claim = _only(claim_all(store, ["single"], 1.0))
        (held,) = store.snapshot(1.0).held
        assert (held.task_run_id, held.waiting_on) == (claim.task_run_id, ())

    # ------------------------------------------------------------ next wakeup

    def test_next_wakeup_is_none_when_nothing_waits_on_time(self, store: RunStore) -> None:
        assert store.next_wakeup(0.0) is None
        create_run(store, single_spec(), 0.0)
        claim = _only(claim_all(store, ["single"], 1.0))
        store.complete(claim.task_run_id, claim.token, {}, 2.0)
        assert store.next_wakeup(2.0) is None

    def test_next_wakeup_is_the_earliest_backoff_deadline_or_lease(self, store: RunStore) -> None:
        spec = single_spec(retries=1, backoff_factor=8.0, schedule_timeout=300.0)
        _, backing_off = created(store, [run_request(spec), run_request(spec)], 0.0)
        first, second = claim_all(store, ["single"], 0.0, lease=100.0)
        assert store.next_wakeup(0.0) == 100.0  # the leases
        store.fail(second.task_run_id, second.token, task_error(), False, 1.0)
        ready_at = 1.0 + rules.backoff_delay(1, 8.0, None)
        assert store.next_wakeup(1.0) == ready_at == 9.0  # the backoff
        queued = create_run(store, spec, 2.0)
        assert store.next_wakeup(2.0) == ready_at
        retry = _only(claim_all(store, ["single"], ready_at, lease=100.0, free=1))
        assert retry.run_id == backing_off.id
        assert store.next_wakeup(ready_at) == 100.0  # the first lease
        store.complete(first.task_run_id, first.token, {}, 10.0)
        assert store.next_wakeup(10.0) == ready_at + 100.0  # the retry's lease
        store.complete(retry.task_run_id, retry.token, {}, 11.0)
        assert store.next_wakeup(11.0) == rules.schedule_deadline(2.0, 300.0)  # the deadline
        claim = _only(claim_all(store, ["single"], 12.0, lease=5.0))
        assert claim.run_id == queued.id
        assert store.next_wakeup(12.0) == 17.0

    def test_close_ends_a_wait_for_change_in_progress(self, store: RunStore) -> None:
        """The engine closes its store, then joins the thread waiting here: a wait that ran
        out its timeout would add the timeout to every shutdown."""
        store.wait_for_change(0.0)  # a first wait may only start listening, and return
        waiting = threading.Thread(target=store.wait_for_change, args=(30.0,), daemon=True)
        waiting.start()
        time.sleep(0.05)  # inside the wait (not required: a wait begun after close ends too)
        closing = time.monotonic()
        store.close()
        waiting.join(timeout=5.0)
        took = time.monotonic() - closing
        assert not waiting.is_alive() and took < 5.0, (
            f"wait_for_change(30) ended {took:.1f} s after close() began"
        )


def _workers(store: RunStore, now: float) -> dict[str, tuple[WorkerInfo, float, bool]]:
    return {
        w.info.id: (w.info, w.lease_expires_at, w.accepting) for w in store.snapshot(now).workers
    }


def _queued(queued: Sequence[QueuedTask]) -> dict[str, QueuedTask]:
    return {task.task_run_id: task for task in queued}
