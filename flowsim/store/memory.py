"""The in-memory store: the default backend and the reference the SQL stores are held to.

It keeps runs in dicts and queued task runs in one heap per (workflow, slot pool), ordered
by ``rules.claim_key``. Every transition goes through ``flowsim.rules``; this module only
decides *where* things are kept. It is not thread-safe by itself: the engine serialises
calls under its lock, which keeps each call inline and cheap (no thread hops).
"""

from __future__ import annotations

import heapq
import itertools
import math
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from flowsim import concurrency, rules
from flowsim.deadlines import DeadlineQueue
from flowsim.errors import RunNotFoundError, TaskRunError
from flowsim.rules import RunStatus, SlotPool
from flowsim.store import conditions as cond
from flowsim.store.dag import advance, start_task
from flowsim.store.durable_log import EVICTED, PARKED_UNTIL, DurableStep, StepLog, check_parking
from flowsim.store.failures import decide, schedule_timeout_reason
from flowsim.store.placement_filter import ClaimFilter
from flowsim.store.places import Places
from flowsim.store.rate_parking import RateLimitParking
from flowsim.store.records import JSON, Attempt, TaskRun, WorkflowRun, WorkflowSpec
from flowsim.store.waits import Fired, Wait, WaitBook


@dataclass(slots=True)
class NewRun:
    """One run to create: validated JSON input plus trigger options."""

    spec: WorkflowSpec
    input: JSON
    additional_metadata: dict[str, JSON]
    priority: int
    child_key: str | None = None
    run_at: float | None = None
    trigger_key: str | None = None
    #: a child triggered with ``sticky=True``: pinned to its spawner's worker
    sticky_worker: str | None = None


@dataclass(slots=True)
class Transition:
    """What one store call changed, for the engine to act on: runs that reached a terminal
    status (wake their waiters), task runs newly queued (dispatch), retry times (timers)."""

    finished: list[WorkflowRun] = field(default_factory=list)
    queued: int = 0
    retry_at: list[float] = field(default_factory=list)
    #: RUNNING task runs this call cancelled as a side effect (a concurrency strategy):
    #: the engine stops their attempts, a durable store fences their tokens
    cancelled: list[TaskRun] = field(default_factory=list)
    #: durable waits (``aio_wait_for``) whose conditions fired: their results are ready
    signals: list[str] = field(default_factory=list)

    def merge(self, other: Transition) -> Transition:
        self.finished.extend(other.finished)
        self.queued += other.queued
        self.retry_at.extend(other.retry_at)
        self.cancelled.extend(other.cancelled)
        self.signals.extend(other.signals)
        return self


QueueKey = tuple[str, SlotPool]
#: ``ready_at`` of a task run held by its conditions (as the SQL stores keep it)
HELD = math.inf


def _still_queued(task_run: TaskRun, sequence: int) -> bool:
    """A schedule deadline applies while the attempt it was set for is still queued."""
    return task_run.status is RunStatus.QUEUED and task_run.sequence == sequence


class MemoryStore:
    def __init__(self) -> None:
        self.runs: dict[str, WorkflowRun] = {}
        self.task_runs: dict[str, TaskRun] = {}
        self._queues: dict[QueueKey, list[tuple[int, int, TaskRun]]] = {}
        self._backoff: list[tuple[float, int, TaskRun, int]] = []
        self._deadlines: DeadlineQueue[TaskRun] = DeadlineQueue(_still_queued)
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
    ) -> tuple[list[WorkflowRun], Transition]:
        """Create runs atomically. A child is de-duplicated by (parent task, child_key or
        spawn index): spawning it again returns the run that exists."""
        created: list[WorkflowRun] = []
        transition = Transition()
        items = list(items)
        inherited = parent.workflow_run.additional_metadata if parent is not None else {}
        for item in items:  # a key no run can satisfy refuses the whole batch, before any write
            if item.spec.limited:
                given = {**inherited, **item.additional_metadata}
                concurrency.check_run(item.spec, item.input, given)
        for item in items:
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
            )
            self.runs[run.id] = run
            if spawn_key is not None:
                self._children[spawn_key] = run
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

    def _start_with_conditions(
        self, run: WorkflowRun, name: str, now: float, ready_at: float
    ) -> Transition | None:
        """A root task with conditions: held from its ready time (a scheduled run's
        ``run_at``) until they decide, or decided at once as a DAG task would be (None:
        queue it as any root)."""
        _, action, satisfied = start_task(run.spec, name, set(), dict)
        if action is cond.Action.QUEUE:
            return None
        task_run = self._create_task(run, name, now, run.priority, ready_at, held=True)
        if action is None:
            task_run.ready_at = HELD
            conditions = task_run.spec.conditions
            self.waits.add(Wait(task_run.id, conditions, ready_at, satisfied))
            due = cond.wake_at(conditions, ready_at, satisfied)
            return Transition(retry_at=[due] if due is not None else [])
        return self._resolve(task_run, action, now)

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
        spec = run.spec.tasks[name]
        task_run = TaskRun(
            id=self._new_id(),
            workflow_run=run,
            spec=spec,
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

    def _arrive_task(self, task_run: TaskRun, now: float) -> bool:
        """A task run with task-level concurrency arrives in its groups (True: it is the
        newcomer its strategy cancels)."""
        if not task_run.spec.concurrency:
            return False
        run = task_run.workflow_run
        gates = concurrency.task_gates(run.spec, task_run.name, run.input, run.additional_metadata)
        return self._arrive(task_run.id, gates, now, task_run.sequence)

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

    # ------------------------------------------------------------ concurrency

    def _blocked(self, task_run: TaskRun) -> bool:
        """A task run may be claimed only while its run and itself hold their places."""
        places = self._places
        return places.is_waiting(task_run.workflow_run.id) or places.is_waiting(task_run.id)

    def _arrive(
        self, unit: str, gates: tuple[concurrency.Gate, ...], now: float, seq: int | None = None
    ) -> bool:
        """A unit arrives (``concurrency.plan_arrival``): cancel the holders its strategy
        cancels, then hold or wait. Its arrival order is its task run's sequence, or for a
        run the next sequence, taken before its root task runs'. True when the newcomer
        itself is to be cancelled (the caller does that once its task runs exist)."""
        arrival = next(self._sequence) if seq is None else seq
        plan = self._places.arrive(gates)
        if plan.cancel_new:
            return True
        for holder in plan.cancel_holders:
            self._cancel_unit(holder, now)
        if plan.admit:
            self._places.hold(unit, gates, arrival)
        else:
            self._places.wait(unit, gates, arrival)
        return False

    def _cancel_unit(self, unit: str, now: float) -> None:
        """Cancel a run (and what it spawned, as ``cancel_run`` does) or one task run with
        Hatchet's concurrency reason; what that changes is this call's effect."""
        reason = rules.CONCURRENCY_CANCEL_REASON
        if unit in self.runs:
            _, step = self.cancel_family(unit, reason, now)
        else:
            step = self.cancel_task(self.task_runs[unit], reason, now)
        self._effects.merge(step)

    def _ended(self, task_run: TaskRun, now: float) -> Transition:
        """A task run reached a terminal status: advance its DAG and free the places it
        (and its run, if that ended) held. Whom that lets in is admitted once, when the
        whole operation is done (``_settle``), as the SQL stores do at commit."""
        run = task_run.workflow_run
        if not run.spec.limited:
            return self._advance(run, now)
        self._places.release(task_run.id)
        transition = self._advance(run, now)
        if run.status.is_terminal:
            self._places.release(run.id)
        return self._take_effects(transition)

    def _settle(self, transition: Transition) -> Transition:
        """The end of an operation: admit the units the places freed during it let in."""
        for unit in self._places.admit():
            self._unpark(unit)
        return self._take_effects(transition)

    def _unpark(self, unit: str) -> None:
        """A unit was admitted: its parked task runs join the claim queue, behind what is
        queued already (a fresh claim sequence, in admission order)."""
        run = self.runs.get(unit)
        candidates = list(run.tasks.values()) if run is not None else [self.task_runs[unit]]
        for task_run in candidates:
            if task_run.id in self._awaiting_place and not self._blocked(task_run):
                del self._awaiting_place[task_run.id]
                self._push(task_run, next(self._sequence))
                self._effects.queued += 1

    def _take_effects(self, transition: Transition) -> Transition:
        effects = self._effects
        if not (effects.finished or effects.queued or effects.cancelled or effects.retry_at):
            return transition  # the common case, on every result: nothing to move
        self._effects = Transition()
        return transition.merge(effects)

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
        self, task_run: TaskRun, error: TaskRunError, non_retryable: bool, now: float
    ) -> Transition:
        """Record a failed attempt; retry it per ``rules.decide_after_failure`` or end it."""
        attempt = task_run.attempts[-1]
        attempt.finished_at = now
        attempt.error = str(error)
        attempt.outcome = "FAILED"
        decision = decide(task_run.spec, task_run.retry_count, non_retryable, now)
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

    # ------------------------------------------------------------ durable tasks

    def durable_steps(self, task_run_id: str) -> list[DurableStep]:
        return self.steps.durable_steps(task_run_id)

    def record_steps(
        self, task_run_id: str, steps: Sequence[DurableStep]
    ) -> list[DurableStep]:
        return self.steps.record_steps(task_run_id, steps)

    def evict(
        self,
        task_run: TaskRun,
        resume_at: float | None,
        awaiting: tuple[str, ...],
        reason: str,
        now: float,
    ) -> Transition:
        """End the running attempt (outcome EVICTED, no retry consumed) and queue the task
        run again, claimable from ``resume_at`` or once every awaited run has ended
        (``flowsim.store.durable_log``)."""
        check_parking(resume_at, awaiting)
        attempt = task_run.attempts[-1]
        attempt.finished_at = now
        attempt.error = reason
        attempt.outcome = EVICTED
        task_run.status = RunStatus.QUEUED
        task_run.worker_id = None
        task_run.spawn_index = 0
        task_run.waiting_on.clear()
        task_run.sequence = next(self._sequence)
        task_run.enqueued_at = now
        if resume_at is None:
            task_run.ready_at = PARKED_UNTIL
            self._parked[task_run.id] = (task_run, task_run.sequence, awaiting)
            return self.release_parked(now)
        task_run.ready_at = max(resume_at, now)
        if task_run.ready_at <= now:
            self._enqueue(task_run, now)
            return Transition(queued=1)
        self._wait_until_ready(task_run)
        return Transition(retry_at=[task_run.ready_at])

    def release_parked(self, now: float) -> Transition:
        """Queue the evicted task runs whose awaited runs have all ended."""
        transition = Transition()
        for task_run_id, (task_run, sequence, awaiting) in list(self._parked.items()):
            if not _still_queued(task_run, sequence):
                del self._parked[task_run_id]  # cancelled meanwhile
            elif all(self.runs[run_id].status.is_terminal for run_id in awaiting):
                del self._parked[task_run_id]
                task_run.ready_at = now
                self._enqueue(task_run, now)
                transition.queued += 1
        return transition

    @property
    def has_parked(self) -> bool:
        return bool(self._parked)

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
        skipped = {name for name, task in run.tasks.items() if task.skipped}
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
        return transition

    # ------------------------------------------------------------ conditions

    @staticmethod
    def _mark_skipped(task_run: TaskRun) -> None:
        task_run.status = RunStatus.COMPLETED
        task_run.output = dict(cond.SKIPPED_OUTPUT)
        task_run.skipped = True

    def _resolve(self, task_run: TaskRun, action: cond.Action, now: float) -> Transition:
        """A held task's conditions fired: queue it (its schedule clock starts now), skip
        it, or cancel it (and so its downstream tasks)."""
        if action is cond.Action.SKIP:
            self._mark_skipped(task_run)
            return self._advance(task_run.workflow_run, now)
        if action is cond.Action.CANCEL:
            return self.cancel_task(task_run, cond.cancel_reason(task_run.name), now)
        task_run.sequence = next(self._sequence)
        task_run.enqueued_at = task_run.ready_at = now
        # a held task run arrives in its task-level concurrency groups when it is queued
        cancel_new = self._arrive_task(task_run, now)
        self._enqueue(task_run, now)
        if cancel_new:
            self._cancel_unit(task_run.id, now)
        return Transition(queued=1)

    def _fire(self, fired: Fired, now: float) -> Transition:
        transition = Transition()
        for wait, action in fired:
            if wait.id in self._durable_waits:
                self._wait_results[wait.id] = cond.wait_result(
                    wait.conditions, wait.satisfied, action
                )
                transition.signals.append(wait.id)
                continue
            task_run = self.task_runs[wait.id]
            if task_run.status is RunStatus.QUEUED:
                transition.merge(self._resolve(task_run, action, now))
        return transition

    def push_event(
        self, key: str, payload: JSON, additional_metadata: JSON, now: float
    ) -> Transition:
        """``hatchet.event.push``: satisfy the event conditions it passes and act on the
        waits that fire, oldest first."""
        return self._settle(
            self._fire(self.waits.on_event(key, payload, additional_metadata, now), now)
        )

    def open_wait(
        self,
        wait_id: str,
        task_run_id: str,
        conditions: tuple[cond.ConditionSpec, ...],
        now: float,
    ) -> Transition:
        """A durable task's ``aio_wait_for``: register the wait (once per ``wait_id``);
        ``wait_result`` has its result once it fired (now, or on a later event or time)."""
        if wait_id in self._durable_waits:
            return Transition()
        self._durable_waits[wait_id] = task_run_id
        wait = Wait(wait_id, conditions, now, cond.on_register(conditions, {}))
        action = cond.decide(conditions, wait.satisfied)
        if action is not None:
            return self._fire([(wait, action)], now)
        self.waits.add(wait)
        due = cond.wake_at(conditions, now, wait.satisfied)
        return Transition(retry_at=[due] if due is not None else [])

    def wait_result(self, wait_id: str) -> JSON:
        """A durable wait's result, None while it waits."""
        return self._wait_results.get(wait_id)

    # ------------------------------------------------------------ time-driven changes

    def fire_due_waits(self, now: float) -> Transition:
        """Act on the condition waits whose sleeps elapsed by ``now`` (time-driven, as
        ``expire`` is in a shared store; a claim does not do it)."""
        return self._settle(self._fire(self.waits.on_time(now), now))

    def release_due_retries(self, now: float) -> Transition:
        """Queue the retries whose backoff has elapsed, and the rate-limited task runs whose
        keys refilled."""
        transition = Transition(queued=self.rate_limits.release_due(now))
        while self._backoff and self._backoff[0][0] <= now:
            _, _, task_run, sequence = heapq.heappop(self._backoff)
            if _still_queued(task_run, sequence):
                # its schedule clock starts when it became claimable, however late we look
                self._enqueue(task_run, task_run.ready_at)
                transition.queued += 1
        return transition

    def next_retry_due(self) -> float | None:
        """When the earliest pending backoff ends (dropping retries that moved on) or a
        condition's sleep elapses."""
        while self._backoff and not _still_queued(self._backoff[0][2], self._backoff[0][3]):
            heapq.heappop(self._backoff)
        due = [self._backoff[0][0]] if self._backoff else []
        refill = self.rate_limits.next_due()
        if refill is not None:
            due.append(refill)
        sleep = self.waits.next_due()
        if sleep is not None:
            due.append(sleep)
        return min(due, default=None)

    def next_schedule_deadline(self) -> float | None:
        return self._deadlines.next_due()

    def expire_schedule_timeouts(self, now: float) -> Transition:
        """Cancel queued task runs that waited past their schedule timeout (Hatchet:
        SCHEDULING_TIMED_OUT, cancelled, not retried)."""
        transition = Transition()
        for task_run in self._deadlines.pop_expired(now):
            reason = schedule_timeout_reason(task_run.spec.schedule_timeout)
            transition.merge(self.cancel_task(task_run, reason, now))
        return self._settle(transition)
