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
import concurrent.futures
import contextvars
import itertools
import threading
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

from flowsim import rules
from flowsim.clock import Clock, SystemClock
from flowsim.deadlines import DeadlineQueue
from flowsim.engine.deadlock import DeadlockReport, Stall, find_stall
from flowsim.engine.eager import resume
from flowsim.engine.loop import LoopHost
from flowsim.engine.missing import MissingTask
from flowsim.engine.runtime import AttemptState, Registrable, WorkerRuntime
from flowsim.engine.timers import EarliestTimer
from flowsim.engine.waiters import Group, Waiter
from flowsim.errors import (
    BlockingCallError,
    NonRetryableException,
    SlotDeadlockError,
    TaskRunError,
    UnknownWorkflowError,
    WorkflowDefinitionError,
)
from flowsim.rules import RunStatus, SlotPool
from flowsim.store.memory import MemoryStore, NewRun, Transition
from flowsim.store.records import JSON, TaskRun, WorkflowRun

T = TypeVar("T")

#: The attempt whose code is running in the current context (task, thread or coroutine).
CURRENT_ATTEMPT: contextvars.ContextVar[AttemptState | None] = contextvars.ContextVar(
    "flowsim_current_attempt", default=None
)

#: Failures that another attempt cannot fix, so they are never retried.
_NOT_RETRYABLE = (
    NonRetryableException,
    SlotDeadlockError,
    UnknownWorkflowError,
    WorkflowDefinitionError,
)


def _attempt_live(attempt: AttemptState, version: int) -> bool:
    return not attempt.finished and attempt.deadline_version == version


def _cancel_task(task: asyncio.Task[None]) -> None:
    task.cancel()


class Engine(LoopHost):
    def __init__(self, url: str, clock: Clock | None = None) -> None:
        super().__init__()
        self.url = url
        self.clock: Clock = clock or SystemClock()
        self.store = MemoryStore()
        self._lock = threading.RLock()
        self._workers: dict[str, WorkerRuntime] = {}
        self._worker_ids = itertools.count(1)
        self._waiters: dict[str, list[Waiter]] = {}
        self._awaited: Counter[str] = Counter()
        self._dispatch_pending = False
        self._dispatching = False
        self._stall_check_pending = False
        self._schedule_timer = EarliestTimer(self.clock, lambda: self.post(self._expire_queued))
        self._exec_deadlines: DeadlineQueue[AttemptState] = DeadlineQueue(_attempt_live)
        self._exec_timer = EarliestTimer(self.clock, lambda: self.post(self._expire_attempts))
        self._retry_timer = EarliestTimer(self.clock, lambda: self.post(self._release_retries))
        self._deadlocks: dict[str, DeadlockReport] = {}
        self._saturated_pools = 0
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
            order = next(self._worker_ids)
            runtime = WorkerRuntime(
                id=f"worker-{order}-{name}",
                name=name,
                capacity=dict(capacity),
                workflows={wf.spec.name: wf for wf in workflows},
                executor=ThreadPoolExecutor(
                    max_workers=max_threads, thread_name_prefix=f"flowsim-{name}"
                ),
                labels=dict(labels or {}),
                held={pool: 0 for pool in capacity},
                waiting_holders={pool: 0 for pool in capacity},
            )
            self._workers[runtime.id] = runtime
        self.request_dispatch()
        return runtime

    async def drain_worker(self, runtime: WorkerRuntime) -> None:
        """Stop claiming, let running attempts finish, then unregister (on the engine loop)."""
        with self._lock:
            runtime.accepting = False
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

    # ------------------------------------------------------------ triggering

    def trigger(
        self, items: Sequence[NewRun], parent: AttemptState | None = None
    ) -> list[WorkflowRun]:
        """Create runs (atomically, de-duplicated for children) and queue their first tasks."""
        parent_run = parent.task_run if parent is not None and parent.engine is self else None
        with self._lock:
            runs, transition = self.store.create_runs(items, self.clock.now(), parent_run)
            if self._loop is None and transition.queued:
                # no worker to dispatch (which arms it): schedule timeouts still apply
                self._schedule_timer.arm(self.store.next_schedule_deadline())
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
                    for task_run in self.store.claim(worker.workflows, pool, free, worker.id, now):
                        worker.held[pool] += task_run.spec.slot_cost
                        started.append((worker, task_run))
            self._schedule_timer.arm(self.store.next_schedule_deadline())
        self._dispatching = True
        try:
            for worker, task_run in started:
                self._launch(worker, task_run)
        finally:
            self._dispatching = False

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
        context = contextvars.Context()  # a fresh context, as on a worker: nothing leaks in
        body = self._execute(attempt)
        try:
            pending = context.run(body.send, None)
        except StopIteration:
            return  # finished without suspending: no Task needed
        task = self._loop.create_task(resume(body, pending), context=context)
        attempt.task = task
        worker.tasks.add(task)
        task.add_done_callback(worker.tasks.discard)
        # a Task cancelled before its first step never drives the body: close it here, in
        # its own context, rather than leave it to the garbage collector
        task.add_done_callback(lambda _: body.close(), context=context)

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
            if runnable.is_async:
                value = await runnable.invoke(attempt, context)
            elif self.inline_sync:
                value = runnable.invoke(attempt, context)
            else:
                loop = asyncio.get_running_loop()
                call = contextvars.copy_context().run
                value = await loop.run_in_executor(
                    attempt.worker.executor, call, runnable.invoke, attempt, context
                )
            output = runnable.serialize_output(value)
        except asyncio.CancelledError:
            if not attempt.finished:
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
            raise
        except Exception as exc:  # the user's task failed: record it as Hatchet does
            if isinstance(exc, SlotDeadlockError):
                # the deadlock travels up the parent chain: whoever waits on this run gets it
                self._deadlocks[attempt.task_run.workflow_run.id] = exc.report
            error = TaskRunError.from_exception(exc, attempt.task_run.id)
            self._record_failure(attempt, error, isinstance(exc, _NOT_RETRYABLE))
        else:
            self._record_success(attempt, output)
        finally:
            CURRENT_ATTEMPT.reset(token)

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
        if self.store.has_ready():
            self.request_dispatch()

    def release_slot_early(self, attempt: AttemptState) -> None:
        """``ctx.release_slot()``: the attempt keeps running but frees its slot."""
        with self._lock:
            self._release_slot(attempt)

    def _record_success(self, attempt: AttemptState, output: JSON) -> None:
        with self._lock:
            if not self._end_attempt(attempt):
                return
            transition = self.store.complete(attempt.task_run, output, self.clock.now())
            self._apply(transition)

    def _record_failure(
        self, attempt: AttemptState, error: TaskRunError, non_retryable: bool
    ) -> None:
        with self._lock:
            if not self._end_attempt(attempt):
                return
            transition = self.store.fail(attempt.task_run, error, non_retryable, self.clock.now())
            self._apply(transition)

    def _on_deadline(self, attempt: AttemptState) -> None:
        """Execution timeout: the attempt fails (retryable, as in Hatchet) and is cancelled."""
        message = rules.timeout_message(attempt.task_run.spec.execution_timeout)
        self._record_failure(
            attempt, TaskRunError(message, "TimeoutError", "", attempt.task_run.id), False
        )
        if attempt.task is not None and not attempt.task.done():
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
        for run in transition.finished:
            self._finish_waiters(run)
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
            self._apply(self.store.release_due_retries(self.clock.now()))
            self._retry_timer.arm(self.store.next_retry_due())

    def _expire_queued(self) -> None:
        with self._lock:
            self._schedule_timer.fired()
            self._apply(self.store.expire_schedule_timeouts(self.clock.now()))
            self._schedule_timer.arm(self.store.next_schedule_deadline())

    # ------------------------------------------------------------ waiting

    def _check_servable(self, run: WorkflowRun) -> bool:
        """Raise UnknownWorkflowError if ``run`` can never finish for want of a worker;
        True if a running worker registers its workflow (the common, cacheable answer)."""
        name = run.workflow_name
        if any(w.accepting and w.registers(name) for w in self._workers.values()):
            return True
        if self.workers_expected:
            return False
        stall = find_stall(
            self.url, self.clock.now(), list(self._workers.values()), self.store.runs, {run.id: 1}
        )
        if stall is not None and any(not b.candidates for b in stall.report.blocked):
            raise UnknownWorkflowError(stall.report.render_unregistered())
        return False

    def _begin_wait(
        self, run: WorkflowRun, waiter: Waiter, servable: set[str] | None = None
    ) -> None:
        """Register a wait. ``servable`` caches, across one batch, the workflows already
        known to have a running worker."""
        if servable is None:
            self._check_servable(run)
        elif run.workflow_name not in servable and self._check_servable(run):
            servable.add(run.workflow_name)
        self._waiters.setdefault(run.id, []).append(waiter)
        self._awaited[run.id] += 1
        attempt = waiter.attempt
        if attempt is None:
            return
        task_run = attempt.task_run
        if not attempt.slot_released:
            self._set_waiting(attempt, True)
        task_run.waiting_on[run.id] = task_run.waiting_on.get(run.id, 0) + 1
        if self._saturated_pools:
            # A pool full of waiting holders can turn into a deadlock through a wait in any
            # pool, not just its own: check whenever one exists.
            self.request_stall_check()

    def _set_waiting(self, attempt: AttemptState, waiting: bool) -> None:
        """Keep ``waiting_holders`` and the count of pools whose every slot is held by a
        waiting run in step; the stall check runs only while such a pool exists."""
        if attempt.counted_waiting == waiting:
            return
        attempt.counted_waiting = waiting
        worker, pool = attempt.worker, attempt.pool
        was_full = worker.waiting_holders[pool] >= worker.capacity[pool]
        worker.waiting_holders[pool] += 1 if waiting else -1
        is_full = worker.waiting_holders[pool] >= worker.capacity[pool]
        self._saturated_pools += int(is_full) - int(was_full)

    def _end_wait(self, run: WorkflowRun, attempt: AttemptState | None) -> None:
        with self._lock:
            count = self._awaited[run.id] - 1
            if count <= 0:
                self._awaited.pop(run.id, None)
            else:
                self._awaited[run.id] = count
            if attempt is None:
                return
            waits = attempt.task_run.waiting_on
            remaining = waits.get(run.id, 0) - 1
            if remaining > 0:
                waits[run.id] = remaining
                return
            waits.pop(run.id, None)
            if not waits:
                self._set_waiting(attempt, False)

    def current_attempt(self) -> AttemptState | None:
        attempt = CURRENT_ATTEMPT.get()
        return attempt if attempt is not None and attempt.engine is self else None

    async def wait(self, run: WorkflowRun) -> WorkflowRun:
        """Wait until ``run`` is terminal; raise at once if it can never finish."""
        attempt = self.current_attempt()
        loop = asyncio.get_running_loop()
        with self._lock:
            if run.status.is_terminal:
                return run
            future: asyncio.Future[WorkflowRun] = loop.create_future()
            self._begin_wait(run, Waiter(future, loop, attempt))
        try:
            return await future
        finally:
            self._end_wait(run, attempt)

    async def wait_many(
        self, runs: Sequence[WorkflowRun], *, fail_fast: bool
    ) -> WorkflowRun | None:
        """Wait for many runs with one shared future (fan-out). With ``fail_fast`` the first
        run to end other than COMPLETED ends the wait and is returned, as
        ``asyncio.gather`` raises the first failure for hatchet_sdk's ``aio_run_many``."""
        attempt = self.current_attempt()
        loop = asyncio.get_running_loop()
        group = Group(loop.create_future(), fail_fast)
        registered: list[WorkflowRun] = []
        servable: set[str] = set()
        try:
            with self._lock:
                for run in runs:
                    if run.status.is_terminal:
                        if fail_fast and run.status is not RunStatus.COMPLETED:
                            return run
                        continue
                    self._begin_wait(run, Waiter(None, loop, attempt, group), servable)
                    registered.append(run)
                    group.remaining += 1
            if group.remaining:
                await group.done
            return group.first_failure
        finally:
            with self._lock:
                for run in registered:
                    self._end_wait(run, attempt)

    def wait_blocking(self, run: WorkflowRun) -> WorkflowRun:
        """Blocking twin of ``wait`` for sync code (a sync task, or a script's main thread)."""
        if self.on_engine_loop():
            raise BlockingCallError(
                "run()/result() blocks, and was called on the engine's event loop (inside an "
                "async task or an async test); use 'await wf.aio_run(...)' / 'await "
                "ref.aio_result()' there"
            )
        attempt = self.current_attempt()
        with self._lock:
            if run.status.is_terminal:
                return run
            future: concurrent.futures.Future[WorkflowRun] = concurrent.futures.Future()
            self._begin_wait(run, Waiter(future, None, attempt))
        try:
            return future.result()
        finally:
            self._end_wait(run, attempt)

    def _finish_waiters(self, run: WorkflowRun) -> None:
        for waiter in self._waiters.pop(run.id, ()):
            self._deliver(waiter, run, None)

    def _deliver(
        self, waiter: Waiter, run: WorkflowRun | None, error: BaseException | None
    ) -> None:
        loop = waiter.loop
        if loop is None or (loop is self._loop and self.on_engine_loop()):
            waiter.notify(run, error)
        elif not loop.is_closed():
            loop.call_soon_threadsafe(waiter.notify, run, error)

    # ------------------------------------------------------------ stalls

    def request_stall_check(self) -> None:
        with self._lock:
            if self._stall_check_pending:
                return
            self._stall_check_pending = True
        self.post(self._check_stall)

    def _check_stall(self) -> None:
        with self._lock:
            self._stall_check_pending = False
            if not self._awaited or self._lost or self.workers_expected:
                return  # runs of a dead worker come back, or a worker is coming: not stuck
            stall = find_stall(
                self.url,
                self.clock.now(),
                list(self._workers.values()),
                self.store.runs,
                self._awaited,
            )
            if stall is None:
                return
            self._raise_stall(stall)

    def deadlock_reports(self) -> list[DeadlockReport]:
        """Every deadlock raised so far (one report may cover many runs)."""
        with self._lock:
            return list({id(r): r for r in self._deadlocks.values()}.values())

    def deadlock_for(self, run: WorkflowRun) -> DeadlockReport | None:
        """The deadlock a FAILED run was caught in, if that is why it failed."""
        return self._deadlocks.get(run.id)

    def _raise_stall(self, stall: Stall) -> None:
        # Remember the report for every run caught in it: a caller that starts waiting on
        # one of them after this moment (a race with the check) must see the same error.
        for run_id in stall.stuck_runs:
            self._deadlocks[run_id] = stall.report
        for holder in stall.report.holders:
            self._deadlocks[holder.workflow_run_id] = stall.report
        for run_id in list(self._waiters):
            if run_id not in stall.stuck_runs:
                continue
            run = self.store.runs[run_id]
            unregistered = any(
                b.workflow_run_id == run_id and not b.candidates for b in stall.report.blocked
            )
            for waiter in self._waiters.pop(run_id):
                error: Exception = (
                    UnknownWorkflowError(stall.report.render_unregistered())
                    if unregistered
                    else SlotDeadlockError(stall.report)
                )
                self._deliver(waiter, run, error)

    def find_stall(self) -> Stall | None:
        """The current stall, if any (for reports and tests)."""
        with self._lock:
            return find_stall(
                self.url,
                self.clock.now(),
                list(self._workers.values()),
                self.store.runs,
                self._awaited,
            )

    # ------------------------------------------------------------ shutdown

    def close(self) -> None:
        """Forget all state and stop the engine thread (the pytest plugin does this per test).
        Pending timers are cancelled: they hold the engine, and so every run, alive."""
        with self._lock:
            self.closed = True
            for timer in (self._schedule_timer, self._exec_timer, self._retry_timer):
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
