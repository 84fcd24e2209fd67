"""The in-memory store's core: runs in dicts, queued task runs in one heap per (workflow,
slot pool) ordered by ``rules.claim_key``, and the operations every run goes through
(create, claim, complete, fail, cancel, advance the DAG).

Concurrency places, conditions, durable parking and time-driven changes are parts of their
own (``memory_concurrency``, ``memory_conditions``, ``memory_durable``, ``memory_timing``)
that ``flowsim.store.memory.MemoryStore`` puts together. They share this class's state,
which is all set up here, so one glance shows everything the store keeps; the hooks the
core calls into them are declared abstract at the end.
"""

from __future__ import annotations

import heapq
import itertools
import math
import uuid
from abc import ABC, abstractmethod
from collections.abc import Collection, Iterable

from flowsim import concurrency, idempotency, rules
from flowsim.deadlines import DeadlineQueue
from flowsim.errors import RunNotFoundError, TaskRunError
from flowsim.idempotency import Claim, Collision
from flowsim.rules import RunStatus, SlotPool
from flowsim.store import conditions as cond
from flowsim.store.cron_records import CronRecords
from flowsim.store.dag import advance, replay_now
from flowsim.store.durable_log import StepLog
from flowsim.store.event_filters import FilterTable
from flowsim.store.failures import decide
from flowsim.store.placement_filter import ClaimFilter
from flowsim.store.places import Places
from flowsim.store.rate_parking import RateLimitParking
from flowsim.store.records import JSON, Attempt, TaskRun, WorkflowRun
from flowsim.store.streams import StreamLog
from flowsim.store.transitions import NewRun, Transition
from flowsim.store.waits import Wait, WaitBook

QueueKey = tuple[str, SlotPool]
#: ``ready_at`` of a task run held by its conditions (as the SQL stores keep it)
HELD = math.inf


def still_queued(task_run: TaskRun, sequence: int) -> bool:
    """A schedule deadline applies while the attempt it was set for is still queued."""
    return task_run.status is RunStatus.QUEUED and task_run.sequence == sequence


class StoreCore(ABC):
    def __init__(self) -> None:
        self.runs: dict[str, WorkflowRun] = {}
        self.task_runs: dict[str, TaskRun] = {}
        self._queues: dict[QueueKey, list[tuple[int, int, TaskRun]]] = {}
        self._backoff: list[tuple[float, int, TaskRun, int]] = []
        self._deadlines: DeadlineQueue[TaskRun] = DeadlineQueue(still_queued)
        self._children: dict[str, WorkflowRun] = {}
        #: rate limit keys, and the queued task runs waiting for their units
        self.rate_limits = RateLimitParking(self._requeue)
        #: task runs the last claim returned to the queues (a dynamic key changed)
        self.released_after_claim = 0
        self._sequence = itertools.count()
        prefix = uuid.uuid4().hex
        self._id_prefix = f"{prefix[:8]}-{prefix[8:12]}-4{prefix[13:16]}-8{prefix[17:20]}-"
        self._ids = itertools.count(1)
        #: durable task runs' event logs, by task run id
        self.steps = StepLog()
        #: what tasks streamed (``ctx.put_stream``), by run id
        self.streams = StreamLog()
        #: event filters created at runtime (``hatchet.filters``)
        self.filters = FilterTable()
        #: crons created at runtime (``hatchet.cron.create``)
        self.crons = CronRecords()
        #: evicted task runs waiting for runs to end: task run id -> (task run, its
        #: queueing's sequence, the awaited run ids)
        self._parked: dict[str, tuple[TaskRun, int, tuple[str, ...]]] = {}
        #: concurrency: places held and waited for, task runs parked until their unit
        #: (run or task run) is admitted, and what concurrency did during the current call
        self._places = Places()
        self._awaiting_place: dict[str, TaskRun] = {}
        self._effects = Transition()
        #: held tasks (by task run id) and durable waits, until their conditions fire
        self.waits = WaitBook()
        self._durable_waits: dict[str, str] = {}
        self._wait_results: dict[str, JSON] = {}
        #: idempotency keys: key -> the run that claimed it last, and its claim
        self._idempotency: dict[str, tuple[str, Claim]] = {}

    # ------------------------------------------------------------ ids and lookups

    def use_sequential_ids(self) -> None:
        """Ids that depend only on creation order, so a simulation's trace is reproducible
        (call before the first run is created)."""
        self._id_prefix = "00000000-0000-4000-8000-"

    def _new_id(self) -> str:
        return f"{self._id_prefix}{next(self._ids):012x}"

    def get_run(self, run_id: str) -> WorkflowRun:
        try:
            return self.runs[run_id]
        except KeyError:
            raise RunNotFoundError(f"no workflow run with id {run_id!r} on this backend") from None

    def has_ready(self) -> bool:
        """Whether any task run waits in a claimable queue (not in backoff)."""
        return any(self._queues.values())

    # ------------------------------------------------------------ creating runs

    def create_runs(
        self, items: Iterable[NewRun], now: float, parent: TaskRun | None = None
    ) -> tuple[list[WorkflowRun | Collision], Transition]:
        """Create runs atomically. A child is de-duplicated by (parent task, child_key or
        spawn index): spawning it again returns the run that exists. A run whose
        idempotency key another run holds is not created: a ``Collision`` takes its place."""
        created: list[WorkflowRun | Collision] = []
        transition = Transition()
        items = list(items)
        inherited = parent.workflow_run.additional_metadata if parent is not None else {}
        concurrency.check_runs(items, inherited)  # a bad key refuses the whole batch
        claims = idempotency.claims_of(items, inherited, now)  # so does a bad idempotency key
        for item, claim in zip(items, claims, strict=True):
            spawn_key: str | None = None
            child_index: int | None = None
            metadata = item.additional_metadata
            if parent is not None:
                child_index = parent.spawn_index
                parent.spawn_index += 1
                spawn_key = rules.child_spawn_key(parent.id, item.child_key, child_index)
                existing = self._children.get(spawn_key)
                if existing is not None:
                    created.append(existing)
                    continue
                metadata = {**parent.workflow_run.additional_metadata, **metadata}
            elif item.trigger_key is not None:
                spawn_key = rules.trigger_spawn_key(item.trigger_key)
                existing = self._children.get(spawn_key)
                if existing is not None:
                    created.append(existing)
                    continue
            if claim is not None:
                collision = self._collision(item.spec.name, claim, now)
                if collision is not None:
                    created.append(collision)
                    continue
            run = WorkflowRun(
                id=self._new_id(),
                spec=item.spec,
                input=item.input,
                additional_metadata=metadata,
                priority=item.priority,
                created_at=now,
                parent_task_run_id=parent.id if parent is not None else None,
                parent_run_id=parent.workflow_run.id if parent is not None else None,
                child_key=item.child_key,
                child_index=child_index,
                sticky_worker=item.sticky_worker,
                triggering_event=item.triggering_event,
            )
            self.runs[run.id] = run
            if spawn_key is not None:
                self._children[spawn_key] = run
            if claim is not None:
                self._idempotency[claim.key] = (run.id, claim)
            ready_at = item.run_at if item.run_at is not None and item.run_at > now else now
            cancel_new = bool(run.spec.concurrency) and self._arrive(
                run.id, concurrency.run_gates(run.spec, run.input, metadata), now
            )
            for name in run.spec.roots:
                if run.spec.tasks[name].conditions:
                    started = self._start_with_conditions(run, name, now, ready_at)
                    if started is not None:
                        transition.merge(started)
                        continue
                self._create_task(run, name, now, run.priority, ready_at, not cancel_new)
                if ready_at > now:
                    transition.retry_at.append(ready_at)
                else:
                    transition.queued += 1
            if cancel_new:
                self._cancel_unit(run.id, now)
            created.append(run)
        return created, self._settle(transition)

    def _collision(self, workflow: str, claim: Claim, now: float) -> Collision | None:
        """The collision of a new run's claim with the run holding its key, if one does."""
        held = self._idempotency.get(claim.key)
        if held is None:
            return None
        holder, holding = held
        status = self.runs[holder].status if holder in self.runs else None
        stored = (holder, holding.expires_at, holding.until_end, status)
        return idempotency.collision(workflow, claim, stored, now)

    def _create_task(
        self,
        run: WorkflowRun,
        name: str,
        now: float,
        priority: int,
        ready_at: float | None = None,
        arrive: bool = True,
        held: bool = False,
    ) -> TaskRun:
        """Queue a new task run; with a later ``ready_at`` (a scheduled run's root task) it
        waits as a retry waits out its backoff, and its schedule clock starts then. With
        task-level concurrency it ``arrive``s in its groups first (not when it is created
        only to be cancelled). A ``held`` one stays QUEUED but unclaimable until its
        conditions decide (it arrives in its groups when they queue it)."""
        replayed = run.tasks.get(name)
        if replayed is not None and replayed.replay_pending:  # its parents completed again
            task_run = replayed
            self._requeue_replayed(task_run, priority, now)
        else:
            task_run = TaskRun(
                id=self._new_id(),
                workflow_run=run,
                spec=run.spec.tasks[name],
                sequence=next(self._sequence),
                priority=priority,
                enqueued_at=now,
                ready_at=now if ready_at is None else ready_at,
            )
            run.tasks[name] = task_run
            self.task_runs[task_run.id] = task_run
        if held:
            return task_run
        cancel_new = arrive and self._arrive_task(task_run, now)
        if task_run.ready_at > now:
            self._wait_until_ready(task_run)
        else:
            self._enqueue(task_run, now)
        if cancel_new:
            self._cancel_unit(task_run.id, now)
        return task_run

    def _wait_until_ready(self, task_run: TaskRun) -> None:
        entry = (task_run.ready_at, task_run.sequence, task_run, task_run.sequence)
        heapq.heappush(self._backoff, entry)

    def _enqueue(self, task_run: TaskRun, now: float) -> None:
        # keyed by the queueing's sequence: a retried or reclaimed task run gets a new one,
        # which retires the deadline of its earlier wait in the queue. A task run parked for
        # a concurrency place waits under the same deadline (Hatchet: schedule timeouts
        # apply in concurrency queues too)
        self._deadlines.push(task_run.spec.schedule_timeout, now, task_run, task_run.sequence)
        if task_run.workflow_run.spec.limited and self._blocked(task_run):
            self._awaiting_place[task_run.id] = task_run
            return
        self._push(task_run, task_run.sequence)

    def _push(self, task_run: TaskRun, sequence: int) -> None:
        key = rules.claim_key(task_run.priority, sequence)
        queue = self._queues.setdefault((task_run.workflow_run.spec.name, task_run.spec.pool), [])
        heapq.heappush(queue, (key[0], key[1], task_run))

    # ------------------------------------------------------------ claiming

    def claim(
        self,
        workflows: Iterable[str],
        pool: SlotPool,
        free: int,
        worker_id: str,
        now: float,
        placement: ClaimFilter | None = None,
    ) -> list[TaskRun]:
        """Take up to ``free`` slots' worth of queued task runs of the given workflows, in
        claim order, and mark them RUNNING on ``worker_id``. With a ``placement`` filter,
        task runs it does not admit are passed over and stay queued."""
        queues = [q for name in workflows if (q := self._queues.get((name, pool)))]
        claimed: list[TaskRun] = []
        passed: list[tuple[list[tuple[int, int, TaskRun]], tuple[int, int, TaskRun]]] = []
        while free > 0 and queues:
            queue = queues[0] if len(queues) == 1 else min(queues, key=lambda q: q[0][:2])
            task_run = queue[0][2]
            if placement is not None and not self._placed(placement, task_run, free):
                passed.append((queue, heapq.heappop(queue)))
                if not queue:
                    queues.remove(queue)
                if placement.exhausted:
                    break
                continue
            if task_run.spec.slot_cost > free:
                break
            heapq.heappop(queue)
            if not queue:
                queues.remove(queue)
            if task_run.spec.rate_limits and not self.rate_limits.admit(task_run, now):
                continue  # parked until its keys have the units; the next one may run
            free -= task_run.spec.slot_cost
            self._start(task_run, worker_id, now)
            claimed.append(task_run)
        for queue, entry in passed:
            heapq.heappush(queue, entry)
        self.released_after_claim = self.rate_limits.end_claim()
        return claimed

    @staticmethod
    def _placed(placement: ClaimFilter, task_run: TaskRun, free: int) -> bool:
        """Whether the filter lets this worker take the task run (pinning a sticky run to
        it); a task run that does not fit the free slots is "placed" so the claim stops."""
        run = task_run.workflow_run
        queued_at = max(task_run.ready_at, task_run.enqueued_at)
        if not placement.admit(run.spec, task_run.spec, run.id, queued_at):
            return False
        return task_run.spec.slot_cost > free or placement.take(run.spec, run.id)

    def _requeue(self, task_run: TaskRun) -> bool:
        """Put a parked task run back in its queue at its old place (same priority and
        sequence; its schedule deadline still runs), if it still waits there."""
        if task_run.status is not RunStatus.QUEUED or task_run.worker_id is not None:
            return False
        key = rules.claim_key(task_run.priority, task_run.sequence)
        queue = self._queues.setdefault((task_run.workflow_run.spec.name, task_run.spec.pool), [])
        heapq.heappush(queue, (key[0], key[1], task_run))
        return True

    def put_rate_limit(self, key: str, limit: int, window: float, now: float) -> Transition:
        """``hatchet.rate_limits.put``: runs that waited for this key may fit now."""
        return Transition(queued=self.rate_limits.put(key, limit, window, now))

    def _start(self, task_run: TaskRun, worker_id: str, now: float) -> None:
        task_run.status = RunStatus.RUNNING
        task_run.worker_id = worker_id
        queued_at = max(task_run.ready_at, task_run.enqueued_at)
        task_run.attempts.append(Attempt(task_run.attempt_number, worker_id, now, queued_at))
        run = task_run.workflow_run
        if run.status is RunStatus.QUEUED:
            run.status = RunStatus.RUNNING

    # ------------------------------------------------------------ outcomes

    def complete(self, task_run: TaskRun, output: JSON, now: float) -> Transition:
        task_run.status = RunStatus.COMPLETED
        task_run.output = output
        attempt = task_run.attempts[-1]
        attempt.finished_at = now
        attempt.outcome = "COMPLETED"
        return self._settle(self._ended(task_run, now))

    def fail(
        self,
        task_run: TaskRun,
        error: TaskRunError,
        non_retryable: bool,
        now: float,
        retry_after: float | None = None,
    ) -> Transition:
        """Record a failed attempt; retry it per ``rules.decide_after_failure`` or end it."""
        attempt = task_run.attempts[-1]
        attempt.finished_at = now
        attempt.error = str(error)
        attempt.outcome = "FAILED"
        decision = decide(
            task_run.spec, task_run.retry_count, non_retryable, now, retry_after,
            task_run.replay_base,
        )  # fmt: skip
        if not decision.retry:
            task_run.status = RunStatus.FAILED
            task_run.error = error
            return self._settle(self._ended(task_run, now))
        task_run.status = RunStatus.QUEUED
        task_run.worker_id = None
        task_run.retry_count = decision.retry_count
        task_run.spawn_index = 0
        task_run.priority = rules.RETRY_PRIORITY
        task_run.sequence = next(self._sequence)
        task_run.enqueued_at = now
        task_run.ready_at = decision.ready_at
        transition = Transition()
        if decision.ready_at <= now:
            self._enqueue(task_run, now)
            transition.queued = 1
        else:
            self._wait_until_ready(task_run)
            transition.retry_at.append(decision.ready_at)
        return transition

    def requeue_lost(self, task_run: TaskRun, reason: str, now: float) -> Transition:
        """The worker running ``task_run`` died and its lease expired: queue it again as a
        new attempt. No retry is consumed (the task did not fail), and the spawn index
        restarts, so a body that runs again re-attaches to the children it already spawned."""
        attempt = task_run.attempts[-1]
        attempt.finished_at = now
        attempt.error = reason
        attempt.outcome = "LOST"
        task_run.status = RunStatus.QUEUED
        task_run.worker_id = None
        task_run.spawn_index = 0
        task_run.waiting_on.clear()
        task_run.sequence = next(self._sequence)
        task_run.enqueued_at = task_run.ready_at = now
        self._enqueue(task_run, now)
        return Transition(queued=1)

    def replay(self, task_runs: Iterable[TaskRun], now: float) -> Transition:
        """``replay_run`` of the task runs that ended, run by run in the order first named
        (a task run not ended is left alone)."""
        by_run: dict[str, tuple[WorkflowRun, set[str]]] = {}
        for task_run in task_runs:
            run = task_run.workflow_run
            names = by_run.setdefault(run.id, (run, set()))[1]
            if task_run.status.is_terminal:
                names.add(task_run.name)
        transition = Transition()
        for run, names in by_run.values():
            if names:
                transition.merge(self.replay_run(run, names, now))
        return transition

    def replay_run(self, run: WorkflowRun, names: Collection[str], now: float) -> Transition:
        """Hatchet's replay of ended task runs of ``run`` (``flowsim.engine.run_replay``
        chooses them): each is queued again under its id as its next retry, with its whole
        retry budget back, its output and error gone and spawn index 0 (a body that runs
        again re-attaches to the children it spawned), at once if no DAG parent of it is
        replayed, else when its parents complete again (``dag.replay_now``). The run is
        no longer ended: RUNNING if any task run of it ever started (as a SQL store reads
        a run with an attempt), else QUEUED.

        With concurrency limits the replay arrives in its groups as a newcomer, as Hatchet
        evaluates the keys of a replayed task again: the run (if it had ended, and so
        left its workflow-level places) and each task run queued at once with task-level
        limits; it holds a place, waits for one, or is cancelled as its strategy says
        (``_arrive``). A task run queued later, when its parents complete, arrives then."""
        now_names = replay_now(run.spec, names)
        for name in names:
            run.tasks[name].replay_pending = name not in now_names
        started = any(task.attempts for task in run.tasks.values())
        run.status = RunStatus.RUNNING if started else RunStatus.QUEUED
        run.finished_at = None
        cancel_run = (
            bool(run.spec.concurrency)
            and not self._places.is_placed(run.id)
            and self._arrive(
                run.id, concurrency.run_gates(run.spec, run.input, run.additional_metadata), now
            )
        )
        for name in now_names:
            task_run = run.tasks[name]
            self._requeue_replayed(task_run, rules.RETRY_PRIORITY, now)
            cancel_task = not cancel_run and self._arrive_task(task_run, now)
            self._enqueue(task_run, now)
            if cancel_task:
                self._cancel_unit(task_run.id, now)
        if cancel_run:
            self._cancel_unit(run.id, now)
        return self._settle(Transition(queued=len(now_names)))

    def _requeue_replayed(self, task_run: TaskRun, priority: int, now: float) -> None:
        """A replayed task run's state as it is queued again (not yet enqueued)."""
        task_run.status = RunStatus.QUEUED
        task_run.worker_id = None
        task_run.output = None
        task_run.error = None
        task_run.skipped = False
        task_run.replay_pending = False
        task_run.retry_count += 1
        task_run.replay_base = task_run.retry_count
        task_run.spawn_index = 0
        task_run.priority = priority
        task_run.sequence = next(self._sequence)
        task_run.enqueued_at = task_run.ready_at = now

    # ------------------------------------------------------------ cancelling

    def cancel_task(self, task_run: TaskRun, reason: str, now: float) -> Transition:
        was_running = task_run.status is RunStatus.RUNNING
        self.waits.discard(task_run.id)
        task_run.status = RunStatus.CANCELLED
        task_run.error = TaskRunError(reason, "CancelledError", "", task_run.id)
        if task_run.attempts and task_run.attempts[-1].finished_at is None:
            task_run.attempts[-1].finished_at = now
            task_run.attempts[-1].outcome = "CANCELLED"
        self._drop_from_queue(task_run)
        self._awaiting_place.pop(task_run.id, None)
        transition = self._ended(task_run, now)
        if was_running:
            transition.cancelled.append(task_run)
        return transition

    def family(self, run_id: str) -> list[WorkflowRun]:
        """The run and every run spawned below it (children, their children, ...), oldest
        first: what cancelling the run cancels. ``RunNotFoundError`` names an unknown id."""
        root = self.get_run(run_id)
        members = {root.id}
        tree = [root]
        for run in self.runs.values():  # creation order: a parent precedes its children
            if run.parent_run_id in members:
                members.add(run.id)
                tree.append(run)
        return tree

    def cancel_family(
        self, run_id: str, reason: str, now: float
    ) -> tuple[list[TaskRun], Transition]:
        """Cancel every non-terminal task run of the run and of the runs spawned below it,
        run by run, oldest first: the task runs cancelled, and what changed."""
        cancelled: list[TaskRun] = []
        transition = Transition()
        for run in self.family(run_id):
            for task_run in list(run.tasks.values()):
                if task_run.status.is_terminal:
                    continue
                cancelled.append(task_run)
                transition.merge(self.cancel_task(task_run, reason, now))
        return cancelled, self._settle(transition)

    def _drop_from_queue(self, task_run: TaskRun) -> None:
        queue = self._queues.get((task_run.workflow_run.spec.name, task_run.spec.pool))
        if queue is None:
            return
        for index, entry in enumerate(queue):
            if entry[2] is task_run:
                queue[index] = queue[-1]
                queue.pop()
                heapq.heapify(queue)
                return

    def _advance(self, run: WorkflowRun, now: float) -> Transition:
        """Move a DAG forward after a task reached a terminal status: cancel what can no
        longer run, create what became ready, and roll the run's status up."""
        transition = Transition()
        if len(run.tasks) == 1 and len(run.spec.tasks) == 1:  # the common single-task run
            (only,) = run.tasks.values()
            if only.status.is_terminal and not run.status.is_terminal:
                run.status = only.status
                run.finished_at = now
                transition.finished.append(run)
            return transition
        skipped = {
            name for name, task in run.tasks.items() if task.skipped and not task.replay_pending
        }
        step = advance(
            run.spec,
            run.statuses(),
            run.status.is_terminal,
            skipped,
            lambda: {name: task.output for name, task in run.tasks.items()},
        )
        held = dict(step.held)
        skip = set(step.skipped)
        for name, state in step.created:
            hold = name in held or name in skip or state is RunStatus.CANCELLED
            task_run = self._create_task(run, name, now, run.priority, held=hold)
            if state is RunStatus.CANCELLED:
                task_run.status = RunStatus.CANCELLED
                if name in step.cancelled:
                    reason = cond.cancel_reason(name)
                    task_run.error = TaskRunError(reason, "CancelledError", "", task_run.id)
            elif name in skip:
                self._mark_skipped(task_run)
            elif name in held:
                satisfied = held[name]
                task_run.ready_at = HELD
                self.waits.add(Wait(task_run.id, task_run.spec.conditions, now, satisfied))
                due = cond.wake_at(task_run.spec.conditions, now, satisfied)
                if due is not None:
                    transition.retry_at.append(due)
            else:
                transition.queued += 1
        if step.finished is not None:
            run.status = step.finished
            run.finished_at = now
            transition.finished.append(run)
            for task_run in run.tasks.values():  # it settles its replay (flowsim.store.dag)
                task_run.replay_pending = False
        return transition

    # ------------------------------------------------------------ parts' hooks

    @abstractmethod
    def _arrive_task(self, task_run: TaskRun, now: float) -> bool:
        """``flowsim.store.memory_concurrency``."""

    @abstractmethod
    def _blocked(self, task_run: TaskRun) -> bool:
        """``flowsim.store.memory_concurrency``."""

    @abstractmethod
    def _arrive(
        self, unit: str, gates: tuple[concurrency.Gate, ...], now: float, seq: int | None = None
    ) -> bool:
        """``flowsim.store.memory_concurrency``."""

    @abstractmethod
    def _cancel_unit(self, unit: str, now: float) -> None:
        """``flowsim.store.memory_concurrency``."""

    @abstractmethod
    def _ended(self, task_run: TaskRun, now: float) -> Transition:
        """``flowsim.store.memory_concurrency``."""

    @abstractmethod
    def _settle(self, transition: Transition) -> Transition:
        """``flowsim.store.memory_concurrency``."""

    @abstractmethod
    def _start_with_conditions(
        self, run: WorkflowRun, name: str, now: float, ready_at: float
    ) -> Transition | None:
        """``flowsim.store.memory_conditions``."""

    @staticmethod
    @abstractmethod
    def _mark_skipped(task_run: TaskRun) -> None:
        """``flowsim.store.memory_conditions``."""
