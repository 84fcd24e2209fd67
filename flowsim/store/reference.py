"""The in-memory store behind the ``RunStore`` protocol: the reference the SQL stores are
held to by the contract suite and the state-machine test.

It adds to ``MemoryStore`` only what a shared, multi-process store needs and a single
process does not: fencing tokens, leases, a worker registry and recorded waits. Every
scheduling decision is still ``MemoryStore``'s, which is to say ``flowsim.rules``'.
"""

from __future__ import annotations

import dataclasses
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from flowsim.errors import RunNotFoundError, StaleAttemptError, TaskRunError
from flowsim.idempotency import Collision
from flowsim.placement import LabelValue, Peer
from flowsim.rules import RunStatus, SlotPool
from flowsim.store.conditions import ConditionSpec
from flowsim.store.cron_records import StoredCron
from flowsim.store.durable_log import DurableStep
from flowsim.store.event_filters import FilterChange, StoredFilter
from flowsim.store.failures import lease_lost_reason
from flowsim.store.memory import MemoryStore
from flowsim.store.placement_filter import ClaimFilter, Deferrals
from flowsim.store.protocol import (
    AttemptView,
    Claim,
    Completion,
    Finished,
    HeldTask,
    Outcome,
    QueuedTask,
    RunProgress,
    RunRequest,
    RunView,
    Snapshot,
    StreamChunk,
    TaskView,
    WorkerInfo,
    WorkerState,
)
from flowsim.store.records import JSON, TaskRun, WorkflowRun
from flowsim.store.transitions import NewRun, Transition
from flowsim.store.views import task_run_not_found, without_attempts


@dataclass(slots=True)
class _Worker:
    info: WorkerInfo
    lease_expires_at: float
    accepting: bool = True


def task_view(task_run: TaskRun) -> TaskView:
    return TaskView(
        id=task_run.id,
        name=task_run.name,
        status=task_run.status,
        retry_count=task_run.retry_count,
        output=task_run.output,
        error=task_run.error,
        worker_id=task_run.worker_id,
        attempts=tuple(
            AttemptView(
                a.number, a.worker, a.queued_at, a.started_at, a.finished_at, a.outcome, a.error
            )
            for a in task_run.attempts
        ),
    )


def run_view(run: WorkflowRun) -> RunView:
    return RunView(
        id=run.id,
        workflow=run.workflow_name,
        status=run.status,
        input=run.input,
        additional_metadata=dict(run.additional_metadata),
        priority=run.priority,
        created_at=run.created_at,
        finished_at=run.finished_at,
        parent_task_run_id=run.parent_task_run_id,
        child_key=run.child_key,
        child_index=run.child_index,
        tasks={name: task_view(task) for name, task in run.tasks.items()},
        triggering_event=run.triggering_event,
    )


def _merge(outcomes: Iterable[Transition]) -> Outcome:
    finished: list[str] = []
    queued = 0
    for transition in outcomes:
        finished.extend(run.id for run in transition.finished)
        queued += transition.queued
    return Outcome(True, tuple(finished), queued)


class ReferenceStore:
    display_url = "memory://reference"

    def __init__(self) -> None:
        self.inner = MemoryStore()
        self._tokens: dict[str, int] = {}
        self._leases: dict[str, float] = {}
        self._workers: dict[str, _Worker] = {}
        self._waits: dict[str, tuple[str, ...]] = {}
        #: ends of placement patience this store's claims passed over (``next_wakeup``)
        self._deferred = Deferrals()
        #: ids of runs in the order they ended: ``finished_since``'s cursor is a position
        self._ended: list[str] = []
        #: set by ``close``, ending a ``wait_for_change`` in progress
        self._closing = threading.Event()

    def _record(self, outcome: Outcome) -> Outcome:
        """Note the runs an outcome ended, for ``finished_since``."""
        self._ended.extend(outcome.finished)
        return outcome

    def migrate(self) -> None:
        """Nothing to create: the schema is the Python classes."""

    def close(self) -> None:
        """Nothing to release but a waiting thread."""
        self._closing.set()

    # ------------------------------------------------------------ runs

    def create_runs(
        self,
        requests: Sequence[RunRequest],
        now: float,
        parent_task_run_id: str | None = None,
        parent_token: int | None = None,
    ) -> list[RunView | Collision]:
        parent = None
        if parent_task_run_id is not None:
            parent = self.inner.task_runs.get(parent_task_run_id)
            if parent is None:
                raise RunNotFoundError(f"no task run with id {parent_task_run_id!r}")
            if parent_token is not None and self._held(parent_task_run_id, parent_token) is None:
                raise StaleAttemptError(parent_task_run_id, parent_token)
        items = [
            NewRun(
                r.spec,
                r.input,
                dict(r.additional_metadata),
                r.priority,
                r.child_key,
                r.run_at,
                r.trigger_key,
                r.sticky_worker,
                r.triggering_event,
            )
            for r in requests
        ]
        runs, transition = self.inner.create_runs(items, now, parent)
        self._record(self._outcome([transition]))  # a concurrency strategy may end runs
        return [run if isinstance(run, Collision) else run_view(run) for run in runs]

    def get_runs(self, run_ids: Sequence[str], *, attempts: bool = True) -> list[RunView]:
        views = [run_view(self.inner.get_run(run_id)) for run_id in run_ids]
        return views if attempts else [without_attempts(view) for view in views]

    def get_progress(self, run_ids: Sequence[str]) -> list[RunProgress]:
        return [
            RunProgress(view.id, view.status, view.finished_at, view.tasks)
            for view in self.get_runs(run_ids, attempts=False)
        ]

    def run_ids(self) -> list[str]:
        return list(self.inner.runs)

    def finished_since(self, cursor: int | None) -> Finished:
        end = len(self._ended)
        if cursor is None:
            return Finished((), end)
        return Finished(tuple(self._ended[cursor:]), end)

    # ------------------------------------------------------------ claiming and outcomes

    def claim(
        self,
        worker_id: str,
        workflows: Sequence[str],
        pool: SlotPool,
        free: int,
        now: float,
        lease_seconds: float,
    ) -> list[Claim]:
        self.inner.release_due_retries(now)
        claims: list[Claim] = []
        placement = self._claim_filter(worker_id, now)
        claimed = self.inner.claim(workflows, pool, free, worker_id, now, placement)
        if placement is not None and placement.deferred_until is not None:
            self._deferred.add(placement.deferred_until)
        for task_run in claimed:
            token = self._tokens.get(task_run.id, 0) + 1
            self._tokens[task_run.id] = token
            self._leases[task_run.id] = now + lease_seconds
            run = task_run.workflow_run
            parent = self.inner.task_runs.get(run.parent_task_run_id or "")
            claims.append(
                Claim(
                    task_run_id=task_run.id,
                    run_id=run.id,
                    workflow=run.workflow_name,
                    task=task_run.name,
                    pool=task_run.spec.pool,
                    slot_cost=task_run.spec.slot_cost,
                    retry_count=task_run.retry_count,
                    token=token,
                    input=run.input,
                    additional_metadata=dict(run.additional_metadata),
                    parent_outputs={
                        name: run.tasks[name].output
                        for name in task_run.spec.parents
                        if name in run.tasks
                    },
                    parent_run_id=parent.workflow_run.id if parent is not None else None,
                    lease_expires_at=now + lease_seconds,
                )
            )
        return claims

    def _claim_filter(self, worker_id: str, now: float) -> ClaimFilter:
        worker = self._workers.get(worker_id)
        labels = worker.info.labels if worker is not None else {}

        def peers(workflow: str, pool: SlotPool) -> list[Peer]:
            used: dict[str, int] = {}
            for task_run_id in self._leases:
                held = self.inner.task_runs[task_run_id]
                if held.spec.pool is pool and held.worker_id is not None:
                    used[held.worker_id] = used.get(held.worker_id, 0) + held.spec.slot_cost
            return [
                Peer(w.info.id, w.info.labels, w.info.capacity[pool] - used.get(w.info.id, 0))
                for w in self._workers.values()
                if w.accepting and w.lease_expires_at > now and workflow in w.info.workflows
                and w.info.capacity.get(pool, 0) > 0
            ]  # fmt: skip

        def pin(run_id: str, worker: str) -> str:
            run = self.inner.runs[run_id]
            if run.sticky_worker is None:
                run.sticky_worker = worker
            return run.sticky_worker

        return ClaimFilter(
            worker_id, labels, now, peers, lambda run_id: self.inner.runs[run_id].sticky_worker, pin
        )

    def _task_run(self, task_run_id: str) -> TaskRun:
        task_run = self.inner.task_runs.get(task_run_id)
        if task_run is None:
            raise task_run_not_found(task_run_id)
        return task_run

    def _held(self, task_run_id: str, token: int) -> TaskRun | None:
        task_run = self.inner.task_runs.get(task_run_id)
        if task_run is None or task_run.status is not RunStatus.RUNNING:
            return None
        if self._tokens.get(task_run_id) != token:
            return None
        return task_run

    def _release(self, task_run_id: str) -> None:
        self._leases.pop(task_run_id, None)
        self._waits.pop(task_run_id, None)

    def complete(self, task_run_id: str, token: int, output: JSON, now: float) -> Outcome:
        task_run = self._held(task_run_id, token)
        if task_run is None:
            return Outcome(accepted=False)
        self._release(task_run_id)
        return self._record(self._outcome([self.inner.complete(task_run, output, now)]))

    def complete_many(self, items: Sequence[Completion], now: float) -> list[Outcome]:
        return [self.complete(item.task_run_id, item.token, item.output, now) for item in items]

    def fail(
        self,
        task_run_id: str,
        token: int,
        error: TaskRunError,
        non_retryable: bool,
        now: float,
        retry_after: float | None = None,
    ) -> Outcome:
        task_run = self._held(task_run_id, token)
        if task_run is None:
            return Outcome(accepted=False)
        self._release(task_run_id)
        failed = self.inner.fail(task_run, error, non_retryable, now, retry_after)
        return self._record(self._outcome([failed]))

    def _fence_cancelled(self, transitions: Iterable[Transition]) -> None:
        """Running task runs a concurrency strategy cancelled as a side effect are fenced
        off as ``cancel_run`` fences its own: their lease ends, their token moves on."""
        for transition in transitions:
            for task_run in transition.cancelled:
                self._release(task_run.id)
                self._tokens[task_run.id] = self._tokens.get(task_run.id, 0) + 1

    def _outcome(self, transitions: list[Transition]) -> Outcome:
        self._fence_cancelled(transitions)
        return _merge(transitions)

    def replay_tasks(self, task_run_ids: Sequence[str], now: float) -> Outcome:
        task_runs = [self._task_run(task_run_id) for task_run_id in task_run_ids]
        # a replay arriving in its groups may cancel runs (concurrency strategies)
        return self._record(self._outcome([self.inner.replay(task_runs, now)]))

    def cancel_run(self, run_id: str, reason: str, now: float) -> Outcome:
        cancelled, transition = self.inner.cancel_family(run_id, reason, now)
        for task_run in cancelled:
            if task_run not in transition.cancelled:  # fenced below
                self._release(task_run.id)
                self._tokens[task_run.id] = self._tokens.get(task_run.id, 0) + 1
        return self._record(self._outcome([transition]))

    # ------------------------------------------------------------ durable tasks

    def durable_steps(self, task_run_id: str) -> list[DurableStep]:
        return self.inner.durable_steps(task_run_id)

    def record_steps(self, task_run_id: str, steps: Sequence[DurableStep]) -> list[DurableStep]:
        return self.inner.record_steps(task_run_id, steps)

    def evict(
        self,
        task_run_id: str,
        token: int,
        resume_at: float | None,
        awaiting: Sequence[str],
        reason: str,
        now: float,
    ) -> Outcome:
        task_run = self._held(task_run_id, token)
        if task_run is None:
            return Outcome(accepted=False)
        self._release(task_run_id)
        return self._record(
            _merge([self.inner.evict(task_run, resume_at, tuple(awaiting), reason, now)])
        )

    def put_rate_limit(self, key: str, limit: int, window: float, now: float) -> Outcome:
        return self._record(_merge([self.inner.put_rate_limit(key, limit, window, now)]))

    # ------------------------------------------------------------ time

    def expire(self, now: float) -> Outcome:
        steps = [
            self.inner.release_parked(now),
            self.inner.fire_due_waits(now),
            self.inner.release_due_retries(now),
            self.inner.expire_schedule_timeouts(now),
        ]
        for task_run_id, lease in sorted(self._leases.items(), key=lambda item: item[1]):
            if lease > now:
                continue
            task_run = self.inner.task_runs[task_run_id]
            self._release(task_run_id)
            reason = lease_lost_reason(task_run.worker_id)
            steps.append(self.inner.requeue_lost(task_run, reason, now))
        return self._record(self._outcome(steps))

    def push_event(self, key: str, payload: JSON, additional_metadata: JSON, now: float) -> Outcome:
        # an event may skip or cancel tasks (ending runs) and admit concurrency places
        return self._record(
            self._outcome([self.inner.push_event(key, payload, additional_metadata, now)])
        )

    def put_stream(self, run_id: str, task_run_id: str, index: int, data: str, now: float) -> None:
        self.inner.streams.put(run_id, task_run_id, index, data)

    def stream_position(self, run_id: str) -> int:
        return self.inner.streams.position(run_id)

    def read_stream(self, run_id: str, after: int) -> list[StreamChunk]:
        return self.inner.streams.read(run_id, after)

    # ------------------------------------------------------------ event filters

    def create_filter(self, new: StoredFilter) -> StoredFilter:
        return self.inner.filters.create_filter(new)

    def get_filter(self, filter_id: str) -> StoredFilter | None:
        return self.inner.filters.get_filter(filter_id)

    def update_filter(
        self, filter_id: str, change: FilterChange, now: float
    ) -> StoredFilter | None:
        return self.inner.filters.update_filter(filter_id, change, now)

    def delete_filter(self, filter_id: str) -> StoredFilter | None:
        return self.inner.filters.delete_filter(filter_id)

    def list_filters(
        self,
        workflow_ids: Sequence[str] | None,
        scopes: Sequence[str] | None,
        limit: int,
        offset: int,
    ) -> tuple[list[StoredFilter], int]:
        return self.inner.filters.list_filters(workflow_ids, scopes, limit, offset)

    # ------------------------------------------------------------ crons

    def create_cron(self, new: StoredCron) -> StoredCron:
        return self.inner.crons.create_cron(new)

    def get_cron(self, cron_id: str) -> StoredCron | None:
        return self.inner.crons.get_cron(cron_id)

    def delete_cron(self, cron_id: str) -> StoredCron | None:
        return self.inner.crons.delete_cron(cron_id)

    def list_crons(self) -> list[StoredCron]:
        return self.inner.crons.list_crons()

    def open_wait(
        self, wait_id: str, task_run_id: str, conditions: Sequence[ConditionSpec], now: float
    ) -> None:
        self.inner.open_wait(wait_id, task_run_id, tuple(conditions), now)

    def wait_result(self, wait_id: str) -> JSON:
        return self.inner.wait_result(wait_id)

    def next_wakeup(self, now: float) -> float | None:
        candidates = [
            when
            for when in (
                self.inner.next_retry_due(),
                self.inner.next_schedule_deadline(),
                min(self._leases.values(), default=None),
                self._deferred.next_after(now),
            )
            if when is not None
        ]
        return min(candidates, default=None)

    # ------------------------------------------------------------ workers and waits

    def register_worker(self, info: WorkerInfo, now: float, lease_seconds: float) -> None:
        self._workers[info.id] = _Worker(info, now + lease_seconds)

    def heartbeat(self, worker_id: str, now: float, lease_seconds: float) -> None:
        worker = self._workers.get(worker_id)
        if worker is not None:
            worker.lease_expires_at = now + lease_seconds
        for task_run_id in self._leases:
            if self.inner.task_runs[task_run_id].worker_id == worker_id:
                self._leases[task_run_id] = now + lease_seconds

    def set_worker_labels(self, worker_id: str, labels: dict[str, LabelValue]) -> None:
        worker = self._workers.get(worker_id)
        if worker is not None:
            worker.info = dataclasses.replace(worker.info, labels=dict(labels))

    def stop_worker(self, worker_id: str) -> None:
        worker = self._workers.get(worker_id)
        if worker is not None:
            worker.accepting = False

    def set_waiting(self, task_run_id: str, run_ids: Sequence[str]) -> None:
        if task_run_id in self._leases:
            self._waits[task_run_id] = tuple(run_ids)

    def snapshot(self, now: float, awaited: Sequence[str] = ()) -> Snapshot:
        workers = tuple(
            WorkerState(w.info, w.lease_expires_at, w.accepting)
            for w in self._workers.values()
            if w.lease_expires_at > now
        )
        held: list[HeldTask] = []
        queued: list[QueuedTask] = []
        status: dict[str, RunStatus] = {}
        for task_run in self.inner.task_runs.values():
            run = task_run.workflow_run
            if task_run.status is RunStatus.RUNNING and task_run.id in self._leases:
                waits = self._waits.get(task_run.id, ())
                held.append(
                    HeldTask(
                        task_run.id,
                        run.id,
                        run.workflow_name,
                        task_run.name,
                        task_run.spec.pool,
                        task_run.spec.slot_cost,
                        task_run.worker_id or "",
                        waits,
                    )
                )
                status[run.id] = run.status
                for waited in waits:
                    status[waited] = self.inner.get_run(waited).status
            elif task_run.status is RunStatus.QUEUED:
                queued.append(
                    QueuedTask(
                        task_run.id,
                        run.id,
                        run.workflow_name,
                        task_run.name,
                        task_run.spec.pool,
                        task_run.spec.slot_cost,
                        task_run.ready_at,
                    )
                )
                status[run.id] = run.status
        for run_id in awaited:
            status[run_id] = self.inner.get_run(run_id).status
        return Snapshot(now, workers, tuple(held), tuple(queued), status)

    def wait_for_change(self, timeout: float) -> None:
        """Only this process changes an in-memory store: nothing can arrive meanwhile."""
        self._closing.wait(timeout)
