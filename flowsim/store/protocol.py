"""The run store protocol: what a durable backend must do, in domain terms.

Worker processes on many machines share one store (a SQLite file, a Postgres database), so
everything here is addressed by id and carried as JSON-shaped values; nothing holds a live
object of another process. Every transition follows ``flowsim.rules`` (retry decisions,
DAG readiness and cancellation, status roll-up, claim order, child de-duplication), the
same functions the in-memory store calls, and the contract suite
(``flowsim.testing.contract``) holds every implementation to the in-memory reference.

Semantics every store implements exactly:

- **Time is a parameter.** No method reads a clock; ``now`` comes from the caller's
  injected clock (SQL receives it as a bound parameter), so leases, backoff and timeouts
  are testable without sleeping.
- **create_runs** is atomic for the whole batch. With ``parent_task_run_id`` each item is
  a child: its spawn index is the parent task run's counter (incremented per item, reset
  when the task run is retried or reclaimed) and it is de-duplicated by
  ``rules.child_spawn_key(parent, child_key, index)``: spawning it again returns the run
  that exists. A child inherits the parent run's additional metadata (its own keys win).
  A new run's root tasks are QUEUED with ``ready_at = enqueued_at = now`` and a schedule
  deadline of ``now + schedule_timeout``. A **scheduled** run (``run_at`` later than
  ``now``) has them wait as a retry waits out its backoff: ``ready_at = run_at``, not
  claimable before, schedule clock starting then, ``next_wakeup`` reporting it. A
  top-level run with a ``trigger_key`` is de-duplicated by ``rules.trigger_spawn_key``.
  With ``parent_token`` the spawn is fenced like a completion: unless the parent task run
  is RUNNING with that token, nothing is created, no spawn index is used and
  ``StaleAttemptError`` is raised (a zombie attempt must not shift the numbering of the
  children the attempt holding the task run now spawns).
- **claim** takes up to ``free`` slots' worth of QUEUED, ready (``ready_at <= now``) task
  runs of the given workflows in one pool, in ``rules.claim_key`` order (priority high
  first, then creation/requeue sequence) across those workflows, stopping at the first
  whose ``slot_cost`` does not fit. Each becomes RUNNING on the worker with a new attempt,
  a lease until ``now + lease_seconds`` and a new **fencing token** (strictly greater than
  any earlier token of that task run). Concurrent claimers never get the same task run.
  **Placement** (``flowsim.store.placement_filter``, ``flowsim.placement``): a task run
  whose task has desired labels or whose workflow is sticky is passed over (it stays
  queued, later ones are still claimed) when the worker misses a required label or the
  run is HARD-pinned to another worker, or, for ``PREFERENCE_PATIENCE`` seconds after it
  became claimable, when a live accepting worker registering it with a free slot scores
  better. Taking the first task run of a sticky run pins the run to the worker (a child
  created with ``sticky_worker`` is pinned from the start); ``next_wakeup`` includes the
  end of the patience of a task run this process passed over.
- **complete / fail** are fenced: they apply only if the task run is RUNNING with that
  token; otherwise nothing changes and ``Outcome.accepted`` is False (a late result of a
  reclaimed or timed-out attempt is ignored, so a completion is never recorded twice).
  ``fail`` follows ``rules.decide_after_failure``: a retry re-queues the task run with
  ``retry_count + 1``, priority ``rules.RETRY_PRIORITY``, ``ready_at`` from the backoff,
  a fresh sequence and spawn index 0; otherwise it ends FAILED. Every terminal task
  advances its run's DAG (``rules.upstream_cancelled``, ``rules.ready_tasks``,
  ``rules.rollup_status``).
- **rate limits**: a claimed task run with ``rate_limits`` first passes
  ``flowsim.rate_limits.admit`` against the stored keys, in the claim's transaction (two
  claimers never take the same units). One that is not admitted stays QUEUED, is skipped
  (the next in claim order may be claimed), and is not looked at again until its short key
  refills (``next_wakeup`` reports that instant) or, if no refill can admit it (key never
  put, units above the limit), until a key is put or a dynamic upsert creates one (released
  when the claim ends); its schedule deadline runs.
- **complete_many** is ``complete`` applied to each item in order, in one transaction:
  each item is fenced on its own (a stale token rejects that item only), and the outcomes
  come back in item order. A worker finishing many task runs at once pays for one commit.
- **finished_since** reads what changed cheaply: the ids of runs that reached a terminal
  status after a cursor, so a parent waiting on 10,000 children re-reads only those that
  ended, not every pending one. It may report a run more than once (callers re-read).
- **replay_tasks** (``hatchet.runs.replay``; the engine chooses whole replay sets, a task
  and everything downstream of it, all ended: ``flowsim.engine.run_replay``): each named
  task run that has ended is queued again under its id as its next retry:
  ``retry_count + 1``, which becomes the base its retries count from (``failures.decide``:
  the whole retry budget is back), output and error cleared, spawn index 0 (a body that
  runs again re-attaches to its children), a fresh sequence, ready and enqueued at ``now``
  with a new schedule deadline, priority ``rules.RETRY_PRIORITY`` — at once if none of
  its DAG parents is named (``dag.replay_now``, definition order, runs in the order first
  named); one with a named parent keeps what it did before and counts as not created for
  the DAG (``replay_pending``) until its parents complete again, when the DAG creates it
  under its id the same way (at its run's priority, or CANCELLED if a parent failed). The
  run is no longer ended (RUNNING if a task run of it ever started, else QUEUED; it ends
  again, and takes a new place in ``finished_since``). One not ended is left alone.
- **expire** does what time alone does: task runs still QUEUED past their schedule
  deadline are CANCELLED (Hatchet's SCHEDULING_TIMED_OUT; never retried); RUNNING task
  runs whose lease expired (their worker stopped heartbeating) are re-queued as a new
  attempt *without* consuming a retry (the LOST attempt is recorded), spawn index 0.
- **durable tasks** keep an event log per task run and can be evicted while waiting
  (``flowsim.store.durable_log``: ``durable_steps``, ``record_steps``, ``evict``).
- **conditions** (``flowsim.store.conditions``): a task run whose ``wait_for``/
  ``skip_if``/``cancel_if`` conditions hold it back is created QUEUED but not claimable
  (no schedule deadline) until they decide: queued then (its schedule clock starting),
  skipped (COMPLETED with output ``{"skipped": true}``; a task all of whose parents were
  skipped is skipped too) or cancelled (its downstream tasks with it). ``expire`` fires
  the sleeps that elapsed, ``push_event`` the events.
- **heartbeat** extends the worker's lease and the lease of every task run it holds.
- **streams** (``ctx.put_stream``): chunks are kept per run, numbered by position in the
  order stored; a subscriber asks for the position it starts after, then reads on.
- Ids are strings, unique in the store. Payloads are JSON (never pickle).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

from flowsim.errors import TaskRunError
from flowsim.idempotency import Collision
from flowsim.placement import LabelValue
from flowsim.quick_init import quick_init
from flowsim.rules import RunStatus, SlotPool
from flowsim.store.conditions import ConditionSpec
from flowsim.store.cron_records import CronStore
from flowsim.store.durable_log import DurableLogStore, EvictingStore
from flowsim.store.event_filters import FilterStore
from flowsim.store.records import JSON, TriggeringEvent, WorkflowSpec


@quick_init
@dataclass(frozen=True, slots=True)
class RunRequest:
    """One run to create: validated JSON input plus trigger options."""

    spec: WorkflowSpec
    input: JSON
    additional_metadata: dict[str, JSON] = field(default_factory=dict)
    priority: int = 1
    child_key: str | None = None
    #: a scheduled run: its root tasks are not claimable before this instant
    run_at: float | None = None
    #: a top-level run made by a trigger (a cron tick) is created once per key
    trigger_key: str | None = None
    #: a child triggered with ``sticky=True``: pinned to its spawner's worker
    sticky_worker: str | None = None
    #: a run started by pushing this event (stored, and shown in the run's views)
    triggering_event: TriggeringEvent | None = None


@quick_init
@dataclass(frozen=True, slots=True)
class AttemptView:
    number: int
    worker_id: str
    queued_at: float
    started_at: float
    finished_at: float | None
    #: RUNNING, COMPLETED, FAILED, CANCELLED or LOST
    outcome: str
    error: str | None


@quick_init
@dataclass(frozen=True, slots=True)
class TaskView:
    id: str
    name: str
    status: RunStatus
    retry_count: int
    output: JSON
    error: TaskRunError | None
    worker_id: str | None
    attempts: tuple[AttemptView, ...] = ()


@quick_init
@dataclass(frozen=True, slots=True)
class RunView:
    """A workflow run as stored, with its task runs by name (those created so far)."""

    id: str
    workflow: str
    status: RunStatus
    input: JSON
    additional_metadata: dict[str, JSON]
    priority: int
    created_at: float
    finished_at: float | None
    parent_task_run_id: str | None
    child_key: str | None
    child_index: int | None
    tasks: dict[str, TaskView]
    triggering_event: TriggeringEvent | None = None

    def result(self) -> dict[str, JSON]:
        """Hatchet's result shape: outputs keyed by task name, empty outputs omitted."""
        return {name: task.output for name, task in self.tasks.items() if task.output}

    def errors(self) -> list[TaskRunError]:
        return [task.error for task in self.tasks.values() if task.error is not None]

    def statuses(self) -> dict[str, RunStatus]:
        """Each task run's status by task name: what a test usually asserts first."""
        return {name: task.status for name, task in self.tasks.items()}


@quick_init
@dataclass(frozen=True, slots=True)
class RunProgress:
    """The part of a run that changes after it is created: its status, when it ended, and
    its task runs (without attempts, as ``get_runs(..., attempts=False)`` shows them)."""

    id: str
    status: RunStatus
    finished_at: float | None
    tasks: dict[str, TaskView]


@quick_init
@dataclass(frozen=True, slots=True)
class Claim:
    """A task run a worker now holds: everything needed to execute it."""

    task_run_id: str
    run_id: str
    workflow: str
    task: str
    pool: SlotPool
    slot_cost: int
    retry_count: int
    token: int
    input: JSON
    additional_metadata: dict[str, JSON]
    #: outputs of the task's DAG parents, by task name (for ``ctx.task_output``)
    parent_outputs: dict[str, JSON]
    #: the workflow run whose task spawned this run, if any
    parent_run_id: str | None
    lease_expires_at: float


@quick_init
@dataclass(frozen=True, slots=True)
class Outcome:
    """What a call changed: whether a fenced write applied, which runs reached a terminal
    status (wake their waiters), and how many task runs became claimable."""

    accepted: bool = True
    finished: tuple[str, ...] = ()
    queued: int = 0


@quick_init
@dataclass(frozen=True, slots=True)
class Completion:
    """One finished attempt to record with ``complete_many``: what ``complete`` takes."""

    task_run_id: str
    token: int
    output: JSON


@dataclass(frozen=True, slots=True)
class Finished:
    """What ``finished_since`` found: runs that may have ended after the cursor asked
    about (ids may repeat across calls), and the cursor to ask with next time."""

    run_ids: tuple[str, ...]
    cursor: int


@dataclass(frozen=True, slots=True)
class StreamChunk:
    """One ``ctx.put_stream`` of a task of a run, as stored. ``position`` numbers the run's
    chunks from 1 in the order they were stored, which is the order a subscriber gets
    them in: a subscription starts after the position stored when it began (Hatchet
    delivers only what is put while a subscriber listens) and reads on from there."""

    position: int
    task_run_id: str
    #: the attempt's own count of its puts, from 0 (hatchet_sdk's event index)
    index: int
    data: str


@dataclass(frozen=True, slots=True)
class WorkerInfo:
    id: str
    name: str
    capacity: dict[SlotPool, int]
    workflows: tuple[str, ...]
    #: ``hatchet.worker(..., labels=...)``: what desired worker labels are matched against
    labels: dict[str, LabelValue] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class WorkerState:
    info: WorkerInfo
    lease_expires_at: float
    accepting: bool


@dataclass(frozen=True, slots=True)
class HeldTask:
    """A RUNNING task run: who holds which slot, and which runs it waits on."""

    task_run_id: str
    run_id: str
    workflow: str
    task: str
    pool: SlotPool
    slot_cost: int
    worker_id: str
    waiting_on: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class QueuedTask:
    task_run_id: str
    run_id: str
    workflow: str
    task: str
    pool: SlotPool
    slot_cost: int
    ready_at: float


@dataclass(frozen=True, slots=True)
class Snapshot:
    """The state a deadlock analysis needs, read in one transaction."""

    now: float
    workers: tuple[WorkerState, ...]
    held: tuple[HeldTask, ...]
    queued: tuple[QueuedTask, ...]
    #: status of every run that is held, queued or waited on
    run_status: dict[str, RunStatus]


@runtime_checkable
class ServerClock(Protocol):
    """A store whose database has a clock every machine sharing it reads alike (Postgres):
    a worker checks its own clock against it before it starts (``flowsim.engine.clock_skew``)."""

    def server_time(self) -> float: ...


@runtime_checkable
class RunStore(DurableLogStore, EvictingStore, FilterStore, CronStore, Protocol):
    """A durable run store. Synchronous and inline: the engine calls it on its loop, as
    hatchet_sdk's sync ``run(wait_for_result=False)`` makes a blocking call to the server;
    SQLite and memory need no thread hop (a hop costs ~120 µs here, a SQLite transaction
    ~10 µs), and a Postgres round trip on a worker's own loop is cheaper than handing it to
    a thread.
    Only ``wait_for_change`` blocks for long; the engine runs it on a thread while idle."""

    #: the store's URL with any password masked: safe for errors, logs and reports
    display_url: str

    def migrate(self) -> None:
        """Create or upgrade the schema (idempotent, safe from concurrent processes);
        refuse a store at a newer or unknown schema version with ``ConfigurationError``."""

    def close(self) -> None: ...

    def create_runs(
        self,
        requests: Sequence[RunRequest],
        now: float,
        parent_task_run_id: str | None = None,
        parent_token: int | None = None,
    ) -> list[RunView | Collision]: ...

    def claim(
        self,
        worker_id: str,
        workflows: Sequence[str],
        pool: SlotPool,
        free: int,
        now: float,
        lease_seconds: float,
    ) -> list[Claim]: ...

    def complete(self, task_run_id: str, token: int, output: JSON, now: float) -> Outcome: ...

    def complete_many(self, items: Sequence[Completion], now: float) -> list[Outcome]:
        """``complete`` of each item, in order, in one transaction; one outcome per item."""

    def fail(
        self,
        task_run_id: str,
        token: int,
        error: TaskRunError,
        non_retryable: bool,
        now: float,
        retry_after: float | None = None,
    ) -> Outcome:
        """``retry_after``: seconds the attempt asked to wait before its retry
        (``RetryAfterException``), in place of the task's backoff
        (``rules.decide_after_failure``)."""

    def expire(self, now: float) -> Outcome: ...

    def put_rate_limit(self, key: str, limit: int, window: float, now: float) -> Outcome:
        """``hatchet.rate_limits.put``: create ``key`` full (``limit`` units per ``window``
        seconds, the window starting ``now``) or change its limit and window keeping the
        units left, capped at the new limit (``flowsim.rate_limits.put``). Task runs that
        waited for a key to change go back to the claimable queue (``queued`` counts them)."""

    def replay_tasks(self, task_run_ids: Sequence[str], now: float) -> Outcome:
        """Replay each ended task run named (see the module docstring); ``queued`` counts
        those queued at once. An unknown id raises ``RunNotFoundError``, nothing changed."""

    def cancel_run(self, run_id: str, reason: str, now: float) -> Outcome:
        """Cancel every non-terminal task run of the run and of every run spawned below it
        (children, grandchildren, ...), run by run, oldest run first: queued ones leave the
        queue, running ones are fenced off (their late results are ignored, never retried).
        ``finished`` lists the runs this ended, in that order; their workers notice on their
        next heartbeat (``get_runs`` shows the task CANCELLED)."""

    def get_runs(self, run_ids: Sequence[str], *, attempts: bool = True) -> list[RunView]:
        """The runs, in the order asked; ``RunNotFoundError`` names an unknown id. With
        ``attempts=False`` every task's ``attempts`` is ``()``: a waiter wants statuses and
        results, and the attempts were most of what a read of 10,000 ended children cost."""

    def get_progress(self, run_ids: Sequence[str]) -> list[RunProgress]:
        """What ``get_runs(run_ids, attempts=False)`` shows of each run that can change
        (``RunProgress``), in the order asked; ``RunNotFoundError`` names an unknown id.
        A waiter re-reads the runs it created or read before this way: their workflow,
        input, metadata and the rest stay as they were. Re-reading 10,000 ended children
        took SQLite 95 ms with them and 64 without, Postgres 260 ms and 125–190."""

    def finished_since(self, cursor: int | None) -> Finished:
        """Runs that reached a terminal status after ``cursor`` (a value an earlier call
        returned). ``None`` asks only for the current cursor (no ids): take it before
        reading the runs to watch, and nothing that ends after that read is missed."""

    def run_ids(self) -> list[str]:
        """Every stored run's id, oldest first: what ``hatchet.runs.views()`` lists."""

    def set_waiting(self, task_run_id: str, run_ids: Sequence[str]) -> None:
        """Record the runs a held task run now waits on (replacing what was recorded),
        for the cross-process deadlock analysis."""

    def register_worker(self, info: WorkerInfo, now: float, lease_seconds: float) -> None: ...

    def heartbeat(self, worker_id: str, now: float, lease_seconds: float) -> None: ...

    def set_worker_labels(self, worker_id: str, labels: dict[str, LabelValue]) -> None:
        """Replace the worker's labels (``ctx.upsert_worker_labels`` merges, then calls
        this): its next claims are placed by the new ones."""

    def stop_worker(self, worker_id: str) -> None:
        """The worker claims nothing more (draining) and leaves the snapshot once its held
        task runs end."""

    def snapshot(self, now: float, awaited: Sequence[str] = ()) -> Snapshot: ...

    def next_wakeup(self, now: float) -> float | None:
        """The earliest future instant something becomes claimable or expires (a backoff
        ends, a schedule deadline or lease passes, a condition's sleep elapses), for a
        worker's timer."""

    def push_event(self, key: str, payload: JSON, additional_metadata: JSON, now: float) -> Outcome:
        """``hatchet.event.push``: satisfy the event conditions (``key``, and a CEL
        expression over ``input``/``additional_metadata``) of the open waits registered
        before ``now``, and act on those that fire (``flowsim.store.conditions``): a held
        task run is queued, skipped or cancelled, a durable wait records its result."""

    def open_wait(
        self, wait_id: str, task_run_id: str, conditions: Sequence[ConditionSpec], now: float
    ) -> None:
        """A durable task's ``aio_wait_for``: open the wait ``wait_id`` (once; again is a
        no-op) registered at ``now``; ``expire`` fires its sleeps, ``push_event`` its
        events."""

    def wait_result(self, wait_id: str) -> JSON:
        """A durable wait's result once it fired, else None."""

    def put_stream(self, run_id: str, task_run_id: str, index: int, data: str, now: float) -> None:
        """Store a chunk a task of ``run_id`` streamed, at the run's next position, and let
        other processes hear of it (``wait_for_change``). Two tasks of one run may put at
        once: positions follow the order the puts were stored in, without gaps."""

    def stream_position(self, run_id: str) -> int:
        """The position of the run's last stored chunk (0 if none): a subscription reads
        what is stored after it."""

    def read_stream(self, run_id: str, after: int) -> list[StreamChunk]:
        """The run's chunks at positions after ``after``, in position order."""

    def wait_for_change(self, timeout: float) -> None:
        """Return when another process may have changed something (a notification, or
        ``timeout`` seconds); a hint, callers re-read. ``close`` should end a wait in
        progress: the engine closes the store, then joins the thread waiting here."""
