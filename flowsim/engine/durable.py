"""The engine on a durable store shared by worker processes (SQLite file, Postgres).

It is the in-memory engine with its store calls pointed at a ``RunStore``: the same
dispatch, execution, timeouts, context and SDK surface. What differs is what another
process can do meanwhile, so:

- **claims** carry a lease and a fencing token; results are written with the token, and a
  late result of an attempt whose lease lapsed is ignored by the store;
- **heartbeats** renew the leases of every held task run while the worker lives (in a
  worker process, from a thread too while a task blocks the loop: ``lease_keeper``); a
  worker killed with SIGKILL stops renewing and its runs are re-queued on expiry;
- **waiting** re-reads the awaited runs whenever the store reports a change (a
  ``ChangeFeed`` thread), and runs the deadlock analysis on the store's snapshot, so a
  slot deadlock whose holder sits in another process is still reported, not waited on;
- **a lost database** (``DatabaseLostError``, after the store's reconnect window) reaches
  whoever made the call; heartbeats and the change listener keep going, and a result
  that could not be written is written by the next heartbeat that gets through.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import time
import uuid
import weakref
from collections.abc import Callable, Iterator, Mapping, Sequence

from flowsim.clock import Clock, TimerHandle
from flowsim.concurrency import cancels_running
from flowsim.engine.attempt_waits import AttemptWaits
from flowsim.engine.batching import CompletionBuffer, claim_batch_from_environment
from flowsim.engine.changes import ChangeFeed
from flowsim.engine.clock_skew import check_clock
from flowsim.engine.deadlock import DeadlockReport
from flowsim.engine.durable_conditions import DurableConditionWaits
from flowsim.engine.engine import Engine
from flowsim.engine.lease_keeper import LeaseKeeper
from flowsim.engine.runtime import AttemptState, Registrable, WorkerRuntime
from flowsim.engine.shared_reads import SharedReads
from flowsim.engine.timers import EarliestTimer
from flowsim.errors import (
    BlockingCallError,
    DatabaseLostError,
    FlowsimError,
    RunNotFoundError,
    SlotDeadlockError,
    TaskRunError,
)
from flowsim.idempotency import Collision
from flowsim.rules import RunStatus, SlotPool
from flowsim.store.cron_records import CronStore
from flowsim.store.durable_log import DurableLogStore
from flowsim.store.event_filters import FilterStore
from flowsim.store.protocol import (
    Claim,
    Completion,
    Outcome,
    RunRequest,
    RunStore,
    RunView,
    StreamChunk,
    TaskView,
    WorkerInfo,
)
from flowsim.store.records import JSON, TaskRun, TaskSpec, WorkflowRun, WorkflowSpec
from flowsim.store.transitions import NewRun, Transition

#: How often a waiter re-runs the deadlock analysis while nothing it waits on finishes.
STALL_CHECK_SECONDS = 0.2
#: While runs keep ending (a waiter's own, or any in the store), the system is not at a
#: standstill, and a snapshot of a large backlog is costly (a caller awaiting one parent
#: of 10,000 children spent most of a core on it): the check waits for STALL_CHECK_SECONDS
#: without progress, but never longer than this since the last one (a deadlock may hold
#: some runs while others progress), or than STALL_CHECK_SHARE of the time while they do.
STALL_CHECK_CEILING = 2.0
STALL_CHECK_SHARE = 0.05
DEFAULT_LEASE_SECONDS = 30.0


def _fallback_spec(workflow: str, task_names: Sequence[str]) -> WorkflowSpec:
    """A spec for a run this process has no definition of (triggered elsewhere)."""
    tasks = {n: TaskSpec(n, (), 0, None, None, 0.0, 0.0, False) for n in task_names}
    return WorkflowSpec(workflow, tasks)


def _task_spec(spec: WorkflowSpec, task: str) -> TaskSpec:
    """The named task's spec, or a stand-in when this process does not define it."""
    return spec.tasks.get(task) or _fallback_spec(spec.name, [task]).tasks[task]


def _stored_task(run: WorkflowRun, task: TaskView) -> TaskRun:
    """A caller-side record of a task run as the store shows it (status and results)."""
    record = TaskRun(task.id, run, _task_spec(run.spec, task.name), 0, 0, 0.0, 0.0,
                     status=task.status)  # fmt: skip
    record.output, record.error = task.output, task.error
    record.retry_count = task.retry_count
    return record


class DurableEngine(DurableConditionWaits, Engine):
    def __init__(
        self,
        url: str,
        store: RunStore,
        clock: Clock | None = None,
        lease_seconds: float = DEFAULT_LEASE_SECONDS,
    ) -> None:
        super().__init__(url, clock)
        self.run_store = store
        self.display_url = store.display_url
        self.lease_seconds = lease_seconds
        self.changes = ChangeFeed(store.wait_for_change)
        self.stream_signal = self.changes  # a chunk put in another process wakes it too
        self.reads = SharedReads(store, lambda: self.changes.generation, STALL_CHECK_SECONDS)
        self.attempt_waits = AttemptWaits(store)
        #: run objects handed to callers, refreshed in place from the store
        self._runs: weakref.WeakValueDictionary[str, WorkflowRun] = weakref.WeakValueDictionary()
        #: runs known here only from a claim, which carries what a task needs to start but
        #: not the run's priority, child key and index or triggering event: ``run_record``
        #: reads those from the store when a task asks
        self._from_claims: weakref.WeakValueDictionary[str, WorkflowRun] = (
            weakref.WeakValueDictionary()
        )
        self._specs: dict[str, WorkflowSpec] = {}
        self._wake_timer = EarliestTimer(self.clock, lambda: self.post(self._on_wake))
        self._heartbeat: TimerHandle | None = None
        #: whether this machine's clock was checked against the database's (clock_skew)
        self._clock_checked = False
        #: when (clock time) the leases are next due for renewal
        self._beat_due = 0.0
        #: results whose write failed, for the next heartbeat to write (see _store_result)
        self._unsaved: list[Callable[[], Outcome]] = []
        self._listener: asyncio.Task[None] | None = None
        #: completions of this loop turn, written together (see flowsim.engine.batching)
        self._completions = CompletionBuffer()
        #: most task runs one claim takes (see flowsim.engine.batching)
        self.claim_batch = claim_batch_from_environment()

    # ------------------------------------------------------------ run objects

    def _adopt(self, view: RunView) -> WorkflowRun:
        """The caller-facing object for a stored run, updated to what the store says."""
        run = self._runs.get(view.id)
        if run is not None:
            self._complete_from(run, view)
        else:
            spec = self._specs.get(view.workflow) or _fallback_spec(view.workflow, list(view.tasks))
            run = WorkflowRun(
                id=view.id,
                spec=spec,
                input=view.input,
                additional_metadata=view.additional_metadata,
                priority=view.priority,
                created_at=view.created_at,
                parent_task_run_id=view.parent_task_run_id,
                child_key=view.child_key,
                child_index=view.child_index,
                triggering_event=view.triggering_event,
            )
            self._runs[view.id] = run
        run.status = view.status
        run.finished_at = view.finished_at
        if view.status.is_terminal:
            for name, task in view.tasks.items():
                run.tasks[name] = _stored_task(run, task)
        return run

    def _launch(self, worker: WorkerRuntime, task_run: TaskRun) -> None:
        """A task run claimed again while an attempt of it still runs here lost its lease
        (this process's loop was too busy to renew it): that attempt is a zombie. It is
        stopped before the new one starts, or both would spawn children under one spawn
        counter and a re-attaching parent would pair its calls with the wrong runs."""
        for holder in self._workers.values():  # a lookup, not a scan: this is every launch
            zombie = holder.holders.get(task_run.id)
            if zombie is not None:
                self._stop_attempt(zombie)
        super()._launch(worker, task_run)

    def _task_run_for(self, worker: WorkerRuntime, claim: Claim, now: float) -> TaskRun:
        spec = worker.workflows[claim.workflow].spec
        run = self._runs.get(claim.run_id)
        if run is None:
            run = WorkflowRun(
                claim.run_id,
                spec,
                claim.input,
                claim.additional_metadata,
                0,
                now,
                parent_run_id=claim.parent_run_id,
            )
            self._runs[claim.run_id] = run
            self._from_claims[claim.run_id] = run
        # a run adopted from a RunView (its spawner awaits it here) lacks the parent run id
        run.parent_run_id = claim.parent_run_id
        run.status = RunStatus.RUNNING
        for name, output in claim.parent_outputs.items():
            done = TaskRun(f"{claim.run_id}/{name}", run, _task_spec(spec, name), 0, 0, now, now,
                           status=RunStatus.COMPLETED, output=output)  # fmt: skip
            run.tasks[name] = done
        task_spec = _task_spec(spec, claim.task)
        task_run = TaskRun(
            claim.task_run_id,
            run,
            task_spec,
            0,
            0,
            now,
            now,
            status=RunStatus.RUNNING,
            retry_count=claim.retry_count,
            worker_id=worker.id,
            fencing_token=claim.token,
        )
        run.tasks[claim.task] = task_run
        if task_spec.on_failure:
            self._copy_failures(run, claim)
        return task_run

    def _copy_failures(self, run: WorkflowRun, claim: Claim) -> None:
        """An on-failure task reads its run's failed tasks (``ctx.task_run_errors``); a
        claim carries only DAG parents' outputs, so read them from the store."""
        (view,) = self.run_store.get_runs([claim.run_id])
        self._complete_from(run, view)  # read anyway: no second read
        for name, task in view.tasks.items():
            if task.status is RunStatus.FAILED:
                run.tasks[name] = _stored_task(run, task)

    # ------------------------------------------------------------ store calls

    @property
    def step_store(self) -> DurableLogStore:
        return self.run_store

    def _store_evict(
        self, task_run: TaskRun, resume_at: float | None, runs: tuple[str, ...], reason: str
    ) -> Transition:
        # buffered results first, in the order the attempts ended: a run this one awaits
        # that just ended is then terminal when the eviction parks it (and is released)
        self._apply(self._write_completions())
        token, now = task_run.fencing_token, self.clock.now()
        transition = self._store_result(
            lambda: self.run_store.evict(task_run.id, token, resume_at, runs, reason, now)
        )
        self.request_dispatch()  # re-arms the wake timer for the restore's resume time
        return transition

    def _create(
        self, items: Sequence[NewRun], parent: TaskRun | None
    ) -> tuple[list[WorkflowRun | Collision], Transition]:
        requests = []
        for item in items:
            self._specs.setdefault(item.spec.name, item.spec)
            requests.append(
                RunRequest(
                    item.spec,
                    item.input,
                    item.additional_metadata,
                    item.priority,
                    item.child_key,
                    item.run_at,
                    item.trigger_key,
                    item.sticky_worker,
                    item.triggering_event,
                )
            )
        parent_id = parent.id if parent is not None else None
        self.reads.start_cursor()  # before the runs exist: their ends are all reported
        if parent is None:
            views = self.run_store.create_runs(requests, self.clock.now())
        else:  # fenced: a zombie attempt of the parent (lease lost) is refused
            views = self.run_store.create_runs(
                requests, self.clock.now(), parent_id, parent.fencing_token
            )
        created = [view for view in views if not isinstance(view, Collision)]
        self.reads.seed(created)
        if any(item.spec.limited for item in items):
            self._after_concurrency(any(cancels_running(item.spec) for item in items))
        queued = sum(1 for view in created if view.status is RunStatus.QUEUED)
        runs = [view if isinstance(view, Collision) else self._adopt(view) for view in views]
        return runs, Transition(queued=queued)

    def _dispatch(self) -> None:
        """Results first: the slot release that asked for this dispatch came just before
        its attempt's result was buffered, and a waiter should not wait for a claim."""
        self._flush_completions()
        super()._dispatch()

    def _claim(self, worker: WorkerRuntime, pool: SlotPool, free: int, now: float) -> list[TaskRun]:
        batch = min(free, self.claim_batch)
        claims = self.run_store.claim(
            worker.id, list(worker.workflows), pool, batch, now, self.lease_seconds
        )
        if batch < free and len(claims) == batch:
            self.request_dispatch()  # more may be queued: the next batch on the next turn
        return [self._task_run_for(worker, claim, now) for claim in claims]

    def _after_claims(self, now: float) -> None:
        if self.closed:  # a dispatch that ran after close must not arm a timer again
            return
        if self._dispatch_pending:
            # a claim took a full batch and asked for the next: that dispatch re-arms the
            # timer once the backlog is taken (a query per batch of 100 was a tenth of a
            # Postgres worker's store time in a fan-out)
            return
        self._wake_timer.arm(self.run_store.next_wakeup(now))

    def event_filters(self) -> FilterStore:
        return self.run_store

    def cron_store(self) -> CronStore:
        return self.run_store

    # ------------------------------------------------------------ streams

    def put_stream(self, run_id: str, task_run_id: str, index: int, data: str) -> None:
        """Stored in the shared store, so a subscriber in any process reads it."""
        self.run_store.put_stream(run_id, task_run_id, index, data, self.clock.now())
        self.changes.bump()

    async def aio_put_stream(self, run_id: str, task_run_id: str, index: int, data: str) -> None:
        await asyncio.to_thread(self.put_stream, run_id, task_run_id, index, data)

    def stream_position(self, run_id: str) -> int:
        return self.run_store.stream_position(run_id)

    def read_stream(self, run_id: str, after: int) -> list[StreamChunk]:
        return self.run_store.read_stream(run_id, after)

    async def aio_stream_position(self, run_id: str) -> int:
        return await asyncio.to_thread(self.stream_position, run_id)

    async def aio_read_stream(self, run_id: str, after: int) -> list[StreamChunk]:
        return await asyncio.to_thread(self.read_stream, run_id, after)

    def put_rate_limit(self, key: str, limit: int, window: float) -> None:
        """Write the key to the shared store; every process's waiting runs may now fit."""
        with self._lock:
            self.run_store.put_rate_limit(key, limit, window, self.clock.now())
        self.changes.bump()
        self.request_dispatch()

    def _store_complete(self, task_run: TaskRun, output: JSON) -> Transition:
        """Buffered: written with the other completions of this loop turn (or at once when
        the buffer is full, or when there is no loop to write them on later)."""
        full = self._completions.add(Completion(task_run.id, task_run.fencing_token, output))
        spec = task_run.workflow_run.spec
        if spec.limited:  # a DAG task created now may cancel a running holder elsewhere
            transition = self._write_completions()
            self._after_concurrency(cancels_running(spec))
            return transition
        if full or self._loop is None:
            return self._write_completions()
        if not self._completions.flush_posted:
            self._completions.flush_posted = True
            self.post(self._flush_completions)
        return Transition()

    def _flush_completions(self) -> None:
        """Write what is buffered: on the engine loop after the turn whose attempts
        finished, before a dispatch, or from a caller about to wait. A write that fails
        is kept for the next heartbeat (``_store_result``)."""
        with self._lock:
            if len(self._completions):
                self._apply(self._write_completions())

    def _write_completions(self) -> Transition:
        """Write every buffered completion in one ``complete_many``. Called before any
        other result or cancel is written, so the store sees results in the order the
        attempts ended, as it would one call at a time."""
        self._completions.flush_posted = False
        items = self._completions.take()
        if not items:
            return Transition()
        now = self.clock.now()

        def write(batch: list[Completion] = items) -> Outcome:
            outcomes = self.run_store.complete_many(batch, now)
            return Outcome(queued=sum(outcome.queued for outcome in outcomes))

        def one_by_one() -> list[Callable[[], Outcome]]:
            return [functools.partial(write, [item]) for item in items]

        return self._store_result(write, one_by_one)

    def _after_concurrency(self, may_cancel: bool) -> None:
        """A concurrency strategy may have cancelled runs (waiters re-read on the change
        feed) and running task runs, maybe held here: look now, as the heartbeat would."""
        self.changes.bump()
        if may_cancel:
            self.post(self._notice_cancelled)

    def _store_fail(
        self,
        task_run: TaskRun,
        error: TaskRunError,
        non_retryable: bool,
        retry_after: float | None = None,
    ) -> Transition:
        report = self._deadlocks.get(task_run.workflow_run.id)
        if error.exc_type == SlotDeadlockError.__name__ and report is not None:
            # the caller may wait in another process: it rebuilds the report from this
            error = TaskRunError(
                error.exc, error.exc_type, report.to_json(), error.task_run_external_id
            )
        self._apply(self._write_completions())
        token, now = task_run.fencing_token, self.clock.now()
        return self._store_result(
            lambda: self.run_store.fail(task_run.id, token, error, non_retryable, now, retry_after)
        )

    def _store_result(
        self,
        write: Callable[[], Outcome],
        parts: Callable[[], list[Callable[[], Outcome]]] | None = None,
    ) -> Transition:
        """Write an attempt's result. One that fails (the database lost for longer than
        the reconnect window, or any other store error: a restart's aborted pipeline, a
        write lock held past the busy timeout) is kept and written again by the next
        heartbeat that gets through. The attempt has ended here, and its task run, still
        held under this worker's renewed lease, would otherwise never end; a late write
        is harmless, its fencing token refuses it if the lease lapsed meanwhile."""
        try:
            outcome = write()
        except RunNotFoundError:
            raise  # the run is gone: writing again would fail again
        except FlowsimError as exc:
            # a batch is kept as its ``parts``, written one by one: one result the store
            # refuses for good then holds back no other
            self._unsaved.extend(parts() if parts is not None else [write])
            if self._loop is None:
                raise
            # reported now, through the loop (``flowsim worker`` exits on a lost
            # database), rather than left in the attempt's Task to be logged whenever it
            # is garbage-collected, or swallowed by a flush nobody awaits
            message = (
                "flowsim: a task's result could not be written; the next heartbeat tries again"
            )
            self._loop.call_exception_handler({"message": message, "exception": exc})
            return Transition()
        self.changes.bump()
        return Transition(queued=outcome.queued)

    def _write_unsaved(self) -> None:
        """The results kept by ``_store_result``, in order. One that fails again is kept
        for the next heartbeat and reported, and the others are still written: a write the
        store refuses for good must not hold back the rest, nor the heartbeat's other work
        (noticing cancels, syncing crons)."""
        kept: list[Callable[[], Outcome]] = []
        failures: list[FlowsimError] = []
        written = False
        for index, write in enumerate(self._unsaved):
            try:
                write()
            except DatabaseLostError:
                # the database is still away: the next heartbeat tries the rest
                self._unsaved = kept + self._unsaved[index:]
                raise
            except FlowsimError as exc:
                kept.append(write)
                failures.append(exc)
            else:
                written = True
        self._unsaved = kept
        if failures and self._loop is not None:
            message = (
                f"flowsim: {len(failures)} task result(s) still could not be written; "
                "the next heartbeat tries again"
            )
            self._loop.call_exception_handler({"message": message, "exception": failures[0]})
        if written:
            self.changes.bump()
            self.request_dispatch()

    def _store_cancel(self, run_id: str, reason: str) -> set[str]:
        self._apply(self._write_completions())
        outcome = self.run_store.cancel_run(run_id, reason, self.clock.now())
        self.changes.bump()
        if outcome.queued:
            self.request_dispatch()
        return set(outcome.finished)

    def _defined_spec(self, view: RunView) -> WorkflowSpec | None:
        return self._specs.get(view.workflow)  # not the stand-in of a run triggered elsewhere

    def _store_replay(self, targets: Mapping[str, str]) -> None:
        self._apply(self._write_completions())
        outcome = self.run_store.replay_tasks(list(targets), self.clock.now())
        self.changes.bump()
        # run objects handed out here show the replayed runs running again
        handed_out = [run_id for run_id in dict.fromkeys(targets.values()) if run_id in self._runs]
        views = self.run_store.get_runs(handed_out)
        for view in views:
            self._adopt(view)
        if outcome.queued:
            self.request_dispatch()

    def _notice_cancelled(self) -> None:
        """Stop local attempts whose task runs were cancelled by another process: the
        worker learns it on its heartbeat, as a Hatchet worker gets a cancel action."""
        held = [a for w in self._workers.values() for a in w.holders.values()]
        if not held:
            return
        views = self.run_store.get_runs(list(dict.fromkeys(a.task_run.workflow_run.id
                                                           for a in held)))  # fmt: skip
        cancelled = {
            task.id
            for view in views
            for task in view.tasks.values()
            if task.status is RunStatus.CANCELLED
        }
        self._stop_attempts(lambda attempt: attempt.task_run.id in cancelled)

    def _has_ready(self) -> bool:
        return True  # another process may have queued work: a freed slot always looks

    def _apply(self, transition: Transition) -> None:
        """Waiters re-read the store on the change feed; only dispatch is left to do."""
        if transition.queued:
            self.request_dispatch()

    def _on_wake(self) -> None:
        """The wake timer fired: it is no longer armed; expire what is due."""
        self._wake_timer.fired()
        self._expire_and_dispatch()

    def _expire_and_dispatch(self) -> None:
        """Time passed or another process changed something: expire what is due
        (backoffs, schedule deadlines, leases) and claim."""
        with self._lock:
            outcome = self.run_store.expire(self.clock.now())
        if outcome.queued or outcome.finished:
            self.changes.bump()
        self.request_dispatch()

    # ------------------------------------------------------------ workers

    def _worker_id(self, order: int, name: str) -> str:
        return f"{name}-{uuid.uuid4().hex[:12]}"

    def add_worker(
        self,
        name: str,
        capacity: dict[SlotPool, int],
        workflows: Sequence[Registrable],
        labels: dict[str, str | int] | None = None,
    ) -> WorkerRuntime:
        if not self._clock_checked:
            check_clock(self.run_store, self.clock, self.lease_seconds, self.display_url)
            self._clock_checked = True
        runtime = super().add_worker(name, capacity, workflows, labels)
        for workflow in workflows:
            self._specs[workflow.spec.name] = workflow.spec
        info = WorkerInfo(
            runtime.id, name, dict(capacity), tuple(runtime.workflows), dict(runtime.labels)
        )
        self.run_store.register_worker(info, self.clock.now(), self.lease_seconds)
        # both set things up on the loop (a timer, a task): from a sync test's thread they
        # are posted to it, as asyncio wants
        self.on_loop_locked(self._beat)
        self.on_loop_locked(self._start_listening)
        return runtime

    def _start_listening(self) -> None:
        if self._listener is None and self._loop is not None:
            self._listener = self._loop.create_task(self._listen())

    def set_worker_labels(self, runtime: WorkerRuntime, labels: dict[str, str | int]) -> None:
        super().set_worker_labels(runtime, labels)
        self.run_store.set_worker_labels(runtime.id, dict(runtime.labels))
        self.changes.bump()

    def _beat(self) -> None:
        """Renew every local worker's lease, a third of a lease apart. The next beat is
        armed first: a heartbeat that fails (the database lost for longer than the
        reconnect window) must not end the heartbeats for good, or a worker that outlives
        the outage would run work under leases nobody renews."""
        with self._lock:
            if self.closed or not self._workers:
                self._heartbeat = None
                return
            now = self.clock.now()
            if self._heartbeat is not None:
                self._heartbeat.cancel()
            self._beat_due = now + self.lease_seconds / 3
            self._heartbeat = self.clock.call_at(self._beat_due, lambda: self.post(self._beat))
            for worker in self._workers.values():
                self.run_store.heartbeat(worker.id, now, self.lease_seconds)
            self._write_unsaved()
            self._notice_cancelled()
            self.sync_crons()  # crons another process made or deleted

    def _between_batches(self) -> None:
        """The heartbeat runs on the event loop, which a bulk trigger does not return to
        until its last batch is written: one that outlasts a third of the lease renews the
        leases here instead. Otherwise a fan-out large enough (about 45 µs a child on
        SQLite here, so some 650,000 children in one call for a 30 s lease; fewer on a
        slower database) would lose the parent's lease while it spawns, and its next
        batch would be refused as a zombie's. (A trigger from another thread leaves the
        loop free to beat on time.)"""
        if self.clock.now() >= self._beat_due and self.on_engine_loop():
            self._beat()

    @contextlib.contextmanager
    def keeping_leases(self) -> Iterator[None]:
        """A worker process's leases are renewed from a thread while its loop is blocked
        (see ``flowsim.engine.lease_keeper``). Only while it serves: an in-process worker
        (a test, a script) keeps the loop-only heartbeat."""
        keeper = LeaseKeeper(self.lease_seconds / 6, self._beat_overdue, self._renew_blocked)
        keeper.start()
        try:
            yield
        finally:
            keeper.stop()

    def _beat_overdue(self) -> bool:
        """The loop's heartbeat, once armed, is half a lease late: the loop is blocked."""
        late = self.clock.now() > self._beat_due + self.lease_seconds / 6
        return late and self._heartbeat is not None and not self.closed

    def _renew_blocked(self) -> bool:
        """Renew, from the keeper's thread, the leases of each worker holding an attempt
        still within its execution timeout (or holding none); whether any was renewed.
        Reads the loop's dicts without its lock: a copy of one is a single step for the
        interpreter, and the loop thread, blocked, is not changing them."""
        now = self.clock.now()
        renewed = False
        for worker in list(self._workers.values()):
            attempts = list(worker.holders.values())
            if attempts and now > max(attempt.deadline for attempt in attempts):
                continue  # blocked past every timeout: the leases lapse, others re-run them
            self.run_store.heartbeat(worker.id, now, self.lease_seconds)
            renewed = True
        return renewed

    async def _listen(self) -> None:
        """Work queued by other processes: claim when the store reports a change. A
        database lost for longer than the reconnect window is the waiters' and the
        heartbeat's to report (``flowsim worker`` exits on it); this loop keeps going, so
        an in-process worker claims again once the database is back."""
        try:
            while self._workers and not self.closed:
                seen = self.changes.generation
                await self.changes.changed_since(seen)
                if self.closed:
                    return
                with contextlib.suppress(DatabaseLostError):
                    self._expire_and_dispatch()
        finally:
            self._listener = None

    async def drain_worker(self, runtime: WorkerRuntime) -> None:
        self.run_store.stop_worker(runtime.id)
        await super().drain_worker(runtime)

    # ------------------------------------------------------------ waiting

    def request_stall_check(self) -> None:
        """Stalls are found by the waiters themselves, on the store's snapshot."""

    async def wait(self, run: WorkflowRun) -> WorkflowRun:
        await self.wait_many([run], fail_fast=False)
        return run

    async def wait_many(
        self, runs: Sequence[WorkflowRun], *, fail_fast: bool
    ) -> WorkflowRun | None:
        self._flush_completions()  # a run that just ran inline here is then seen ended
        watch = _Watch(self, runs, fail_fast, self.current_attempt())
        try:
            while True:
                seen = self.changes.generation
                done, failure = watch.step(seen)
                if done:
                    return failure
                await self.changes.changed_since(seen)
                delay = self.reads.read_delay(len(watch.pending))
                if delay:
                    await asyncio.sleep(delay)
        finally:
            watch.close()

    def wait_blocking(self, run: WorkflowRun) -> WorkflowRun:
        if self.on_engine_loop():
            raise BlockingCallError(
                "run()/result() blocks, and was called on the engine's event loop; use "
                "'await wf.aio_run(...)' there"
            )
        self._flush_completions()
        watch = _Watch(self, [run], False, self.current_attempt())
        try:
            while True:
                seen = self.changes.generation
                done, _ = watch.step(seen)
                if done:
                    return run
                self.changes.changed_since_blocking(seen)
                time.sleep(self.reads.read_delay(len(watch.pending)))
        finally:
            watch.close()

    def run_views(self, run_ids: Sequence[str] | None = None) -> list[RunView]:
        # deadlines that passed with no worker or waiter to expire them are applied first:
        # a run read after its schedule timeout is CANCELLED, as a Hatchet server shows it
        if self.run_store.expire(self.clock.now()).queued:
            self.request_dispatch()
        ids = self.run_store.run_ids() if run_ids is None else run_ids
        return self.run_store.get_runs(ids)

    def workflow_run(self, run_id: str) -> WorkflowRun:
        (view,) = self.run_views([run_id])
        with self._lock:
            return self._adopt(view)

    def run_record(self, run: WorkflowRun) -> WorkflowRun:
        """``run`` with every fact the store holds of it (see ``_from_claims``)."""
        if run.id in self._from_claims:
            (view,) = self.run_store.get_runs([run.id], attempts=False)
            self._complete_from(run, view)
        return run

    def _complete_from(self, run: WorkflowRun, view: RunView) -> None:
        """Fill in what a claim did not carry of ``run``, if it came from one."""
        if self._from_claims.pop(run.id, None) is not None:
            _fill_from_view(run, view)

    def deadlock_for(self, run: WorkflowRun) -> DeadlockReport | None:
        """The deadlock a FAILED run was caught in, found here or in another process."""
        local = super().deadlock_for(run)
        if local is not None:
            return local
        for error in run.errors():
            if error.exc_type == SlotDeadlockError.__name__:
                try:
                    return DeadlockReport.from_dict(json.loads(error.trace))
                except (ValueError, KeyError, TypeError):
                    return None
        return None

    def close(self) -> None:
        with self._lock:
            # results of attempts that ended are written; a lost database loses them, and
            # their leases then expire and re-run them, as after a crash
            with contextlib.suppress(DatabaseLostError):
                self._write_completions()
            self._wake_timer.cancel()
            if self._heartbeat is not None:
                self._heartbeat.cancel()
        self.changes.stop()
        super().close()
        self.run_store.close()
        self.changes.join()


class _Watch:
    """One wait on runs in a durable store: re-read them on every change, expire what is
    due, and look for a deadlock on the snapshot every STALL_CHECK_SECONDS."""

    def __init__(
        self,
        engine: DurableEngine,
        runs: Sequence[WorkflowRun],
        fail_fast: bool,
        attempt: AttemptState | None,
    ) -> None:
        self.engine = engine
        self.fail_fast = fail_fast
        self.pending = {run.id: run for run in runs if not run.status.is_terminal}
        # an evictable durable holder's waits are not recorded: the snapshot's deadlock
        # analysis then counts it as freeing its slot, which eviction will do
        rule = attempt.runnable.eviction if attempt is not None else None
        self.attempt = attempt if rule is None or not rule.frees_slot else None
        # not at once: the waits a parent begins together (gather) are all in the report
        self.next_check = time.monotonic() + STALL_CHECK_SECONDS / 2
        self.latest_check = time.monotonic() + STALL_CHECK_CEILING
        self.watched = list(self.pending)
        #: how far this wait has read the log of ended runs (None: not yet)
        self.position: int | None = None
        if self.attempt is not None and self.watched:
            engine.attempt_waits.add(self.attempt.task_run.id, self.watched)
        engine.reads.watch(self.watched)

    def step(self, seen: int) -> tuple[bool, WorkflowRun | None]:
        """(done, first failure): done when every run ended or, with fail_fast, one failed;
        ``seen`` is the change generation the caller saw before this step."""
        engine = self.engine
        if not self.pending:
            return True, None
        before = len(self.pending)
        ended = None
        if self.position is not None:
            ended = engine.reads.ended_views(self.pending, seen, self.position)
        if ended is None:  # the first step, or one that fell behind the log: read all
            ended = engine.reads.first_views(list(self.pending), seen)
        views, self.position = ended
        for view in views:
            if not view.status.is_terminal:
                continue  # a first read's seeded views: nothing to learn from them yet
            run = engine._adopt(view)
            del self.pending[run.id]
            if self.fail_fast and run.status is RunStatus.FAILED:
                return True, run
        if not self.pending:
            return True, None
        now = time.monotonic()
        progressed = engine.reads.ended_at > now - STALL_CHECK_SECONDS
        if len(self.pending) < before or progressed:  # look for a deadlock once it stops
            self.next_check = min(max(self.next_check, now + STALL_CHECK_SECONDS),
                                  self.latest_check)  # fmt: skip
        standstill_due = self.next_check <= now < self.latest_check
        if standstill_due and engine.reads.progressed(now - STALL_CHECK_SECONDS):
            # not a standstill after all: runs elsewhere in the store keep ending
            self.next_check = min(now + STALL_CHECK_SECONDS, self.latest_check)
        if now >= self.next_check:
            self._check_stall()
            now = time.monotonic()
            self.next_check = now + STALL_CHECK_SECONDS
            spacing = max(STALL_CHECK_CEILING, engine.reads.check_cost / STALL_CHECK_SHARE)
            self.latest_check = now + spacing
        return False, None

    def _check_stall(self) -> None:
        engine = self.engine
        engine.attempt_waits.flush()  # the snapshot must show every wait begun so far
        check = engine.reads.stall_check(engine.clock.now(), self.pending)
        if check.fresh and check.expired.queued:
            engine.request_dispatch()
        stall = check.stall
        if stall is None or stall.stuck_runs.isdisjoint(self.pending):
            return
        if (
            any(not blocked.candidates for blocked in stall.report.blocked)
            and not stall.report.holders
        ):
            return  # no worker registers it yet: one may start (Hatchet queues it too)
        for run_id in stall.stuck_runs:
            engine._deadlocks[run_id] = stall.report
        raise stall.report.error_for(min(stall.stuck_runs.intersection(self.pending)))

    def close(self) -> None:
        self.engine.reads.unwatch(self.watched)
        if self.attempt is not None and self.watched:
            self.engine.attempt_waits.remove(self.attempt.task_run.id, self.watched)


def _fill_from_view(run: WorkflowRun, view: RunView) -> None:
    """What a claim does not carry of a run, from the stored view of it."""
    run.priority = view.priority
    run.created_at = view.created_at
    run.parent_task_run_id = view.parent_task_run_id
    run.child_key = view.child_key
    run.child_index = view.child_index
    run.triggering_event = view.triggering_event
