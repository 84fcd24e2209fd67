"""The engine: one per backend URL, the in-process stand-in for Hatchet's server.

It owns the store, the running workers and the callers waiting on runs. All execution
happens on one event loop (the *engine loop*): the loop of the first worker started with
``async with``/``start()``, or a background thread for ``with worker:``. Callers on other
threads or loops reach it through thread-safe hand-offs; callers on the engine loop itself
take the inline path, which is what makes fan-out fast (no thread hop per run).

Nothing here polls. Queued work is dispatched when a run is queued or a slot frees; waiters
are woken by the transition that finishes their run; timers come from the injected clock;
the deadlock analysis runs when a worker's slots are all held by waiting runs.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import functools
import itertools
import threading
from collections.abc import Awaitable, Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from flowsim import concurrency, idempotency, rules
from flowsim.clock import Clock, SystemClock
from flowsim.deadlines import DeadlineQueue
from flowsim.engine.changes import Generation
from flowsim.engine.conditions import ConditionWaits
from flowsim.engine.crons import CronTable, CronTrigger, DeclaresCrons, stored_trigger
from flowsim.engine.eviction import Evictions
from flowsim.engine.missing import MissingTask
from flowsim.engine.placing import claim_filter, has_placement_rules, placed
from flowsim.engine.rate_inputs import check_rate_limit_inputs
from flowsim.engine.replay import Replay
from flowsim.engine.run_replay import replay_targets
from flowsim.engine.runtime import AttemptState, Registrable, WorkerRuntime
from flowsim.engine.timers import EarliestTimer
from flowsim.engine.waiting import CURRENT_ATTEMPT, Waiting
from flowsim.errors import (
    BlockingCallError,
    NonDeterminismError,
    NonRetryableException,
    RetryAfterException,
    SlotDeadlockError,
    StaleAttemptError,
    TaskRunError,
    UnknownWorkflowError,
    WorkflowDefinitionError,
)
from flowsim.idempotency import Collision
from flowsim.placement import check_labels
from flowsim.rules import RunStatus, SlotPool
from flowsim.store.cron_records import CronStore
from flowsim.store.durable_log import DurableLogStore, StepKind
from flowsim.store.event_filters import FilterStore
from flowsim.store.memory import MemoryStore
from flowsim.store.protocol import RunView, StreamChunk
from flowsim.store.records import JSON, TaskRun, WorkflowRun, WorkflowSpec
from flowsim.store.reference import run_view
from flowsim.store.transitions import NewRun, Transition

T = TypeVar("T")

#: runs created per store call by a bulk trigger (hatchet_sdk's
#: ``MAX_BULK_WORKFLOW_RUN_BATCH_SIZE``: it sends ``run_many`` in such chunks)
BULK_BATCH = 1000


#: Failures that another attempt cannot fix, so they are never retried.
_NOT_RETRYABLE = (
    NonDeterminismError,  # a retry replays the same log and diverges again
    NonRetryableException,
    SlotDeadlockError,
    UnknownWorkflowError,
    WorkflowDefinitionError,
)


def _attempt_live(attempt: AttemptState, version: int) -> bool:
    return not attempt.finished and attempt.deadline_version == version


def _cancel_task(task: asyncio.Task[None]) -> None:
    task.cancel()


def _run_id_of(run: WorkflowRun | Collision) -> Callable[[], JSON]:
    """A spawn step's data: the child's run id, or the run holding the idempotency key
    that kept the child from being created (the step keeps the log's positions; a replay
    triggers that child again)."""
    if isinstance(run, Collision):
        return lambda: {"idempotency_collision": run.holder}
    return lambda: {"run_id": run.id}


def _spawn_key(item: NewRun) -> str:
    """A child spawn's key in the event log: the workflow, and the child key if given."""
    name = item.spec.name
    return name if item.child_key is None else f"{name} (child key {item.child_key!r})"


def _nothing() -> None:
    """Posted only to wake the engine loop."""


class Engine(ConditionWaits, Waiting):
    def __init__(self, url: str, clock: Clock | None = None) -> None:
        super().__init__()
        self.url = url
        self.clock: Clock = clock or SystemClock()
        self.store = MemoryStore()
        self._lock = threading.RLock()
        self._workers: dict[str, WorkerRuntime] = {}
        #: workflows with a run whose spec has placement rules its definition may lack
        #: (desired labels given on a trigger): their workers claim through the filter
        self._placed_workflows: set[str] = set()
        self._worker_ids = itertools.count(1)
        self._dispatch_pending = False
        self._dispatching = False
        self._schedule_timer = EarliestTimer(self.clock, lambda: self.post(self._expire_queued))
        self._exec_deadlines: DeadlineQueue[AttemptState] = DeadlineQueue(_attempt_live)
        self._exec_timer = EarliestTimer(self.clock, lambda: self.post(self._expire_attempts))
        self._retry_timer = EarliestTimer(self.clock, lambda: self.post(self._release_retries))
        #: a task run left to a better-placed worker is claimable by any once its patience
        #: ends (``flowsim.placement``): look again then
        self._placement_timer = EarliestTimer(self.clock, lambda: self.post(self._patience_ended))
        #: run sync task functions on the loop instead of a thread (virtual time has no
        #: threads); their duration is then zero unless the simulation gives them one
        self.inline_sync = False
        #: awaited before each attempt's body: the simulator's task durations and injected
        #: faults (None outside a simulation, which costs one attribute check per attempt)
        self.attempt_prelude: Callable[[AttemptState], Awaitable[None]] | None = None
        #: task runs of dead workers, queued again when their lease expires
        self._lost: dict[str, TaskRun] = {}
        #: workers announced to (re)start later, e.g. a simulated crashed worker's restart:
        #: while any is expected, no run is declared stuck for want of a slot or a worker
        self.workers_expected = 0
        self.closed = False
        #: cron triggers (``on_crons=``, ``wf.create_cron``), fired while a worker runs
        self.crons = CronTable(
            self.clock, self.post, lambda item: self.trigger([item]), self.on_loop_locked
        )
        #: waiting durable attempts, evicted by their eviction policy (flowsim.engine.eviction)
        self.evictions = Evictions(
            self.clock.now, self.clock.call_at, self.post, self.evict_attempt
        )
        #: moves when a task puts a stream chunk: subscribers look again
        #: (``flowsim.engine.streams``; a durable engine's change feed is its own)
        self.stream_signal: Generation = Generation()

    # ------------------------------------------------------------ workers

    def _has_workers(self) -> bool:
        return bool(self._workers)

    def add_worker(
        self,
        name: str,
        capacity: dict[SlotPool, int],
        workflows: Sequence[Registrable],
        labels: dict[str, str | int] | None = None,
    ) -> WorkerRuntime:
        """Register a started worker; must be called on the engine loop."""
        # one thread per task slot, as hatchet_sdk sizes its pool (durable tasks are async);
        # threads start lazily, so a large slot count costs nothing until used
        max_threads = max(1, capacity.get(SlotPool.DEFAULT, 0))
        with self._lock:
            registered = [wf.spec for worker in self._workers.values()
                          for wf in worker.workflows.values()]  # fmt: skip
            concurrency.check_shared([*registered, *(wf.spec for wf in workflows)])
            order = next(self._worker_ids)
            runtime = WorkerRuntime(
                id=self._worker_id(order, name),
                name=name,
                capacity=dict(capacity),
                workflows={wf.spec.name: wf for wf in workflows},
                executor=ThreadPoolExecutor(
                    max_workers=max_threads, thread_name_prefix=f"flowsim-{name}"
                ),
                labels=check_labels(labels or {}, f"worker {name!r}"),
                placement_rules=has_placement_rules(workflows)
                or any(wf.spec.name in self._placed_workflows for wf in workflows),
                held={pool: 0 for pool in capacity},
                waiting_holders={pool: 0 for pool in capacity},
            )
            self._workers[runtime.id] = runtime
            for workflow in workflows:
                if isinstance(workflow, DeclaresCrons):
                    for cron in workflow.cron_triggers():
                        self.crons.add(cron)
            self.crons.start()
        self.sync_crons()
        self.request_dispatch()
        return runtime

    def _worker_id(self, order: int, name: str) -> str:
        """Unique within this engine (a durable engine makes it unique across processes)."""
        return f"worker-{order}-{name}"

    async def drain_worker(self, runtime: WorkerRuntime) -> None:
        """Stop claiming, let running attempts finish, then unregister (on the engine loop)."""
        with self._lock:
            runtime.accepting = False
        self.evictions.evict_all(runtime)  # waiting durable tasks leave now, as in Hatchet
        with self._lock:
            if runtime.holders:
                runtime.drained = asyncio.Event()
        # a running parent may wait on children only this worker would have claimed
        self.request_stall_check()
        if runtime.drained is not None:
            await runtime.drained.wait()
        if runtime.tasks:
            await asyncio.wait(list(runtime.tasks))
        with self._lock:
            self._workers.pop(runtime.id, None)
        self._crons_after_a_worker_left()
        runtime.executor.shutdown(wait=False, cancel_futures=True)
        self.request_stall_check()

    def crash_worker(self, runtime: WorkerRuntime, lease_seconds: float) -> None:
        """The worker's process dies (on the engine loop). Its attempts are fenced (nothing
        they do later is recorded) and their task runs stay RUNNING on the dead worker until
        the lease expires, then they are queued again: nothing is lost, and a body that
        runs again finds the children it already spawned."""
        with self._lock:
            runtime.accepting = False
            self._workers.pop(runtime.id, None)
            for attempt in list(runtime.holders.values()):
                attempt.finished = attempt.exit_requested = True
                if attempt.timer is not None:
                    attempt.timer.cancel()
                self._set_waiting(attempt, False)
                self._lost[attempt.task_run.id] = attempt.task_run
                if attempt.task is not None and not attempt.task.done():
                    attempt.task.cancel()
            lost = [attempt.task_run for attempt in runtime.holders.values()]
            runtime.holders.clear()
            self._crons_after_a_worker_left()
            if lost:
                reason = f"worker {runtime.name!r} was lost; reclaimed after its lease expired"
                self.clock.call_at(
                    self.clock.now() + lease_seconds,
                    lambda: self.post(self._reclaim, lost, runtime.id, reason),
                )
        runtime.executor.shutdown(wait=False, cancel_futures=True)
        self.request_stall_check()

    def _reclaim(self, lost: list[TaskRun], worker_id: str, reason: str) -> None:
        with self._lock:
            now = self.clock.now()
            for task_run in lost:
                self._lost.pop(task_run.id, None)
                if task_run.status is RunStatus.RUNNING and task_run.worker_id == worker_id:
                    self._apply(self.store.requeue_lost(task_run, reason, now))
        self.request_stall_check()

    def workers(self) -> list[WorkerRuntime]:
        with self._lock:
            return list(self._workers.values())

    # ------------------------------------------------------------ inspection

    def run_views(self, run_ids: Sequence[str] | None = None) -> list[RunView]:
        """Stored runs as the ``RunStore`` protocol shows them (all, oldest first, when no
        ids are given): one read path for tests and tools on every backend."""
        with self._lock:
            ids = list(self.store.runs) if run_ids is None else run_ids
            return [run_view(self.store.get_run(run_id)) for run_id in ids]

    def workflow_run(self, run_id: str) -> WorkflowRun:
        """The run with this id, to wait on or read the result of wherever it was
        triggered (``hatchet.runs.get_run_ref``); ``RunNotFoundError`` if there is none."""
        with self._lock:
            return self.store.get_run(run_id)

    def invocation_count(self, attempt: AttemptState) -> int:
        """How many times the attempt's task run has started, this start included: every
        retry, restore after an eviction and re-run after a lost worker is one more. Read
        from the stored attempts, which every backend keeps, so a worker process that
        restores a task another evicted counts the same."""
        task_run = attempt.task_run
        (view,) = self.run_views([task_run.workflow_run.id])
        return max(1, len(view.tasks[task_run.name].attempts))

    def run_record(self, run: WorkflowRun) -> WorkflowRun:
        """``run`` with every fact the store holds of it: here it always has them (a
        durable engine may have to read some; a task's context asks through this)."""
        return run

    # ------------------------------------------------------------ triggering

    def trigger(
        self, items: Sequence[NewRun], parent: AttemptState | None = None
    ) -> list[WorkflowRun | Collision]:
        """Create runs and queue their first tasks, in batches of ``BULK_BATCH``, each one
        atomic (children de-duplicated by spawn key), as hatchet_sdk sends a bulk trigger:
        workers start on the first batch while the next is written. Every item's
        concurrency key and rate-limit inputs are checked before the first batch, so a bad
        one refuses the whole call and creates nothing. An item whose idempotency key a run
        holds is not created: a ``Collision`` naming that run takes its place."""
        parent_run = parent.task_run if parent is not None and parent.engine is self else None
        if parent is not None and parent_run is not None and parent.finished:
            # timed out, cancelled or lost: its spawns would shift the next attempt's children
            raise StaleAttemptError(parent_run.id, None)
        durable = parent if parent_run is not None and parent_run.spec.durable else None
        if durable is not None:
            for offset, item in enumerate(items):  # diverging from the log spawns nothing
                self.replay_for(durable).peek(StepKind.SPAWN, _spawn_key(item), offset)
        inherited = parent.task_run.workflow_run.additional_metadata if parent else {}
        check_rate_limit_inputs(items, inherited)
        if len(items) > BULK_BATCH:  # a single batch is checked by the store, atomically
            concurrency.check_runs(items, inherited)
        if len(items) > BULK_BATCH:
            idempotency.claims_of(items, inherited, 0.0)  # a bad key refuses them all
        runs: list[WorkflowRun | Collision] = []
        for start in range(0, len(items), BULK_BATCH):
            runs.extend(self._trigger_batch(items[start : start + BULK_BATCH], parent_run, durable))
            self._between_batches()
        return runs

    def _note_placement(self, items: Sequence[NewRun]) -> None:
        """Make the workers of a workflow claim through the placement filter once a run of
        it has placement rules, which a trigger's desired labels give a workflow whose
        tasks have none (``flowsim.sdk.trigger_labels``)."""
        for spec in {id(item.spec): item.spec for item in items}.values():
            if spec.name not in self._placed_workflows and placed(spec):
                self._placed_workflows.add(spec.name)
                for worker in self._workers.values():
                    if worker.registers(spec.name):
                        worker.placement_rules = True

    def _between_batches(self) -> None:
        """Called after each batch a bulk trigger writes, before the next: a durable engine
        renews its leases here when they are due (the whole call runs without returning to
        the event loop)."""

    def _trigger_batch(
        self, items: Sequence[NewRun], parent_run: TaskRun | None, durable: AttemptState | None
    ) -> list[WorkflowRun | Collision]:
        with self._lock:
            self._note_placement(items)
            runs, transition = self._create(items, parent_run)
            if transition.retry_at:  # scheduled runs: released when due, as retries are
                self._retry_timer.arm(min(transition.retry_at))
            if transition.finished or transition.cancelled:  # a concurrency strategy
                self._apply(Transition(finished=transition.finished,
                                       cancelled=transition.cancelled))  # fmt: skip
        if durable is not None:
            calls = [(_spawn_key(i), _run_id_of(r)) for i, r in zip(items, runs, strict=True)]
            self.replay_for(durable).steps(StepKind.SPAWN, calls, self.clock.now())
        if transition.queued:
            if self.on_engine_loop() and not self._dispatching:
                # Dispatch inline: a child that finishes without suspending is done before
                # its caller waits, which then returns without a future or a loop turn.
                self._dispatch()
            else:
                self.request_dispatch()
        return runs

    def request_dispatch(self) -> None:
        with self._lock:
            if self._dispatch_pending or self._loop is None:
                return
            self._dispatch_pending = True
        self.post(self._dispatch)

    def _dispatch(self) -> None:
        started: list[tuple[WorkerRuntime, TaskRun]] = []
        with self._lock:
            self._dispatch_pending = False
            now = self.clock.now()
            for worker in self._workers.values():  # in start order (dicts keep insertion)
                if not worker.accepting:
                    continue
                for pool in worker.capacity:
                    free = worker.free(pool)
                    if free <= 0:
                        continue
                    for task_run in self._claim(worker, pool, free, now):
                        worker.held[pool] += task_run.spec.slot_cost
                        started.append((worker, task_run))
            self._after_claims(now)
        self._dispatching = True
        try:
            for worker, task_run in started:
                self._launch(worker, task_run)
        finally:
            self._dispatching = False

    # ------------------------------------------------------------ store calls
    # The durable engine (flowsim.engine.durable) overrides these to talk to a RunStore
    # shared with other processes; everything else about executing runs is the same.

    def _create(
        self, items: Sequence[NewRun], parent: TaskRun | None
    ) -> tuple[list[WorkflowRun | Collision], Transition]:
        runs, transition = self.store.create_runs(items, self.clock.now(), parent)
        if self._loop is None and transition.queued:
            # no worker to dispatch (which arms it): schedule timeouts still apply
            self._schedule_timer.arm(self.store.next_schedule_deadline())
        return runs, transition

    def _claim(self, worker: WorkerRuntime, pool: SlotPool, free: int, now: float) -> list[TaskRun]:
        placement = claim_filter(self.store, self._workers, worker, now)
        claimed = self.store.claim(worker.workflows, pool, free, worker.id, now, placement)
        if placement is not None:
            self._placement_timer.arm(placement.deferred_until)
        return claimed

    def _patience_ended(self) -> None:
        self._placement_timer.fired()
        self.request_dispatch()

    def set_worker_labels(self, runtime: WorkerRuntime, labels: dict[str, str | int]) -> None:
        """``ctx.upsert_worker_labels``: merge into the worker's labels; what it claims
        next is placed by the new ones."""
        with self._lock:
            runtime.labels = {**runtime.labels, **check_labels(labels, f"worker {runtime.name!r}")}
        self.request_dispatch()

    def _after_claims(self, now: float) -> None:
        self._schedule_timer.arm(self.store.next_schedule_deadline())
        # a claim may have parked rate-limited task runs until their keys refill, or
        # returned some to the queues (a dynamic key changed): claim those next
        if self.store.rate_limits.next_due() is not None:
            self._retry_timer.arm(self.store.next_retry_due())
        if self.store.released_after_claim:
            self.store.released_after_claim = 0
            self.request_dispatch()

    def put_rate_limit(self, key: str, limit: int, window: float) -> None:
        """``hatchet.rate_limits.put``: create or change a key; runs waiting for it may
        now be claimed."""
        with self._lock:
            self._apply(self.store.put_rate_limit(key, limit, window, self.clock.now()))

    def _store_complete(self, task_run: TaskRun, output: JSON) -> Transition:
        return self.store.complete(task_run, output, self.clock.now())

    def _store_fail(
        self,
        task_run: TaskRun,
        error: TaskRunError,
        non_retryable: bool,
        retry_after: float | None = None,
    ) -> Transition:
        return self.store.fail(task_run, error, non_retryable, self.clock.now(), retry_after)

    def _has_ready(self) -> bool:
        return self.store.has_ready()

    # ------------------------------------------------------------ durable tasks

    @property
    def step_store(self) -> DurableLogStore:
        """Where durable task runs' event logs are kept."""
        return self.store

    def replay_for(self, attempt: AttemptState) -> Replay:
        """The attempt's walk through its task run's event log."""
        if attempt.replay is None:
            attempt.replay = Replay(self.step_store, attempt)
        return attempt.replay

    def child_wait(self, runs: Sequence[WorkflowRun]) -> contextlib.AbstractContextManager[None]:
        """Mark the current durable attempt (if any) waiting on ``runs`` while in the
        ``with`` body: an evictable wait (hatchet_sdk's "spawn_child" wait)."""
        names = ", ".join(sorted({run.workflow_name for run in runs}))
        attempt = self.current_attempt()
        ids = [run.id for run in runs if not run.status.is_terminal]
        if not ids:
            return contextlib.nullcontext()
        return self.evictions.waiting(attempt, "spawn_child", names, runs=ids)

    def evict_attempt(
        self, attempt: AttemptState, resume_at: float | None, runs: tuple[str, ...], reason: str
    ) -> None:
        """Evict a waiting durable attempt (on the engine loop): it ends as a timeout ends
        one, freeing its slot, and the store queues its task run to be restored."""
        with self._lock:
            if not self._end_attempt(attempt):
                return
            self._apply(self._store_evict(attempt.task_run, resume_at, runs, reason))
        if attempt.task is not None and not attempt.task.done():
            attempt.task.cancel()

    def _store_evict(
        self, task_run: TaskRun, resume_at: float | None, runs: tuple[str, ...], reason: str
    ) -> Transition:
        return self.store.evict(task_run, resume_at, runs, reason, self.clock.now())

    # ------------------------------------------------------------ executing

    def _launch(self, worker: WorkerRuntime, task_run: TaskRun) -> None:
        assert self._loop is not None
        registered = worker.workflows[task_run.workflow_run.workflow_name]
        runnable = registered.runnables().get(task_run.name) or MissingTask(
            task_run, worker, registered
        )
        now = self.clock.now()
        attempt = AttemptState(
            engine=self,
            worker=worker,
            task_run=task_run,
            runnable=runnable,
            retry_count=task_run.retry_count,
            started_at=now,
            deadline=now + task_run.spec.execution_timeout,
        )
        worker.holders[task_run.id] = attempt
        self._exec_deadlines.push(task_run.spec.execution_timeout, now, attempt, 0)
        self._exec_timer.arm(attempt.deadline)
        # Each attempt is an asyncio Task of its own from its first line, as on a Hatchet
        # worker: ``asyncio.timeout()``, ``TaskGroup`` and ``current_task()`` in the body
        # need one (a body's first step once ran inline in the dispatcher, outside any Task
        # or inside the caller's, whose timeout then cancelled the caller). It starts on
        # the loop's next turn, as a worker starts an action it was sent, on every Python,
        # so the order of events at one instant (a simulation's trace) is the same on all.
        # Made with ``asyncio.Task``, not ``loop.create_task``: the loop may be the user's,
        # whose eager task factory would run the body before ``attempt.task`` is set.
        context = contextvars.Context()  # a fresh context, as on a worker: nothing leaks in
        task = asyncio.Task(self._execute(attempt), loop=self._loop, context=context)
        attempt.task = task
        worker.tasks.add(task)
        task.add_done_callback(functools.partial(self._attempt_task_done, worker, attempt))

    def _attempt_task_done(
        self, worker: WorkerRuntime, attempt: AttemptState, task: asyncio.Task[None]
    ) -> None:
        """A Task cancelled before its first step (by whoever cancels every task of the
        loop at shutdown) never ran the body, whose own handler records the stop."""
        worker.tasks.discard(task)
        if task.cancelled() and not attempt.finished:
            self._record_stopped(attempt)

    def _record_stopped(self, attempt: AttemptState) -> None:
        self._record_failure(
            attempt,
            TaskRunError(
                "the worker was stopped while the task ran",
                "CancelledError",
                "",
                attempt.task_run.id,
            ),
            non_retryable=False,
        )

    def _expire_attempts(self) -> None:
        with self._lock:
            self._exec_timer.fired()
            expired = self._exec_deadlines.pop_expired(self.clock.now())
        for attempt in expired:
            self._on_deadline(attempt)
        with self._lock:
            self._exec_timer.arm(self._exec_deadlines.next_due())

    async def _execute(self, attempt: AttemptState) -> None:
        runnable = attempt.runnable
        token = CURRENT_ATTEMPT.set(attempt)
        try:
            if self.attempt_prelude is not None:
                await self.attempt_prelude(attempt)
            context = runnable.make_context(attempt)
            if runnable.injects:
                async with contextlib.AsyncExitStack() as exits:  # undone after the call
                    injected = await runnable.enter_dependencies(attempt, context, exits)
                    value = await self._invoke(attempt, context, injected)
            else:
                value = await self._invoke(attempt, context, {})
            output = runnable.serialize_output(value)
        except asyncio.CancelledError:
            if not attempt.finished:
                self._record_stopped(attempt)
            raise
        except Exception as exc:  # the user's task failed: record it as Hatchet does
            if self._overran(attempt):
                return
            if isinstance(exc, SlotDeadlockError):
                # the deadlock travels up the parent chain: whoever waits on this run gets it
                self._deadlocks[attempt.task_run.workflow_run.id] = exc.report
            error = TaskRunError.from_exception(exc, attempt.task_run.id)
            retry_after = exc.after_ms / 1000 if isinstance(exc, RetryAfterException) else None
            self._record_failure(attempt, error, isinstance(exc, _NOT_RETRYABLE), retry_after)
        else:
            if not self._overran(attempt):
                self._record_success(attempt, output)
        finally:
            CURRENT_ATTEMPT.reset(token)

    async def _invoke(self, attempt: AttemptState, context: Any, injected: dict[str, Any]) -> Any:
        """The user's function: awaited, or in the worker's thread pool if sync (inline on
        the simulator's loop)."""
        runnable = attempt.runnable
        if runnable.is_async:
            return await runnable.invoke(attempt, context, injected)
        if self.inline_sync:
            return runnable.invoke(attempt, context, injected)
        loop = asyncio.get_running_loop()
        call = contextvars.copy_context().run
        return await loop.run_in_executor(
            attempt.worker.executor, call, runnable.invoke, attempt, context, injected
        )

    def _overran(self, attempt: AttemptState) -> bool:
        """Whether the attempt ended after its execution timeout, which is then recorded
        (as a timeout: ``_on_deadline``'s error) instead of its result. An async body that
        blocks the loop past its deadline returns before the loop can run the timer;
        Hatchet's server would have timed the attempt out at the deadline and dropped the
        late result. (A sync body in a thread never gets here late: the timer ends it.) A
        stand-in spec, for a task this process does not define, has no timeout of its own
        (0): its attempt ends with the error that says so."""
        if attempt.finished or attempt.task_run.spec.execution_timeout <= 0:
            return False
        if self.clock.now() <= attempt.deadline:
            return False
        self._record_failure(attempt, self._timeout_error(attempt), False)
        return True

    def _timeout_error(self, attempt: AttemptState) -> TaskRunError:
        message = rules.timeout_message(attempt.task_run.spec.execution_timeout)
        return TaskRunError(message, "TimeoutError", "", attempt.task_run.id)

    def _end_attempt(self, attempt: AttemptState) -> bool:
        """Fence: the first outcome of an attempt wins; later ones are ignored."""
        if attempt.finished:
            return False
        attempt.finished = True
        attempt.exit_requested = True
        if attempt.timer is not None:
            attempt.timer.cancel()
        self._release_slot(attempt)
        worker = attempt.worker
        worker.holders.pop(attempt.task_run.id, None)
        if worker.drained is not None and not worker.holders:
            worker.drained.set()
        return True

    def _release_slot(self, attempt: AttemptState) -> None:
        if attempt.slot_released:
            return
        attempt.slot_released = True
        self._set_waiting(attempt, False)
        attempt.worker.held[attempt.pool] -= attempt.task_run.spec.slot_cost
        if self._has_ready():
            self.request_dispatch()

    def release_slot_early(self, attempt: AttemptState) -> None:
        """``ctx.release_slot()``: the attempt keeps running but frees its slot."""
        with self._lock:
            self._release_slot(attempt)

    def _record_success(self, attempt: AttemptState, output: JSON) -> None:
        with self._lock:
            if not self._end_attempt(attempt):
                return
            self._apply(self._store_complete(attempt.task_run, output))

    def _record_failure(
        self,
        attempt: AttemptState,
        error: TaskRunError,
        non_retryable: bool,
        retry_after: float | None = None,
    ) -> None:
        """``retry_after``: the seconds a ``RetryAfterException`` asked to wait (from the
        whole milliseconds hatchet_sdk sends), in place of the backoff."""
        with self._lock:
            if not self._end_attempt(attempt):
                return
            self._apply(self._store_fail(attempt.task_run, error, non_retryable, retry_after))

    def _on_deadline(self, attempt: AttemptState) -> None:
        """Execution timeout: the attempt fails (retryable, as in Hatchet) and is cancelled."""
        self._record_failure(attempt, self._timeout_error(attempt), False)
        if attempt.task is not None and not attempt.task.done():
            attempt.task.cancel()

    # ------------------------------------------------------------ cancelling

    def cancel(self, run_id: str, reason: str) -> None:
        """Cancel the run and every run spawned below it (``hatchet.runs.cancel``,
        ``ctx.cancel``): queued task runs never start, running ones are fenced off, see
        ``ctx.exit_flag`` and have their asyncio task cancelled, and their slots free at
        once; nothing cancelled is retried. Returns when that is done."""
        loop = self._loop
        if loop is None or loop.is_closed() or self.on_engine_loop():
            self._cancel_now(run_id, reason)
        else:
            asyncio.run_coroutine_threadsafe(self._cancel_soon(run_id, reason), loop).result()

    async def aio_cancel(self, run_id: str, reason: str) -> None:
        await self.run_on_engine(lambda: self._cancel_soon(run_id, reason))

    async def _cancel_soon(self, run_id: str, reason: str) -> None:
        self._cancel_now(run_id, reason)

    def _cancel_now(self, run_id: str, reason: str) -> None:
        """On the engine loop (asyncio tasks are cancelled from their own loop)."""
        with self._lock:
            ended = self._store_cancel(run_id, reason)
            self._stop_attempts(lambda attempt: attempt.task_run.workflow_run.id in ended)

    def replay(
        self, ids: Sequence[str], call: str, defined: Callable[[str], WorkflowSpec | None]
    ) -> None:
        """``hatchet.runs.replay`` / ``bulk_replay``: queue the ended task runs that ``ids``
        name again (``flowsim.engine.run_replay`` chooses them, and refuses what it cannot
        replay before anything is). ``call`` names the caller in errors; ``defined`` finds
        a workflow the caller's client defines, by name (its DAG says what is replayed)."""

        def spec_of(view: RunView) -> WorkflowSpec | None:
            return defined(view.workflow) or self._defined_spec(view)

        targets = replay_targets(ids, self.run_views, self.run_views, spec_of, call)
        with self._lock:
            self._store_replay(targets)

    def _defined_spec(self, view: RunView) -> WorkflowSpec | None:
        """The run's workflow as defined in this process (None if it is not)."""
        return self.workflow_run(view.id).spec

    def _store_replay(self, targets: Mapping[str, str]) -> None:
        """Queue the task runs again: ``targets`` maps each task run id to its run's."""
        task_runs = [self.store.task_runs[task_run_id] for task_run_id in targets]
        self._apply(self.store.replay(task_runs, self.clock.now()))
        if self._loop is None and targets:  # as in _create: dispatch arms it otherwise
            self._schedule_timer.arm(self.store.next_schedule_deadline())

    def _store_cancel(self, run_id: str, reason: str) -> set[str]:
        """Cancel in the store; the ids of the runs that ended."""
        _, transition = self.store.cancel_family(run_id, reason, self.clock.now())
        self._apply(transition)
        return {run.id for run in transition.finished}

    def _stop_attempts(self, cancelled: Callable[[AttemptState], bool]) -> None:
        """Stop the local attempts whose task runs the store cancelled, as the execution
        timeout stops an attempt (the same fence, slot release and asyncio cancellation),
        except that no failure is recorded: Hatchet reports nothing for a cancelled task.
        A sync task's thread cannot be interrupted; it sees ``ctx.exit_flag``."""
        for worker in list(self._workers.values()):
            for attempt in list(worker.holders.values()):
                if cancelled(attempt):
                    self._stop_attempt(attempt)

    def _stop_cancelled(self, task_runs: Sequence[TaskRun]) -> None:
        """Stop the attempts of task runs a concurrency strategy cancelled, from any thread
        (under the lock): fenced at once, so a result they still produce is not recorded,
        their asyncio tasks cancelled on the engine loop."""
        ids = {task_run.id for task_run in task_runs}
        stopped = False
        for worker in list(self._workers.values()):
            for attempt in list(worker.holders.values()):
                if attempt.task_run.id in ids and self._end_attempt(attempt):
                    stopped = True
                    task = attempt.task
                    if task is not None and not task.done():
                        self.post(_cancel_task, task)
        if stopped and not self.on_engine_loop():
            # a draining worker's event may have been set from this thread: wake the loop
            self.post(_nothing)

    def _stop_attempt(self, attempt: AttemptState) -> None:
        if self._end_attempt(attempt) and attempt.task is not None and not attempt.task.done():
            attempt.task.cancel()

    def refresh_deadline(self, attempt: AttemptState, seconds: float) -> None:
        """``ctx.refresh_timeout``: push the current attempt's deadline back."""
        with self._lock:
            if attempt.finished:
                return
            if attempt.timer is not None:
                attempt.timer.cancel()
            attempt.deadline_version += 1  # retires its entry in the deadline queue
            attempt.deadline += seconds
            attempt.timer = self.clock.call_at(
                attempt.deadline, lambda: self.post(self._on_deadline, attempt)
            )

    def _apply(self, transition: Transition) -> None:
        """Act on a store transition: wake waiters, arm retry timers, dispatch."""
        if transition.cancelled:
            self._stop_cancelled(transition.cancelled)
        if transition.signals:
            self._signals_fired(transition.signals)
        for run in transition.finished:
            self._finish_waiters(run)
        if transition.finished and self.store.has_parked:  # evicted runs awaiting these
            transition.queued += self.store.release_parked(self.clock.now()).queued
        if transition.finished and self._saturated_pools:
            # a run a blocked holder also waited on ended: the rest may now be stuck
            self.request_stall_check()
        if transition.retry_at:
            self._retry_timer.arm(min(transition.retry_at))
        if transition.queued:
            self.request_dispatch()

    def _release_retries(self) -> None:
        with self._lock:
            self._retry_timer.fired()
            now = self.clock.now()
            self._apply(self.store.fire_due_waits(now))
            self._apply(self.store.release_due_retries(now))
            self._retry_timer.arm(self.store.next_retry_due())

    def _expire_queued(self) -> None:
        with self._lock:
            self._schedule_timer.fired()
            self._apply(self.store.expire_schedule_timeouts(self.clock.now()))
            self._schedule_timer.arm(self.store.next_schedule_deadline())

    # ------------------------------------------------------------ worker processes

    def keeping_leases(self) -> contextlib.AbstractContextManager[None]:
        """While a worker process serves (``Worker.start()``): nothing to keep here, no
        other process takes this engine's work (see ``flowsim.engine.lease_keeper``)."""
        return contextlib.nullcontext()

    # ------------------------------------------------------------ event filters

    def event_filters(self) -> FilterStore:
        """Where ``hatchet.filters`` keeps the event filters it creates: this engine's
        memory here, the shared store on a durable backend."""
        return self.store.filters

    # ------------------------------------------------------------ crons

    def cron_store(self) -> CronStore:
        """Where ``hatchet.cron`` keeps the crons it creates: this engine's memory here,
        the shared store on a durable backend."""
        return self.store.crons

    def sync_crons(self) -> None:
        """Fire the stored crons of the workflows a worker of this engine registered, and
        no others (``CronTable.sync_stored``): after this process made or deleted one,
        when a worker starts or leaves, and on a shared store at every heartbeat."""
        stored = self.cron_store().list_crons()
        with self._lock:
            specs = self._served_specs()
            self.crons.sync_stored(
                stored_trigger(cron, specs[cron.workflow])
                for cron in stored
                if cron.workflow in specs
            )

    def _served_specs(self) -> dict[str, WorkflowSpec]:
        """The workflows the running workers of this engine serve, by name."""
        return {
            name: workflow.spec
            for runtime in self._workers.values()
            for name, workflow in runtime.workflows.items()
        }

    def _crons_after_a_worker_left(self) -> None:
        """Fire no cron of a workflow no remaining worker serves: declared ones are
        dropped (a worker registering the workflow adds them again), stored ones synced;
        with no worker left the table stops."""
        with self._lock:
            served = self._served_specs()
            self.crons.drop_declared(lambda cron: cron.spec.name not in served)
            if not self._workers:
                self.crons.stop()
        self.sync_crons()

    def remove_declared_cron(self, cron_id: str) -> bool:
        """Stop firing one of this process's declared crons (``hatchet.cron.delete``);
        False if there is none by that id."""
        with self._lock:
            return self.crons.remove_declared(cron_id)

    def on_loop_locked(self, callback: Callable[[], None]) -> None:
        """Run ``callback`` under the engine lock on the engine loop: at once when this is
        that loop (or none runs), else posted to it from this thread."""

        def locked() -> None:
            with self._lock:
                callback()

        if self.on_engine_loop() or self.loop is None:
            locked()
        else:
            self.post(locked)

    def listed_crons(self) -> list[tuple[CronTrigger, float]]:
        """This process's declared crons with when each was added, read under the lock
        (the heartbeat may be changing the table)."""
        with self._lock:
            return [(cron, self.crons.added_at(cron.id)) for cron in self.crons.declared()]

    # ------------------------------------------------------------ streams

    def put_stream(self, run_id: str, task_run_id: str, index: int, data: str) -> None:
        with self._lock:
            self.store.streams.put(run_id, task_run_id, index, data)
        self.stream_signal.bump()

    async def aio_put_stream(self, run_id: str, task_run_id: str, index: int, data: str) -> None:
        self.put_stream(run_id, task_run_id, index, data)

    def stream_position(self, run_id: str) -> int:
        with self._lock:
            return self.store.streams.position(run_id)

    def read_stream(self, run_id: str, after: int) -> list[StreamChunk]:
        with self._lock:
            return self.store.streams.read(run_id, after)

    async def aio_stream_position(self, run_id: str) -> int:
        return self.stream_position(run_id)

    async def aio_read_stream(self, run_id: str, after: int) -> list[StreamChunk]:
        return self.read_stream(run_id, after)

    # ------------------------------------------------------------ shutdown

    def close(self) -> None:
        """Forget all state and stop the engine thread (the pytest plugin does this per test).
        Pending timers are cancelled: they hold the engine, and so every run, alive."""
        with self._lock:
            self.closed = True
            self.crons.stop()
            self.evictions.close()
            timers = (self._schedule_timer, self._exec_timer, self._retry_timer,
                      self._placement_timer)  # fmt: skip
            for timer in timers:
                timer.cancel()
            for worker in self._workers.values():
                for attempt in worker.holders.values():
                    if attempt.timer is not None:
                        attempt.timer.cancel()
            for waiters in self._waiters.values():
                for waiter in waiters:
                    self._deliver(waiter, None, BlockingCallError("the backend was closed"))
            self._waiters.clear()
            workers = list(self._workers.values())
            for worker in workers:
                worker.accepting = False
                for attempt in worker.holders.values():
                    if attempt.task is not None:
                        self.post(_cancel_task, attempt.task)
                worker.executor.shutdown(wait=False, cancel_futures=True)
            self._workers.clear()
        self._release_loop_if_idle()
