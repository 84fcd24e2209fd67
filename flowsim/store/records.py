"""What a backend stores about workflows and runs.

``WorkflowSpec``/``TaskSpec`` are the engine's view of a definition (no SDK objects), so a
store, the engine and the simulator can reason about a workflow without importing user
code. ``WorkflowRun``/``TaskRun`` are the live records; payloads are JSON-shaped values.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from flowsim.errors import TaskRunError
from flowsim.idempotency import IdempotencyRule
from flowsim.placement import DesiredLabel, Sticky
from flowsim.rate_limits import RateLimitSpec
from flowsim.rules import ConcurrencyStrategy, RunStatus, SlotPool
from flowsim.store.conditions import ConditionSpec, conditions_from_json, conditions_to_json

JSON = Any  # a JSON-compatible value: dict, list, str, int, float, bool or None


@dataclass(frozen=True, slots=True)
class TriggeringEvent:
    """The pushed event that started a run (``ctx.triggering_event_id``/``_key``): stored
    with the run, so a worker in another process reads the same. ``filter_payload`` is
    the payload of the event filter that started it (``ctx.filter_payload``), None when
    its workflow has no filters."""

    id: str
    key: str
    filter_payload: JSON = None


@dataclass(frozen=True, slots=True)
class ConcurrencyLimit:
    """One ``ConcurrencyExpression``: runs (or task runs) whose ``expression`` evaluates to
    the same key share ``max_runs`` places, and ``strategy`` says what happens to one that
    arrives when they are all taken (``flowsim.concurrency``). A ``shared`` limit (a
    tenant-scoped strategy, by its name) has its places shared by every workflow and task
    declaring it; any other limit belongs to its workflow (and task)."""

    expression: str
    #: a number, or CEL over the run's input and metadata giving one per unit
    max_runs: int | str
    strategy: ConcurrencyStrategy
    shared: str | None = None


@dataclass(frozen=True, slots=True)
class TaskSpec:
    name: str
    parents: tuple[str, ...]
    retries: int
    backoff_factor: float | None
    backoff_max_seconds: float | None
    execution_timeout: float
    schedule_timeout: float
    durable: bool
    slot_cost: int = 1
    #: Hatchet's on-failure task: no parents; queued when any other task of the run FAILS,
    #: never created when none does (``rules.on_failure_due``)
    on_failure: bool = False
    #: ``desired_worker_labels=``: which workers may run it, and which are preferred
    desired_labels: tuple[DesiredLabel, ...] = ()
    #: Hatchet's ``rate_limits=``: units taken from each key when a run is claimed
    #: (``flowsim.rate_limits``)
    rate_limits: tuple[RateLimitSpec, ...] = ()
    #: task-level concurrency (``@wf.task(concurrency=...)``): every limit must admit it
    concurrency: tuple[ConcurrencyLimit, ...] = ()
    #: ``wait_for``/``skip_if``/``cancel_if`` conditions (``flowsim.store.conditions``)
    conditions: tuple[ConditionSpec, ...] = ()
    pool: SlotPool = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "pool", SlotPool.DURABLE if self.durable else SlotPool.DEFAULT)


@dataclass(frozen=True, slots=True)
class WorkflowSpec:
    name: str
    tasks: dict[str, TaskSpec]
    default_priority: int = 1
    #: ``sticky=``: every task of a run on the worker that took its first one
    sticky: Sticky | None = None
    #: workflow-level concurrency (``hatchet.workflow(concurrency=...)``): a run holds its
    #: place from admission until it ends, its tasks claimable only while it holds one
    concurrency: tuple[ConcurrencyLimit, ...] = ()
    #: ``idempotency=``: the key a new run claims (``flowsim.idempotency``)
    idempotency: IdempotencyRule | None = None
    #: derived once, read on every run created. ``parents`` is the DAG proper: every task
    #: but the on-failure task, which ``flowsim.store.dag.advance`` handles on its own
    parents: dict[str, tuple[str, ...]] = field(init=False)
    roots: tuple[str, ...] = field(init=False)
    on_failure: str | None = field(init=False)
    #: whether any concurrency limit applies to the run or one of its tasks: stores skip
    #: every concurrency step for the (common) runs without
    limited: bool = field(init=False)

    def __post_init__(self) -> None:
        limited = bool(self.concurrency) or any(t.concurrency for t in self.tasks.values())
        object.__setattr__(self, "limited", limited)
        parents = {name: t.parents for name, t in self.tasks.items() if not t.on_failure}
        on_failure = next((name for name, t in self.tasks.items() if t.on_failure), None)
        object.__setattr__(self, "parents", parents)
        object.__setattr__(self, "roots", tuple(n for n, p in parents.items() if not p))
        object.__setattr__(self, "on_failure", on_failure)


@dataclass(slots=True)
class Attempt:
    """One execution of a task run: when, where, and how it ended."""

    number: int
    worker: str
    started_at: float
    #: when the task run became claimable for this attempt (queue wait = started - queued)
    queued_at: float
    finished_at: float | None = None
    error: str | None = None
    #: RUNNING until it ends: COMPLETED, FAILED (timeouts too), CANCELLED, or LOST (its
    #: worker died and the run was reclaimed after the lease)
    outcome: str = "RUNNING"


@dataclass(slots=True, eq=False)
class TaskRun:
    id: str
    workflow_run: WorkflowRun
    spec: TaskSpec
    sequence: int
    priority: int
    enqueued_at: float
    ready_at: float
    status: RunStatus = RunStatus.QUEUED
    retry_count: int = 0
    worker_id: str | None = None
    output: JSON = None
    error: TaskRunError | None = None
    attempts: list[Attempt] = field(default_factory=list)
    #: workflow runs this task run is blocked on right now (for deadlock analysis)
    waiting_on: dict[str, int] = field(default_factory=dict)
    spawn_index: int = 0
    logs: list[str] = field(default_factory=list)
    #: the durable stores' fencing token of the current attempt (unused in memory)
    fencing_token: int = 0
    #: COMPLETED by a ``skip_if`` condition (or because every parent was), not by running
    skipped: bool = False
    #: ``retry_count`` when last replayed (``hatchet.runs.replay``): retries count from it
    replay_base: int = 0
    #: replayed with a DAG parent: it keeps what it did before until its parents complete
    #: again, and counts as not yet created for the DAG (``flowsim.store.dag.replay_now``)
    replay_pending: bool = False

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def attempt_number(self) -> int:
        return self.retry_count + 1


@dataclass(slots=True, eq=False, weakref_slot=True)
class WorkflowRun:
    id: str
    spec: WorkflowSpec
    input: JSON
    additional_metadata: dict[str, JSON]
    priority: int
    created_at: float
    parent_task_run_id: str | None = None
    #: the workflow run of the task that spawned this one
    parent_run_id: str | None = None
    child_key: str | None = None
    child_index: int | None = None
    status: RunStatus = RunStatus.QUEUED
    finished_at: float | None = None
    tasks: dict[str, TaskRun] = field(default_factory=dict)
    #: the worker a sticky run is pinned to (its first task's, or its spawner's for a
    #: child triggered with ``sticky=True``)
    sticky_worker: str | None = None
    #: the event whose push started this run (None: triggered otherwise)
    triggering_event: TriggeringEvent | None = None

    @property
    def workflow_name(self) -> str:
        return self.spec.name

    def statuses(self) -> dict[str, RunStatus]:
        """The DAG's view: task runs created so far (one waiting on a replay is not)."""
        return {name: task.status for name, task in self.tasks.items() if not task.replay_pending}

    def result(self) -> dict[str, JSON]:
        """Hatchet's result shape: outputs keyed by task name, empty outputs omitted."""
        return {name: task.output for name, task in self.tasks.items() if task.output}

    def errors(self) -> list[TaskRunError]:
        return [task.error for task in self.tasks.values() if task.error is not None]


# ---------------------------------------------------------------- JSON forms for SQL stores


def spec_to_json(spec: WorkflowSpec) -> dict[str, JSON]:
    """A workflow spec as JSON, stored once per (name, digest) by the SQL stores so a
    worker process that does not register a workflow can still advance its DAG."""
    return {
        "name": spec.name,
        "default_priority": spec.default_priority,
        "tasks": [
            {
                "name": t.name,
                "parents": list(t.parents),
                "retries": t.retries,
                "backoff_factor": t.backoff_factor,
                "backoff_max_seconds": t.backoff_max_seconds,
                "execution_timeout": t.execution_timeout,
                "schedule_timeout": t.schedule_timeout,
                "durable": t.durable,
                "slot_cost": t.slot_cost,
                # only when set, so the digests of specs stored before it existed hold
                **({"on_failure": True} if t.on_failure else {}),
                **(
                    {"desired_labels": [d.to_json() for d in t.desired_labels]}
                    if t.desired_labels
                    else {}
                ),
                **(
                    {"rate_limits": [limit.to_json() for limit in t.rate_limits]}
                    if t.rate_limits
                    else {}
                ),
                **({"concurrency": _limits_to_json(t.concurrency)} if t.concurrency else {}),
                **({"conditions": conditions_to_json(t.conditions)} if t.conditions else {}),
            }
            for t in spec.tasks.values()
        ],
        **({"sticky": spec.sticky.value} if spec.sticky is not None else {}),
        **({"concurrency": _limits_to_json(spec.concurrency)} if spec.concurrency else {}),
        **({"idempotency": spec.idempotency.to_json()} if spec.idempotency else {}),
    }


def _limits_to_json(limits: tuple[ConcurrencyLimit, ...]) -> list[JSON]:
    """Three items a limit, a fourth (its shared name) only when it has one: the specs
    stored before shared limits existed keep their JSON, and so their digest."""
    return [
        [limit.expression, limit.max_runs, limit.strategy.value]
        + ([limit.shared] if limit.shared is not None else [])
        for limit in limits
    ]


def _limits_from_json(data: list[Any]) -> tuple[ConcurrencyLimit, ...]:
    return tuple(
        ConcurrencyLimit(item[0], item[1], ConcurrencyStrategy(item[2]), *item[3:]) for item in data
    )


def spec_from_json(data: dict[str, Any]) -> WorkflowSpec:
    tasks = {
        t["name"]: TaskSpec(
            name=t["name"],
            parents=tuple(t["parents"]),
            retries=t["retries"],
            backoff_factor=t["backoff_factor"],
            backoff_max_seconds=t["backoff_max_seconds"],
            execution_timeout=t["execution_timeout"],
            schedule_timeout=t["schedule_timeout"],
            durable=t["durable"],
            slot_cost=t["slot_cost"],
            on_failure=t.get("on_failure", False),
            desired_labels=tuple(DesiredLabel.from_json(d) for d in t.get("desired_labels", ())),
            rate_limits=tuple(RateLimitSpec.from_json(r) for r in t.get("rate_limits", ())),
            concurrency=_limits_from_json(t.get("concurrency", [])),
            conditions=conditions_from_json(t.get("conditions", ())),
        )
        for t in data["tasks"]
    }
    sticky = Sticky(data["sticky"]) if data.get("sticky") else None
    concurrency = _limits_from_json(data.get("concurrency", []))
    idempotency = data.get("idempotency")
    return WorkflowSpec(
        data["name"], tasks, data["default_priority"], sticky=sticky, concurrency=concurrency,
        idempotency=IdempotencyRule.from_json(idempotency) if idempotency else None,
    )  # fmt: skip


def error_to_json(error: TaskRunError) -> dict[str, JSON]:
    return {
        "exc": error.exc,
        "exc_type": error.exc_type,
        "trace": error.trace,
        "task_run_external_id": error.task_run_external_id,
    }


def error_from_json(data: dict[str, Any]) -> TaskRunError:
    return TaskRunError(data["exc"], data["exc_type"], data["trace"], data["task_run_external_id"])
