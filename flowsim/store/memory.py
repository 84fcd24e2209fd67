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
from collections.abc import Iterable
from dataclasses import dataclass, field

from flowsim import rules
from flowsim.deadlines import DeadlineQueue
from flowsim.errors import RunNotFoundError, TaskRunError
from flowsim.rules import RunStatus, SlotPool
from flowsim.store import conditions as cond
from flowsim.store.dag import advance, start_task
from flowsim.store.failures import decide, schedule_timeout_reason
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


@dataclass(slots=True)
class Transition:
    """What one store call changed, for the engine to act on: runs that reached a terminal
    status (wake their waiters), task runs newly queued (dispatch), retry times (timers)."""

    finished: list[WorkflowRun] = field(default_factory=list)
    queued: int = 0
    retry_at: list[float] = field(default_factory=list)
    #: durable waits (``aio_wait_for``) whose conditions fired: their results are ready
    signals: list[str] = field(default_factory=list)

    def merge(self, other: Transition) -> None:
        self.finished.extend(other.finished)
        self.queued += other.queued
        self.retry_at.extend(other.retry_at)
        self.signals.extend(other.signals)


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
        self._sequence = itertools.count()
        prefix = uuid.uuid4().hex
        self._id_prefix = f"{prefix[:8]}-{prefix[8:12]}-4{prefix[13:16]}-8{prefix[17:20]}-"
        self._ids = itertools.count(1)
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
            )
            self.runs[run.id] = run
            if spawn_key is not None:
                self._children[spawn_key] = run
            ready_at = item.run_at if item.run_at is not None and item.run_at > now else now
            for name in run.spec.roots:
                if run.spec.tasks[name].conditions:
                    started = self._start_with_conditions(run, name, now, ready_at)
                    if started is not None:
                        transition.merge(started)
                        continue
                self._create_task(run, name, now, run.priority, ready_at)
                if ready_at > now:
                    transition.retry_at.append(ready_at)
                else:
                    transition.queued += 1
            created.append(run)
        return created, transition

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
        held: bool = False,
    ) -> TaskRun:
        """Queue a new task run; with a later ``ready_at`` (a scheduled run's root task) it
        waits as a retry waits out its backoff, and its schedule clock starts then. A
        ``held`` one stays QUEUED but unclaimable until its conditions decide."""
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
        if task_run.ready_at > now:
            self._wait_until_ready(task_run)
        else:
            self._enqueue(task_run, now)
        return task_run

    def _wait_until_ready(self, task_run: TaskRun) -> None:
        entry = (task_run.ready_at, task_run.sequence, task_run, task_run.sequence)
        heapq.heappush(self._backoff, entry)

    def _enqueue(self, task_run: TaskRun, now: float) -> None:
        key = rules.claim_key(task_run.priority, task_run.sequence)
        queue = self._queues.setdefault((task_run.workflow_run.spec.name, task_run.spec.pool), [])
        heapq.heappush(queue, (key[0], key[1], task_run))
        # keyed by the queueing's sequence: a retried or reclaimed task run gets a new one,
        # which retires the deadline of its earlier wait in the queue
        self._deadlines.push(task_run.spec.schedule_timeout, now, task_run, task_run.sequence)

    # ------------------------------------------------------------ claiming

    def claim(
        self, workflows: Iterable[str], pool: SlotPool, free: int, worker_id: str, now: float
    ) -> list[TaskRun]:
        """Take up to ``free`` slots' worth of queued task runs of the given workflows, in
        claim order, and mark them RUNNING on ``worker_id``."""
        queues = [q for name in workflows if (q := self._queues.get((name, pool)))]
        claimed: list[TaskRun] = []
        while free > 0 and queues:
            queue = queues[0] if len(queues) == 1 else min(queues, key=lambda q: q[0][:2])
            task_run = queue[0][2]
            if task_run.spec.slot_cost > free:
                break
            heapq.heappop(queue)
            if not queue:
                queues.remove(queue)
            free -= task_run.spec.slot_cost
            self._start(task_run, worker_id, now)
            claimed.append(task_run)
        return claimed

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
        return self._advance(task_run.workflow_run, now)

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
            return self._advance(task_run.workflow_run, now)
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

    def cancel_task(self, task_run: TaskRun, reason: str, now: float) -> Transition:
        self.waits.discard(task_run.id)
        task_run.status = RunStatus.CANCELLED
        task_run.error = TaskRunError(reason, "CancelledError", "", task_run.id)
        if task_run.attempts and task_run.attempts[-1].finished_at is None:
            task_run.attempts[-1].finished_at = now
            task_run.attempts[-1].outcome = "CANCELLED"
        self._drop_from_queue(task_run)
        return self._advance(task_run.workflow_run, now)

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
                step = self.cancel_task(task_run, reason, now)
                transition.finished.extend(step.finished)
                transition.queued += step.queued
        return cancelled, transition

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
        self._enqueue(task_run, now)
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
        return self._fire(self.waits.on_event(key, payload, additional_metadata, now), now)

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
        return self._fire(self.waits.on_time(now), now)

    def release_due_retries(self, now: float) -> Transition:
        """Queue the retries whose backoff has elapsed."""
        transition = Transition()
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
        times = [self._backoff[0][0]] if self._backoff else []
        sleep = self.waits.next_due()
        if sleep is not None:
            times.append(sleep)
        return min(times, default=None)

    def next_schedule_deadline(self) -> float | None:
        return self._deadlines.next_due()

    def expire_schedule_timeouts(self, now: float) -> Transition:
        """Cancel queued task runs that waited past their schedule timeout (Hatchet:
        SCHEDULING_TIMED_OUT, cancelled, not retried)."""
        transition = Transition()
        for task_run in self._deadlines.pop_expired(now):
            reason = schedule_timeout_reason(task_run.spec.schedule_timeout)
            step = self.cancel_task(task_run, reason, now)
            transition.finished.extend(step.finished)
            transition.queued += step.queued
        return transition
