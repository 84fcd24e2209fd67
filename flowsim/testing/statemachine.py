"""A differential test: drive the reference store and another store with the same calls.

``make_parity_machine(store_factory)`` builds a hypothesis ``RuleBasedStateMachine`` that
creates runs (roots, and children of held task runs, sometimes keyed, spawned again when a
task body re-runs), claims with random workers, pools and free slots, completes and fails
(sometimes with a stale token), heartbeats, moves one manual clock (by random steps, to the
next wakeup and to the last instant before it), expires, cancels and records waits, on
``ReferenceStore`` and on the store under test alike. Every call's result is compared, and
after every step so is everything observable: each run (status, tasks, retry counts,
outputs, error type names, attempts), the snapshot and the next wakeup. Ids differ between
the stores, so the machine maps them by creation order (runs) and by name within a run
(task runs); tokens need only increase per task run, so each store's own are kept.

Run it from a test, with a factory that opens a fresh, migrated store per example::

    import itertools
    from hypothesis.stateful import run_state_machine_as_test
    from flowsim.testing.statemachine import make_parity_machine, parity_settings

    def test_parity(tmp_path):
        numbers = itertools.count()
        machine = make_parity_machine(lambda: open_my_store(tmp_path / f"{next(numbers)}.db"))
        run_state_machine_as_test(machine, settings=parity_settings(50, 40))

A discrepancy raises ``ParityError`` (an ``AssertionError``) naming the call and the first
difference; hypothesis then prints the shortest sequence of steps it found.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Sequence
from typing import Any

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from flowsim.errors import InvalidInputError, TaskRunError
from flowsim.idempotency import STATUS, TTL, Collision, IdempotencyRule
from flowsim.rate_limits import RateLimitSpec
from flowsim.rules import ConcurrencyStrategy, RunStatus, SlotPool
from flowsim.store.conditions import Action, ConditionSpec
from flowsim.store.cron_records import StoredCron
from flowsim.store.dag import replayed_tasks, unmet_parent
from flowsim.store.event_filters import FilterChange, StoredFilter
from flowsim.store.protocol import (
    Claim,
    Completion,
    Outcome,
    RunRequest,
    RunStore,
    RunView,
    Snapshot,
    WorkerInfo,
)
from flowsim.store.records import ConcurrencyLimit, TaskSpec, WorkflowSpec
from flowsim.store.reference import ReferenceStore
from flowsim.testing.contract import (
    canonical_views,
    diamond_spec,
    first_difference,
    single_spec,
    task_spec,
    workflow_spec,
)
from flowsim.testing.contract_concurrency import limited
from flowsim.testing.contract_conditions import event, parent, sleep

__all__ = ["WORKFLOWS", "ParityError", "make_parity_machine"]


def _limit(key: str, max_runs: int, strategy: ConcurrencyStrategy) -> ConcurrencyLimit:
    return ConcurrencyLimit(key, max_runs, strategy)


def _with(task: TaskSpec, *conditions: ConditionSpec) -> TaskSpec:
    return dataclasses.replace(task, conditions=conditions)


#: the workflows the machine runs: retries with and without backoff, a DAG, a durable
#: task, a task costing two slots; short schedule timeouts so that they fire. Four have
#: concurrency limits: two places for all its runs (waiting, admission, a waiting run's
#: schedule deadline), one place that the newest run takes (cancelling the
#: running holder), a DAG whose runs a newcomer cannot join while one runs, with one
#: place for its last task across runs, and one place whose queue keeps only the newest
#: run waiting (cancelling the one it replaces)
WORKFLOWS: dict[str, WorkflowSpec] = {
    spec.name: spec
    for spec in (
        single_spec(
            "single", retries=2, backoff_factor=2.0, backoff_max_seconds=8.0, schedule_timeout=40.0
        ),
        diamond_spec("diamond", retries=1, schedule_timeout=60.0),
        single_spec("durable", durable=True, retries=1, schedule_timeout=20.0),
        workflow_spec(
            "heavy",
            task_spec("big", slot_cost=2, retries=1, backoff_factor=1.5, schedule_timeout=30.0),
            task_spec("after", parents=("big",), schedule_timeout=30.0),
        ),
        # a static key the machine puts (or not), and a dynamic one per tenant (a run
        # without a tenant waits for a key that is never created)
        single_spec(
            "limited",
            retries=1,
            schedule_timeout=30.0,
            rate_limits=(
                RateLimitSpec("api", False, 1, None, 0.0),
                RateLimitSpec("additional_metadata.tenant", True, 1, 2, 5.0),
            ),
        ),
        limited(
            single_spec("throttled", retries=1, schedule_timeout=30.0),
            _limit("'all'", 2, ConcurrencyStrategy.GROUP_ROUND_ROBIN),
        ),
        limited(
            single_spec("newest", retries=1, schedule_timeout=60.0),
            _limit("'newest'", 1, ConcurrencyStrategy.CANCEL_IN_PROGRESS),
            task="t",
        ),
        limited(
            single_spec("debounced", retries=1, schedule_timeout=60.0),
            _limit("'latest'", 1, ConcurrencyStrategy.CANCEL_QUEUED_EXCEPT_NEWEST),
        ),
        limited(
            limited(
                diamond_spec("exclusive", schedule_timeout=60.0),
                _limit("'one'", 1, ConcurrencyStrategy.GROUP_ROUND_ROBIN),
                task="d",
            ),
            _limit("'dag'", 1, ConcurrencyStrategy.CANCEL_NEWEST),
        ),
        # conditions: a task waiting for a sleep or an event unless an event skips it or
        # its parent's output cancels it, and a root held for an event and a sleep
        WorkflowSpec(
            "gated",
            {
                "start": task_spec("start", schedule_timeout=30.0),
                "target": _with(
                    task_spec("target", parents=("start",), schedule_timeout=30.0),
                    sleep(10.0, group=0),
                    event("go", group=0),
                    event("skip", Action.SKIP, group=1),
                    parent("start", "output.value > 7", Action.CANCEL, group=2),
                ),
                "after": task_spec("after", parents=("target",), schedule_timeout=30.0),
            },
        ),
        # an on-failure task, created when a task fails and re-armed by a replay
        workflow_spec(
            "guarded",
            task_spec("first", retries=1, schedule_timeout=30.0),
            task_spec("then", parents=("first",), schedule_timeout=30.0),
            task_spec("handler", on_failure=True, schedule_timeout=30.0),
        ),
        WorkflowSpec(
            "rooted",
            {"root": _with(task_spec("root"), event("go", group=0), sleep(5.0, group=1))},
        ),
        # idempotency keys: one a run holds until it ends (or for 60 s), one held for 4 s
        dataclasses.replace(
            single_spec("once", retries=1, schedule_timeout=30.0),
            idempotency=IdempotencyRule("'once'", 60.0, STATUS),
        ),
        dataclasses.replace(
            single_spec("spaced", schedule_timeout=30.0),
            idempotency=IdempotencyRule("'spaced'", 4.0, TTL),
        ),
    )
}
#: the event keys a push may use (``other`` satisfies nothing)
EVENT_KEYS = ("go", "skip", "other")
WORKERS = ("w1", "w2")
CHILD_KEYS = (None, None, "k0", "k1")
LEASES = (5.0, 10.0)
#: most claims are for the pool most tasks use
POOLS = (SlotPool.DEFAULT, SlotPool.DEFAULT, SlotPool.DEFAULT, SlotPool.DURABLE)
STEPS = (0.5, 1.0, 2.0, 5.0, 10.0, 25.0)
EXC_TYPES = ("ValueError", "KeyError", "TimeoutError")
#: a result with a stale token one time in three
STALE = st.sampled_from((False, False, True))
#: runs beyond this make every step slower without finding more
MAX_RUNS = 40


class ParityError(AssertionError):
    """The store under test and the reference disagree."""


#: the workflow ids event filters are made for
FILTER_WORKFLOWS = ("00000000-0000-5000-8000-00000000000a", "00000000-0000-5000-8000-00000000000b")


def _answer(operation: Callable[..., object], *args: Any) -> object:
    """What a filter or cron operation returned, or why it refused."""
    try:
        return operation(*args)
    except InvalidInputError as exc:
        return f"refused: {exc}"


StoreFactory = Callable[[], RunStore]


#: the workflows above whose runs ``replay`` replays: all but those with conditions
#: (rate limits, concurrency limits and on-failure tasks are fine)
REPLAYABLE = frozenset({
    "single", "durable", "limited", "diamond", "heavy", "guarded", "throttled", "newest",
    "debounced", "exclusive",
})  # fmt: skip


def parity_settings(max_examples: int, stateful_step_count: int) -> settings:
    """Hypothesis settings for running the parity machine against a real store: no
    deadline (a step's time depends on the disk or the server, not on the code), the same
    examples on every run and no example database (a CI failure reproduces locally, and
    nothing is written next to the tests), and no complaint about slow or filtered data.
    Only the size is the caller's: how many examples its store can afford."""
    return settings(
        max_examples=max_examples,
        stateful_step_count=stateful_step_count,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
    )


def make_parity_machine(
    store_factory: StoreFactory, reference_factory: StoreFactory = ReferenceStore
) -> type[RuleBasedStateMachine]:
    """A state machine comparing ``store_factory()``'s stores with the reference's; each
    example opens a fresh pair (the factory must return a fresh, migrated store) and
    closes it at the end."""

    class ParityMachine(RuleBasedStateMachine):
        def __init__(self) -> None:
            super().__init__()
            self.ref = reference_factory()
            self.other = store_factory()
            self.stores = (self.ref, self.other)
            self.now = 0.0
            #: (reference id, other id) of every run, in creation order
            self.runs: list[tuple[str, str]] = []
            #: reference id -> the store's id, runs and task runs alike, and back
            self.run_ids: dict[str, str] = {}
            self.task_ids: dict[str, str] = {}
            self.ref_ids: dict[str, str] = {}
            #: reference task run id -> the (reference, other) token of each claim
            self.tokens: dict[str, list[tuple[int, int]]] = {}
            self.views: list[RunView] = []
            #: reference task run id -> the batches of children it spawned
            self.spawned: dict[str, list[list[RunRequest]]] = {}
            #: the store's ``finished_since`` cursor, and every run it has reported ended
            self.finish_cursor = self.other.finished_since(None).cursor
            self.reported_ended: set[str] = set()

        def teardown(self) -> None:
            self.ref.close()
            self.other.close()

        # -------------------------------------------------------- id mapping

        def _map(self, mapping: dict[str, str], ref_id: str, other_id: str, what: str) -> None:
            """Pair a reference id with the store's; the same object must keep its id and
            two objects must not share one."""
            known = mapping.get(ref_id)
            if known is None:
                if other_id in self.ref_ids:
                    raise ParityError(
                        f"{what}: the store returned existing id {other_id!r} for a new object"
                    )
                mapping[ref_id] = other_id
                self.ref_ids[other_id] = ref_id
            elif known != other_id:
                raise ParityError(f"{what}: the store returned id {other_id!r}, not {known!r}")

        def _to_ref(self, other_id: str | None) -> str | None:
            if other_id is None:
                return None
            return self.ref_ids.get(other_id, f"<unmapped {other_id}>")

        def _run_pair(self, index: int) -> tuple[str, str]:
            return self.runs[index % len(self.runs)]

        def _held(self) -> list[str]:
            """Reference ids of the task runs RUNNING now, in a reproducible order."""
            return [
                task.id
                for view in self.views
                for task in view.tasks.values()
                if task.status is RunStatus.RUNNING
            ]

        # -------------------------------------------------------- comparisons

        def _same_views(self, what: str, ref: Sequence[RunView], other: Sequence[RunView]) -> None:
            left = canonical_views(ref, messages=False)
            right = canonical_views(other, messages=False)
            difference = first_difference(left, right)
            if difference is not None:
                raise ParityError(f"{what}: runs differ (reference vs store) at {difference}")

        def _same_outcome(self, what: str, ref: Outcome, other: Outcome) -> None:
            left = (ref.accepted, sorted(ref.finished), ref.queued)
            right = (
                other.accepted,
                sorted(str(self._to_ref(run_id)) for run_id in other.finished),
                other.queued,
            )
            if left != right:
                raise ParityError(
                    f"{what}: outcomes differ (accepted, finished, queued): "
                    f"reference {left} != store {right}"
                )

        def _claim_form(self, claim: Claim, translate: bool) -> dict[str, Any]:
            def ids(value: str | None) -> str | None:
                return self._to_ref(value) if translate else value

            return {
                "task_run_id": ids(claim.task_run_id),
                "run_id": ids(claim.run_id),
                "workflow": claim.workflow,
                "task": claim.task,
                "pool": str(claim.pool),
                "slot_cost": claim.slot_cost,
                "retry_count": claim.retry_count,
                "input": claim.input,
                "additional_metadata": claim.additional_metadata,
                "parent_outputs": claim.parent_outputs,
                "parent_run_id": ids(claim.parent_run_id),
                "lease_expires_at": claim.lease_expires_at,
            }

        def _snapshot_form(self, snapshot: Snapshot, translate: bool) -> dict[str, Any]:
            def ids(value: str) -> str:
                return str(self._to_ref(value)) if translate else value

            held = sorted(
                (
                    ids(h.task_run_id),
                    ids(h.run_id),
                    h.workflow,
                    h.task,
                    str(h.pool),
                    h.slot_cost,
                    h.worker_id,
                    tuple(ids(w) for w in h.waiting_on),
                )
                for h in snapshot.held
            )
            queued = sorted(
                (
                    ids(q.task_run_id),
                    ids(q.run_id),
                    q.workflow,
                    q.task,
                    str(q.pool),
                    q.slot_cost,
                    q.ready_at,
                )
                for q in snapshot.queued
            )
            workers = sorted(
                (
                    w.info.id,
                    w.info.name,
                    sorted((str(pool), slots) for pool, slots in w.info.capacity.items()),
                    tuple(w.info.workflows),
                    w.lease_expires_at,
                    w.accepting,
                )
                for w in snapshot.workers
            )
            status = sorted((ids(run_id), str(s)) for run_id, s in snapshot.run_status.items())
            return {
                "now": snapshot.now,
                "workers": workers,
                "held": held,
                "queued": queued,
                "run_status": status,
            }

        def _target(self, data: st.DataObject, stale: bool) -> str:
            """A task run to report a result for: a held one with its current token mostly,
            else any task run ever claimed (finished, re-queued or reclaimed since)."""
            held = [task for task in self._held() if task in self.tokens]
            choices = held if held and not stale else list(self.tokens)
            return data.draw(st.sampled_from(choices), label="task run")

        def _token_of(self, ref_task: str, stale: bool) -> tuple[int, int]:
            history = self.tokens[ref_task]
            if not stale:
                return history[-1]
            if len(history) > 1:
                return history[-2]
            ref_token, other_token = history[-1]
            return ref_token - 1, other_token - 1

        # -------------------------------------------------------- rules

        @initialize()
        def register_workers(self) -> None:
            for worker in WORKERS:
                info = WorkerInfo(
                    worker,
                    f"worker {worker}",
                    {SlotPool.DEFAULT: 4, SlotPool.DURABLE: 4},
                    tuple(WORKFLOWS),
                )
                self.ref.register_worker(info, self.now, 20.0)
                self.other.register_worker(info, self.now, 20.0)

        def _create(self, requests: list[RunRequest], parent: str | None, what: str) -> None:
            other_parent = self.task_ids[parent] if parent is not None else None
            ref_answers = self.ref.create_runs(requests, self.now, parent)
            other_answers = self.other.create_runs(requests, self.now, other_parent)
            if len(ref_answers) != len(other_answers):
                raise ParityError(f"{what}: {len(ref_answers)} runs != {len(other_answers)} runs")
            ref_views, other_views = self._without_collisions(what, ref_answers, other_answers)
            for ref_view, other_view in zip(ref_views, other_views, strict=True):
                if ref_view.id not in self.run_ids:
                    self.runs.append((ref_view.id, other_view.id))
                self._map(self.run_ids, ref_view.id, other_view.id, f"{what}: run")
                for name, task in ref_view.tasks.items():
                    if name in other_view.tasks:
                        self._map(self.task_ids, task.id, other_view.tasks[name].id, what)
            self._same_views(what, ref_views, other_views)

        def _without_collisions(
            self,
            what: str,
            ref_answers: list[RunView | Collision],
            other_answers: list[RunView | Collision],
        ) -> tuple[list[RunView], list[RunView]]:
            """The created runs' views of both stores, after checking that the same requests
            collided on the same keys with the same (mapped) holders."""
            pairs = list(zip(ref_answers, other_answers, strict=True))
            created = [
                (r, o) for r, o in pairs if isinstance(r, RunView) and isinstance(o, RunView)
            ]
            ids = {**self.run_ids, **{r.id: o.id for r, o in created}}  # a holder may be new
            for ref, other in pairs:
                if isinstance(ref, RunView) and isinstance(other, RunView):
                    continue
                same = (
                    isinstance(ref, Collision)
                    and isinstance(other, Collision)
                    and (ref.workflow, ref.key) == (other.workflow, other.key)
                    and ids.get(ref.holder) == other.holder
                )
                if not same:
                    raise ParityError(f"{what}: {ref!r} != {other!r}")
            return [r for r, _ in created], [o for _, o in created]

        @precondition(lambda self: len(self.runs) < MAX_RUNS)
        @rule(
            items=st.lists(
                st.tuples(
                    st.sampled_from(sorted(WORKFLOWS)),
                    st.integers(1, 3),
                    st.sampled_from([{}, {"tenant": "a"}, {"tenant": "b", "n": 1}]),
                ),
                min_size=1,
                max_size=2,
            )
        )
        def create_roots(self, items: list[tuple[str, int, dict[str, Any]]]) -> None:
            requests = [
                RunRequest(WORKFLOWS[name], {"n": index}, metadata, priority)
                for index, (name, priority, metadata) in enumerate(items)
            ]
            self._create(requests, None, "create_runs (roots)")

        @precondition(lambda self: len(self.runs) < MAX_RUNS and bool(self._held()))
        @rule(
            data=st.data(),
            items=st.lists(
                st.tuples(
                    st.sampled_from(sorted(WORKFLOWS)),
                    st.sampled_from(CHILD_KEYS),
                    st.sampled_from([{}, {"tenant": "child"}]),
                ),
                min_size=1,
                max_size=3,
            ),
        )
        def spawn_children(
            self, data: st.DataObject, items: list[tuple[str, str | None, dict[str, Any]]]
        ) -> None:
            parent = data.draw(st.sampled_from(self._held()), label="parent task run")
            requests = [
                RunRequest(WORKFLOWS[name], {"child": index}, metadata, 2, key)
                for index, (name, key, metadata) in enumerate(items)
            ]
            self._create(requests, parent, "create_runs (children)")
            self.spawned.setdefault(parent, []).append(requests)

        @precondition(lambda self: any(task in self.spawned for task in self._held()))
        @rule(data=st.data())
        def respawn(self, data: st.DataObject) -> None:
            """A task body running again (after a retry or a reclaim) spawns what it spawned
            before: the store must hand back the same children."""
            parent = data.draw(
                st.sampled_from([task for task in self._held() if task in self.spawned]),
                label="parent task run",
            )
            for requests in self.spawned[parent]:
                self._create(requests, parent, "create_runs (children spawned again)")

        @rule(
            worker=st.sampled_from(WORKERS),
            pool=st.sampled_from(POOLS),
            workflows=st.one_of(
                st.just(sorted(WORKFLOWS)),
                st.lists(st.sampled_from(sorted(WORKFLOWS)), unique=True, max_size=4),
            ),
            free=st.integers(0, 4),
            lease=st.sampled_from(LEASES),
        )
        def claim(
            self, worker: str, pool: SlotPool, workflows: list[str], free: int, lease: float
        ) -> None:
            self._claim(worker, pool, workflows, free, lease)

        @rule(worker=st.sampled_from(WORKERS), lease=st.sampled_from(LEASES))
        def claim_default(self, worker: str, lease: float) -> None:
            """What a busy worker does most: claim default slots of every workflow (a rule
            of its own so that claims are frequent enough to reach retries and reclaims)."""
            self._claim(worker, SlotPool.DEFAULT, sorted(WORKFLOWS), 3, lease)

        def _claim(
            self, worker: str, pool: SlotPool, workflows: list[str], free: int, lease: float
        ) -> None:
            what = f"claim({worker!r}, {workflows}, {pool}, free={free}, now={self.now})"
            ref_claims = self.ref.claim(worker, workflows, pool, free, self.now, lease)
            other_claims = self.other.claim(worker, workflows, pool, free, self.now, lease)
            left = [self._claim_form(c, translate=False) for c in ref_claims]
            right = [self._claim_form(c, translate=True) for c in other_claims]
            difference = first_difference(left, right)
            if difference is not None:
                raise ParityError(f"{what} returned different claims at {difference}")
            for ref_claim, other_claim in zip(ref_claims, other_claims, strict=True):
                history = self.tokens.setdefault(ref_claim.task_run_id, [])
                if history and other_claim.token <= history[-1][1]:
                    raise ParityError(
                        f"{what}: token {other_claim.token} of a reclaimed task run does not "
                        f"exceed its earlier token {history[-1][1]}"
                    )
                history.append((ref_claim.token, other_claim.token))

        @rule(worker=st.sampled_from(WORKERS))
        def run_guarded_to_its_on_failure_task(self, worker: str) -> None:
            """A ``guarded`` run taken straight to its end through its on-failure task (its
            first task fails, the on-failure task completes), so that replays meet one:
            the random rules alone seldom get a run that far. Every step is compared."""
            self._create([RunRequest(WORKFLOWS["guarded"], {"n": 0}, {}, 1)], None,
                         "create_runs (guarded)")  # fmt: skip
            ref_id, other_id = self.runs[-1]
            for name, failing in (("first", True), ("handler", False)):
                self._claim(worker, SlotPool.DEFAULT, ["guarded"], 3, LEASES[1])
                task = self.ref.get_runs([ref_id])[0].tasks.get(name)
                if task is None or task.status is not RunStatus.RUNNING:
                    return  # another guarded run was claimed first: enough for this step
                ref_token, other_token = self.tokens[task.id][-1]
                other_task = self.task_ids[task.id]
                what = f"run_guarded_to_its_on_failure_task: {name} (now={self.now})"
                if failing:
                    error = TaskRunError("injected", "ValueError", "trace", task.id)
                    other_error = TaskRunError("injected", "ValueError", "trace", other_task)
                    ref = self.ref.fail(task.id, ref_token, error, True, self.now)
                    other = self.other.fail(other_task, other_token, other_error, True, self.now)
                else:
                    output = {"handled": True}
                    ref = self.ref.complete(task.id, ref_token, output, self.now)
                    other = self.other.complete(other_task, other_token, output, self.now)
                self._same_outcome(what, ref, other)
                (ref_view,) = self.ref.get_runs([ref_id])
                (other_view,) = self.other.get_runs([other_id])
                for task_name, created in ref_view.tasks.items():  # the on-failure task
                    if task_name in other_view.tasks:
                        self._map(self.task_ids, created.id, other_view.tasks[task_name].id, what)

        @precondition(lambda self: bool(self.tokens))
        @rule(data=st.data(), stale=STALE, value=st.integers(0, 9))
        def complete(self, data: st.DataObject, stale: bool, value: int) -> None:
            task = self._target(data, stale)
            ref_token, other_token = self._token_of(task, stale)
            what = f"complete(stale={stale}, now={self.now})"
            output = {"value": value, "at": self.now}
            self._same_outcome(
                what,
                self.ref.complete(task, ref_token, output, self.now),
                self.other.complete(self.task_ids[task], other_token, output, self.now),
            )

        @precondition(lambda self: bool(self.tokens))
        @rule(data=st.data(), stales=st.lists(STALE, min_size=1, max_size=4))
        def complete_many(self, data: st.DataObject, stales: list[bool]) -> None:
            """The store's ``complete_many`` against the reference's ``complete`` of each
            item in turn: a batch may mix stale tokens, repeats and DAG tasks."""
            ref_items: list[Completion] = []
            other_items: list[Completion] = []
            for position, stale in enumerate(stales):
                task = self._target(data, stale)
                ref_token, other_token = self._token_of(task, stale)
                output = {"value": position, "at": self.now}
                ref_items.append(Completion(task, ref_token, output))
                other_items.append(Completion(self.task_ids[task], other_token, output))
            ref = [self.ref.complete(i.task_run_id, i.token, i.output, self.now) for i in ref_items]
            other = self.other.complete_many(other_items, self.now)
            assert len(other) == len(other_items), "complete_many: one outcome per item"
            for position, (left, right) in enumerate(zip(ref, other, strict=True)):
                what = f"complete_many item {position} (stales={stales}, now={self.now})"
                self._same_outcome(what, left, right)

        @precondition(lambda self: bool(self.tokens))
        @rule(
            data=st.data(),
            stale=STALE,
            non_retryable=st.sampled_from((False, False, False, True)),
            exc_type=st.sampled_from(EXC_TYPES),
            # RetryAfterException's delay: half the time none (the backoff); 0 retries at once
            retry_after=st.sampled_from((None, 3.0, None, 0.0)),
        )
        def fail(
            self,
            data: st.DataObject,
            stale: bool,
            non_retryable: bool,
            exc_type: str,
            retry_after: float | None,
        ) -> None:
            task = self._target(data, stale)
            ref_token, other_token = self._token_of(task, stale)
            other_task = self.task_ids[task]
            what = (
                f"fail(stale={stale}, non_retryable={non_retryable}, retry_after={retry_after}, "
                f"now={self.now})"
            )
            self._same_outcome(
                what,
                self.ref.fail(
                    task,
                    ref_token,
                    TaskRunError("injected", exc_type, "trace", task),
                    non_retryable,
                    self.now,
                    retry_after,
                ),
                self.other.fail(
                    other_task,
                    other_token,
                    TaskRunError("injected", exc_type, "trace", other_task),
                    non_retryable,
                    self.now,
                    retry_after,
                ),
            )

        @rule(worker=st.sampled_from(WORKERS), lease=st.sampled_from(LEASES))
        def heartbeat(self, worker: str, lease: float) -> None:
            self.ref.heartbeat(worker, self.now, lease)
            self.other.heartbeat(worker, self.now, lease)

        @rule(worker=st.sampled_from(WORKERS))
        def stop_worker(self, worker: str) -> None:
            self.ref.stop_worker(worker)
            self.other.stop_worker(worker)

        @rule(step=st.sampled_from((*STEPS, "wakeup", "just before wakeup")))
        def advance(self, step: float | str) -> None:
            """Move the clock by a step, or exactly to (or to the last instant before) the
            reference's next wakeup, where the boundaries are."""
            if isinstance(step, float):
                self.now += step
                return
            wakeup = self._future_wakeup()
            if wakeup is None:
                self.now += STEPS[0]
            elif step == "wakeup":
                self.now = wakeup
            else:
                self.now = max(self.now, math.nextafter(wakeup, -math.inf))

        def _future_wakeup(self) -> float | None:
            wakeup = self.ref.next_wakeup(self.now)
            return wakeup if wakeup is not None and wakeup > self.now else None

        @precondition(lambda self: self._future_wakeup() is not None)
        @rule(worker=st.sampled_from(WORKERS))
        def claim_just_before_wakeup(self, worker: str) -> None:
            """Probe the boundary: at the last instant before a backoff ends or a deadline
            or lease passes, nothing of it may have happened yet."""
            wakeup = self._future_wakeup()
            assert wakeup is not None
            self.now = max(self.now, math.nextafter(wakeup, -math.inf))
            self._claim(worker, SlotPool.DEFAULT, sorted(WORKFLOWS), 3, LEASES[0])

        @rule(limit=st.integers(0, 3), window=st.sampled_from((2.0, 5.0)))
        def put_rate_limit(self, limit: int, window: float) -> None:
            self._same_outcome(
                f"put_rate_limit('api', {limit}, {window}, now={self.now})",
                self.ref.put_rate_limit("api", limit, window, self.now),
                self.other.put_rate_limit("api", limit, window, self.now),
            )

        @rule()
        def expire(self) -> None:
            self._same_outcome(
                f"expire(now={self.now})", self.ref.expire(self.now), self.other.expire(self.now)
            )

        @precondition(lambda self: self._future_wakeup() is not None)
        @rule()
        def wake(self) -> None:
            """A worker's timer: sleep until the next wakeup, then expire (as the engine does;
            a rule of its own so that boundaries are met often)."""
            wakeup = self._future_wakeup()
            assert wakeup is not None
            self.now = wakeup
            self.expire()

        @rule(key=st.sampled_from(EVENT_KEYS), value=st.integers(0, 2))
        def push_event(self, key: str, value: int) -> None:
            payload = {"value": value}
            self._same_outcome(
                f"push_event({key!r}, now={self.now})",
                self.ref.push_event(key, payload, {}, self.now),
                self.other.push_event(key, payload, {}, self.now),
            )

        @rule(
            number=st.integers(0, 3),
            workflow=st.sampled_from(FILTER_WORKFLOWS),
            scope=st.sampled_from(("s1", "s2")),
            payload=st.sampled_from(({}, {"a": 1}, {"b": [1, None]})),
            action=st.sampled_from(("create", "update", "delete")),
        )
        def change_filters(
            self, number: int, workflow: str, scope: str, payload: dict[str, Any], action: str
        ) -> None:
            """Event filters (``hatchet.filters``): the same change, refused or not, in
            both stores, then the same listing of a workflow, a scope and all of them."""
            filter_id = f"00000000-0000-4000-8000-{number:012d}"
            wanted = StoredFilter(filter_id, workflow, scope, "true", payload, self.now, self.now)
            if action == "create":
                results = [_answer(store.create_filter, wanted) for store in self.stores]
            elif action == "update":
                change = FilterChange(scope=scope, payload=payload)
                results = [_answer(store.update_filter, filter_id, change, self.now)
                           for store in self.stores]  # fmt: skip
            else:
                results = [_answer(store.delete_filter, filter_id) for store in self.stores]
            what = f"{action}_filter({filter_id}, {workflow}, {scope}, {payload})"
            if results[0] != results[1]:
                raise ParityError(f"{what}: reference {results[0]} != store {results[1]}")
            selections: list[tuple[list[str] | None, list[str] | None]] = [
                (None, None), ([workflow], None), (None, [scope])
            ]  # fmt: skip
            for workflows, scopes in selections:
                ref, other = [
                    store.list_filters(workflows, scopes, 100, 0) for store in self.stores
                ]
                if ref != other:
                    raise ParityError(
                        f"list_filters({workflows}, {scopes}) after {what}: reference {ref} != "
                        f"store {other}"
                    )

        @rule(
            number=st.integers(0, 3),
            workflow=st.sampled_from(("wa", "wb")),
            name=st.sampled_from(("n1", "n2")),
            expression=st.sampled_from(("* * * * *", "0 * * * *")),
            delete=st.booleans(),
        )
        def change_crons(
            self, number: int, workflow: str, name: str, expression: str, delete: bool
        ) -> None:
            """Crons (``hatchet.cron``): the same creation or deletion, refused or not, in
            both stores, then the same crons listed."""
            cron_id = f"00000000-0000-4000-8000-{number:012d}"
            if delete:
                what = f"delete_cron({cron_id})"
                results = [_answer(store.delete_cron, cron_id) for store in self.stores]
            else:
                metadata = {"n": number}
                wanted = StoredCron(cron_id, workflow, name, expression, {}, metadata, 1, self.now)
                what = f"create_cron({cron_id}, {workflow}, {name}, {expression!r})"
                results = [_answer(store.create_cron, wanted) for store in self.stores]
            if results[0] != results[1]:
                raise ParityError(f"{what}: reference {results[0]} != store {results[1]}")
            ref, other = [store.list_crons() for store in self.stores]
            if ref != other:
                raise ParityError(f"list_crons() after {what}: reference {ref} != store {other}")

        @precondition(lambda self: bool(self.runs))
        @rule(index=st.integers(0, MAX_RUNS))
        def cancel_run(self, index: int) -> None:
            ref_id, other_id = self._run_pair(index)
            self._same_outcome(
                f"cancel_run(now={self.now})",
                self.ref.cancel_run(ref_id, "cancelled by the test", self.now),
                self.other.cancel_run(other_id, "cancelled by the test", self.now),
            )

        def _replayable(self) -> list[RunView]:
            """Reference views of the runs flowsim replays (no concurrency limit, no
            conditions, no on-failure task: ``flowsim.engine.run_replay``) whose DAG is all
            created, ended or not."""
            return [
                view
                for view in self.views
                if view.workflow in REPLAYABLE
                and set(WORKFLOWS[view.workflow].parents) <= set(view.tasks)
            ]

        @precondition(lambda self: bool(self._replayable()))
        @rule(data=st.data())
        def replay(self, data: st.DataObject) -> None:
            """``hatchet.runs.replay`` of a run (every task) or of one task and what is
            downstream of it, as the engine asks it: ended task runs are queued again
            (those with a replayed parent once it completes again), others left alone."""
            view = data.draw(st.sampled_from(self._replayable()), label="replayed run")
            spec = WORKFLOWS[view.workflow]
            start = data.draw(st.sampled_from([None, *spec.parents]), label="replayed task")
            names = replayed_tasks(spec, start, view.tasks)
            statuses = {name: task.status for name, task in view.tasks.items()}
            if not all(statuses[name].is_terminal for name in names):
                return  # the engine leaves a run in progress alone (engine.run_replay)
            if unmet_parent(spec, names, statuses) is not None:
                return  # the engine refuses it: that task could never run again
            tasks = [task.id for name, task in view.tasks.items() if name in names]
            self._same_outcome(
                f"replay_tasks({sorted(names)}, now={self.now})",
                self.ref.replay_tasks(tasks, self.now),
                self.other.replay_tasks([self.task_ids[task] for task in tasks], self.now),
            )
            if not self.ref.get_runs([view.id])[0].status.is_terminal:
                self.reported_ended.discard(view.id)  # it ends again later, reported again

        @precondition(lambda self: bool(self._held()))
        @rule(data=st.data(), indexes=st.lists(st.integers(0, MAX_RUNS), max_size=3))
        def set_waiting(self, data: st.DataObject, indexes: list[int]) -> None:
            task = data.draw(st.sampled_from(self._held()), label="waiting task run")
            pairs = [self._run_pair(index) for index in indexes]
            self.ref.set_waiting(task, [ref for ref, _ in pairs])
            self.other.set_waiting(self.task_ids[task], [other for _, other in pairs])

        # -------------------------------------------------------- what must stay equal

        @invariant()
        def finished_since_reports_every_ended_run(self) -> None:
            """Read from cursor to cursor, ``finished_since`` has named exactly the runs
            that are terminal (ids may repeat, none may be missing or still running)."""
            found = self.other.finished_since(self.finish_cursor)
            self.finish_cursor = found.cursor
            self.reported_ended.update(str(self._to_ref(run_id)) for run_id in found.run_ids)
            ended = {
                ref
                for ref, view in zip(
                    [ref for ref, _ in self.runs],
                    self.ref.get_runs([ref for ref, _ in self.runs]),
                    strict=True,
                )
                if view.status.is_terminal
            }
            if self.reported_ended != ended:
                raise ParityError(
                    f"finished_since(now={self.now}) reported {sorted(self.reported_ended)}, "
                    f"the runs that ended are {sorted(ended)}"
                )

        @invariant()
        def same_observable_state(self) -> None:
            ref_views = self.ref.get_runs([ref for ref, _ in self.runs])
            other_views = self.other.get_runs([other for _, other in self.runs])
            for ref_view, other_view in zip(ref_views, other_views, strict=True):
                for name, task in ref_view.tasks.items():
                    if name in other_view.tasks:
                        self._map(self.task_ids, task.id, other_view.tasks[name].id, name)
            self._same_views(f"after the step (now={self.now})", ref_views, other_views)
            self.views = ref_views
            awaited = self.runs[:5]
            left = self._snapshot_form(
                self.ref.snapshot(self.now, [ref for ref, _ in awaited]), translate=False
            )
            right = self._snapshot_form(
                self.other.snapshot(self.now, [other for _, other in awaited]), translate=True
            )
            difference = first_difference(left, right)
            if difference is not None:
                raise ParityError(f"snapshot(now={self.now}) differs at {difference}")
            ref_wakeup = self._clamped(self.ref.next_wakeup(self.now))
            other_wakeup = self._clamped(self.other.next_wakeup(self.now))
            if ref_wakeup != other_wakeup:
                raise ParityError(
                    f"next_wakeup(now={self.now}) differs (an instant passed counts as now): "
                    f"reference {ref_wakeup} != store {other_wakeup}"
                )

        def _clamped(self, wakeup: float | None) -> float | None:
            return None if wakeup is None else max(wakeup, self.now)

    ParityMachine.__name__ = ParityMachine.__qualname__ = "ParityMachine"
    return ParityMachine
