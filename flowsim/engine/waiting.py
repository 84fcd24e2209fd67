"""Waiting on runs, and declaring the waits that can never end.

Callers (a task awaiting its children, a test awaiting a run) register here; the
transition that finishes a run wakes them. The engine also keeps, per worker pool, how
many slots are held by runs that only wait: while some pool is full of them, every new
wait or finished run triggers the deadlock analysis (``flowsim.engine.deadlock``), and
the runs it finds stuck get ``SlotDeadlockError`` instead of waiting forever. A mixin of
the engine: it shares the engine's lock and state, kept apart so each file has one job.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextvars
from collections import Counter
from collections.abc import Sequence

from flowsim.engine.deadlock import DeadlockReport, Stall, find_stall, has_requirements
from flowsim.engine.loop import LoopHost
from flowsim.engine.runtime import AttemptState, WorkerRuntime
from flowsim.engine.waiters import Group, Waiter
from flowsim.errors import BlockingCallError, UnknownWorkflowError
from flowsim.rules import RunStatus
from flowsim.store.memory import MemoryStore
from flowsim.store.records import TaskRun, WorkflowRun

#: The attempt whose code is running in the current context (task, thread or coroutine).
CURRENT_ATTEMPT: contextvars.ContextVar[AttemptState | None] = contextvars.ContextVar(
    "flowsim_current_attempt", default=None
)


class Waiting(LoopHost):
    store: MemoryStore
    _workers: dict[str, WorkerRuntime]
    _lost: dict[str, TaskRun]
    workers_expected: int

    def __init__(self) -> None:
        super().__init__()
        self._waiters: dict[str, list[Waiter]] = {}
        self._awaited: Counter[str] = Counter()
        self._stall_check_pending = False
        self._deadlocks: dict[str, DeadlockReport] = {}
        self._saturated_pools = 0

    # ------------------------------------------------------------ waiting

    def _check_servable(self, run: WorkflowRun) -> bool:
        """Raise UnknownWorkflowError if ``run`` can never finish for want of a worker;
        True if a running worker registers its workflow (the common, cacheable answer)."""
        name = run.workflow_name
        registered = any(w.accepting and w.registers(name) for w in self._workers.values())
        if registered and not has_requirements(run.spec):
            return True
        if self.workers_expected:
            return False
        stall = find_stall(
            self.url, self.clock.now(), list(self._workers.values()), self.store.runs, {run.id: 1}
        )
        if stall is not None and any(not b.candidates for b in stall.report.blocked):
            if any(b.requires for b in stall.report.blocked):
                # workers register it but none may run it: keep the report (the simulator
                # and ``deadlock_reports`` show it), as for a deadlock
                self._deadlocks.setdefault(run.id, stall.report)
            raise UnknownWorkflowError(stall.report.render_unregistered())
        # a registered workflow whose requirements some worker meets: cacheable per batch
        return registered and stall is None

    def never_starts(self, run: WorkflowRun) -> bool:
        """Whether the run can never start: no running worker registers its workflow, or
        none may run it (required labels, a HARD pin to a worker that is gone)."""
        with self._lock:
            try:
                self._check_servable(run)
            except UnknownWorkflowError:
                return True
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
        run to end FAILED ends the wait and is returned, as ``asyncio.gather`` raises the
        first failure for hatchet_sdk's ``aio_run_many`` (a cancelled run's
        ``aio_result()`` returns, so it ends nothing)."""
        attempt = self.current_attempt()
        loop = asyncio.get_running_loop()
        group = Group(loop.create_future(), fail_fast)
        registered: list[WorkflowRun] = []
        servable: set[str] = set()
        try:
            with self._lock:
                for run in runs:
                    if run.status.is_terminal:
                        if fail_fast and run.status is RunStatus.FAILED:
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
        for run_id in sorted(stall.stuck_runs):  # not set order: reproducible
            self._deadlocks[run_id] = stall.report
        for holder in stall.report.holders:
            self._deadlocks[holder.workflow_run_id] = stall.report
        for run_id in list(self._waiters):
            if run_id not in stall.stuck_runs:
                continue
            run = self.store.runs[run_id]
            for waiter in self._waiters.pop(run_id):
                self._deliver(waiter, run, stall.report.error_for(run_id))

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
