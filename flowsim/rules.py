"""The scheduling rules, as pure functions.

Everything that decides *what happens* to a run lives here, written once: when a failed
attempt is retried and after how long, which DAG tasks become ready or are cancelled,
what status a workflow run rolls up to, the order queued runs are claimed in, how a child
spawn is de-duplicated. The in-memory store, the SQL stores and the simulator call these
functions instead of re-deriving the rules, so they cannot drift apart. Nothing here reads
a clock, touches I/O or holds state: time comes in as an argument.

Each rule names the Hatchet behaviour it mirrors (see docs/semantics.md).
"""

from __future__ import annotations

import enum
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from flowsim.errors import WorkflowDefinitionError

#: Hatchet caps a backoff delay at one day when no ``backoff_max_seconds`` is given.
DEFAULT_BACKOFF_MAX_SECONDS = 86_400.0
#: Hatchet's engine caps the delay a ``RetryAfterException`` asks for (its
#: ``runtime.maxRetryAfter``, 168 h by default).
MAX_RETRY_AFTER_SECONDS = 7 * 86_400.0
#: Hatchet re-queues a retried task at priority 4, above ``Priority.HIGH`` (3).
RETRY_PRIORITY = 4
#: Hatchet's default priority for a run (``Priority.LOW``).
DEFAULT_PRIORITY = 1
DEFAULT_EXECUTION_TIMEOUT = 60.0
DEFAULT_SCHEDULE_TIMEOUT = 300.0
#: Slot defaults when a worker names none: 100 for tasks, 1,000 for durable tasks.
DEFAULT_SLOTS = 100
DEFAULT_DURABLE_SLOTS = 1000


class RunStatus(enum.StrEnum):
    """Hatchet's run statuses (``hatchet_sdk.clients.admin.RunStatus``), served as its REST
    status ``V1TaskStatus`` too: the same five values, which tests compare by identity."""

    QUEUED = "QUEUED"
    RUNNING = "RUNNING"
    COMPLETED = "COMPLETED"
    CANCELLED = "CANCELLED"
    FAILED = "FAILED"

    @classmethod
    def from_json(cls, json_str: str) -> RunStatus:
        """hatchet_sdk's ``V1TaskStatus.from_json``, which tests call on this enum, served
        under that name."""
        return cls(json.loads(json_str))

    @property
    def is_terminal(self) -> bool:
        return self in _TERMINAL


_TERMINAL = frozenset({RunStatus.COMPLETED, RunStatus.CANCELLED, RunStatus.FAILED})


class SlotPool(enum.StrEnum):
    """Hatchet's slot types: tasks use ``default`` slots, durable tasks ``durable`` ones."""

    DEFAULT = "default"
    DURABLE = "durable"


# ---------------------------------------------------------------- retries


def backoff_delay(
    retry_number: int, backoff_factor: float | None, backoff_max: float | None
) -> float:
    """Seconds to wait before retry number ``retry_number`` (1 for the first retry).

    Hatchet: ``min(backoff_max_seconds or 86400, backoff_factor ** n)``, no jitter; without a
    factor the task is re-queued at once.
    """
    if retry_number < 1:
        raise ValueError(f"retry numbers start at 1, got {retry_number}")
    if backoff_factor is None:
        return 0.0
    cap = DEFAULT_BACKOFF_MAX_SECONDS if backoff_max is None else float(backoff_max)
    try:
        raw = float(backoff_factor) ** retry_number
    except OverflowError:
        return cap
    return min(cap, raw)


@dataclass(frozen=True, slots=True)
class RetryDecision:
    """What a failed attempt leads to: another attempt at ``ready_at``, or the end."""

    retry: bool
    ready_at: float = 0.0
    retry_count: int = 0


def decide_after_failure(
    *,
    retry_count: int,
    retries: int,
    non_retryable: bool,
    backoff_factor: float | None,
    backoff_max: float | None,
    now: float,
    retry_after: float | None = None,
) -> RetryDecision:
    """A task runs at most ``retries + 1`` times; a non-retryable failure ends it at once.
    ``retry_after``: the delay the attempt asked for (``RetryAfterException``), which
    replaces the backoff and, as in Hatchet's engine, is clamped to [0, 7 days]; the retry
    still counts against ``retries``."""
    if non_retryable or retry_count >= retries:
        return RetryDecision(retry=False)
    next_count = retry_count + 1
    if retry_after is None:
        delay = backoff_delay(next_count, backoff_factor, backoff_max)
    else:
        delay = min(max(retry_after, 0.0), MAX_RETRY_AFTER_SECONDS)
    return RetryDecision(retry=True, ready_at=now + delay, retry_count=next_count)


# ---------------------------------------------------------------- timeouts


def schedule_deadline(enqueued_at: float, schedule_timeout: float) -> float:
    """Hatchet measures the schedule timeout from (re-)enqueue; expiry cancels the task."""
    return enqueued_at + schedule_timeout


def timeout_message(execution_timeout: float) -> str:
    """The text Hatchet records when a task exceeds its execution timeout."""
    return f"Task exceeded timeout of {format_duration(execution_timeout)}"


def format_duration(seconds: float) -> str:
    if seconds == int(seconds):
        whole = int(seconds)
        if whole and whole % 3600 == 0:
            return f"{whole // 3600}h"
        if whole and whole % 60 == 0:
            return f"{whole // 60}m"
        return f"{whole}s"
    return f"{seconds:g}s"


# ---------------------------------------------------------------- claiming


def claim_key(priority: int, sequence: int) -> tuple[int, int]:
    """Claim order: higher priority first, then first queued first (a global sequence,
    never wall-clock or set order, so a run is reproducible)."""
    return (-priority, sequence)


def resolve_worker_slots(
    slots: int | None, durable_slots: int | None, has_tasks: bool, has_durable: bool
) -> dict[SlotPool, int]:
    """Hatchet's defaults: 100 task slots if any task needs them, 1,000 durable slots if any
    durable task does; explicit values always win."""
    pools: dict[SlotPool, int] = {}
    if slots is not None or has_tasks or not has_durable:
        pools[SlotPool.DEFAULT] = DEFAULT_SLOTS if slots is None else slots
    if durable_slots is not None or has_durable:
        pools[SlotPool.DURABLE] = DEFAULT_DURABLE_SLOTS if durable_slots is None else durable_slots
    return pools


# ---------------------------------------------------------------- children


def child_spawn_key(parent_task_run_id: str, child_key: str | None, spawn_index: int) -> str:
    """Hatchet keys a child by (parent task, child_key or spawn index); the spawn index
    restarts at 0 on each attempt, so a retried parent re-attaches to the children it
    already spawned instead of creating them again."""
    return f"{parent_task_run_id}.{child_key if child_key is not None else spawn_index}"


def trigger_spawn_key(trigger_key: str) -> str:
    """A top-level run created by a trigger that several processes may fire at once (one
    cron tick seen by every worker process) is de-duplicated by this key, as a child is by
    its spawn key: the second creation returns the run the first made."""
    return f"trigger:{trigger_key}"


# ---------------------------------------------------------------- DAGs


def check_dag(workflow: str, parents: Mapping[str, Iterable[str]]) -> None:
    """Reject unknown parents and cycles, naming the tasks involved."""
    edges: list[tuple[str, str]] = []
    for task, task_parents in parents.items():
        for parent in task_parents:
            if parent not in parents:
                raise WorkflowDefinitionError(
                    f"workflow {workflow!r}: task {task!r} names parent {parent!r}, which is not "
                    f"a task of this workflow (its tasks: {', '.join(sorted(parents))}). "
                    "Pass a task defined on the same workflow in parents=[...]."
                )
            edges.append((parent, task))
    if not edges:
        return
    # imported here: a process whose workflows have no parents= links never needs it, and
    # importing it was a quarter of ``import flowsim`` (and of every worker's start)
    import networkx as nx

    graph: nx.DiGraph[str] = nx.DiGraph()
    graph.add_nodes_from(parents)
    graph.add_edges_from(edges)
    try:
        cycle = nx.find_cycle(graph)
    except nx.NetworkXNoCycle:
        return
    path = " -> ".join([edge[0] for edge in cycle] + [cycle[0][0]])
    raise WorkflowDefinitionError(
        f"workflow {workflow!r}: its parents= edges form a cycle ({path}); a DAG's tasks must "
        "be orderable. Remove one of these parent links."
    )


def ready_tasks(
    parents: Mapping[str, tuple[str, ...]], statuses: Mapping[str, RunStatus]
) -> list[str]:
    """Tasks not yet created whose parents all COMPLETED (Hatchet creates a DAG task only
    then), in definition order."""
    return [
        task
        for task, task_parents in parents.items()
        if task not in statuses
        and all(statuses.get(parent) is RunStatus.COMPLETED for parent in task_parents)
    ]


def upstream_cancelled(
    parents: Mapping[str, tuple[str, ...]], statuses: Mapping[str, RunStatus]
) -> list[str]:
    """Tasks not yet created that can never run because a parent FAILED or was CANCELLED:
    Hatchet cancels them (and, transitively, their own children)."""
    doomed: dict[str, None] = {}
    changed = True
    while changed:
        changed = False
        for task, task_parents in parents.items():
            if task in statuses or task in doomed:
                continue
            for parent in task_parents:
                state = statuses.get(parent)
                if parent in doomed or state in (RunStatus.FAILED, RunStatus.CANCELLED):
                    doomed[task] = None
                    changed = True
                    break
    return list(doomed)


def on_failure_due(statuses: Mapping[str, RunStatus]) -> bool:
    """Hatchet queues a workflow's on-failure task as soon as any other task of the run
    FAILED (one OR group over every task's FAILED event), even while siblings still run;
    when every task ends COMPLETED or CANCELLED it is skipped (here: never created)."""
    return RunStatus.FAILED in statuses.values()


def rollup_status(task_names: Iterable[str], statuses: Mapping[str, RunStatus]) -> RunStatus:
    """A workflow run is RUNNING (or QUEUED, before any task started) while any task is not
    terminal; then FAILED if any task failed, else CANCELLED if any was cancelled, else
    COMPLETED (Hatchet's OLAP roll-up)."""
    names = list(task_names)
    states = [statuses.get(name) for name in names]
    if any(state is None or not state.is_terminal for state in states):
        if all(state in (None, RunStatus.QUEUED) for state in states):
            return RunStatus.QUEUED
        return RunStatus.RUNNING
    if RunStatus.FAILED in states:
        return RunStatus.FAILED
    if RunStatus.CANCELLED in states:
        return RunStatus.CANCELLED
    return RunStatus.COMPLETED


# ---------------------------------------------------------------- concurrency


class ConcurrencyStrategy(enum.StrEnum):
    """The ``ConcurrencyLimitStrategy`` values flowsim models (Hatchet's Concurrency guide;
    the two CANCEL_QUEUED_EXCEPT strategies since engine v0.105.16)."""

    GROUP_ROUND_ROBIN = "GROUP_ROUND_ROBIN"
    CANCEL_IN_PROGRESS = "CANCEL_IN_PROGRESS"
    CANCEL_NEWEST = "CANCEL_NEWEST"
    CANCEL_QUEUED_EXCEPT_NEWEST = "CANCEL_QUEUED_EXCEPT_NEWEST"
    CANCEL_QUEUED_EXCEPT_OLDEST = "CANCEL_QUEUED_EXCEPT_OLDEST"

    @property
    def queues(self) -> bool:
        """Whether a run arriving in a full group waits for a place (and one arriving
        while others wait queues behind them) rather than taking one at once."""
        return self not in (ConcurrencyStrategy.CANCEL_IN_PROGRESS,
                            ConcurrencyStrategy.CANCEL_NEWEST)  # fmt: skip


#: The message Hatchet gives a run a concurrency strategy cancelled.
CONCURRENCY_CANCEL_REASON = "Cancelled due to concurrency strategy"


@dataclass(frozen=True, slots=True)
class Arrival:
    """What happens when a run arrives in a concurrency group: whether it takes a place in
    the group now, whether it is cancelled instead, and which holders or waiting runs it
    cancels."""

    admit: bool
    cancel_new: bool = False
    #: holders of the group cancelled to make room, oldest first
    cancel_holders: tuple[str, ...] = ()
    #: runs waiting in the group cancelled to keep its queue ``max_runs`` deep, oldest first
    cancel_waiting: tuple[str, ...] = ()


def on_arrival(
    strategy: ConcurrencyStrategy, max_runs: int, holders: list[str], waiting: list[str]
) -> Arrival:
    """A run arrives in a group whose places ``holders`` take (oldest first) while
    ``waiting`` runs already wait for one (oldest first). GROUP_ROUND_ROBIN admits it only
    if a place is free and nobody waits before it, else it waits; CANCEL_NEWEST cancels it
    if the group is full ("the newly triggered run is cancelled immediately");
    CANCEL_IN_PROGRESS admits it and cancels the oldest holders to make room ("a running
    instance ... will be cancelled to free up a slot"). The two CANCEL_QUEUED_EXCEPT
    strategies admit as GROUP_ROUND_ROBIN does, but keep at most ``max_runs`` runs waiting:
    EXCEPT_NEWEST keeps the newest, so the newcomer waits and the oldest waiting runs
    beyond that depth are cancelled ("Task C, as the most recent, will replace Task B in
    the queued state"); EXCEPT_OLDEST keeps the oldest, so a newcomer finding the queue
    full is cancelled ("Task C, as the newer of the two queued tasks, will be cancelled
    immediately")."""
    room = max_runs - len(holders)
    if strategy.queues and room > 0 and not waiting:
        return Arrival(admit=True)
    if strategy is ConcurrencyStrategy.GROUP_ROUND_ROBIN:
        return Arrival(admit=False)
    if strategy is ConcurrencyStrategy.CANCEL_QUEUED_EXCEPT_NEWEST:
        excess = len(waiting) + 1 - max_runs
        return Arrival(admit=False, cancel_waiting=tuple(waiting[: max(excess, 0)]))
    if strategy is ConcurrencyStrategy.CANCEL_QUEUED_EXCEPT_OLDEST:
        return Arrival(admit=False, cancel_new=len(waiting) >= max_runs)
    if strategy is ConcurrencyStrategy.CANCEL_NEWEST:
        return Arrival(admit=room > 0, cancel_new=room <= 0)
    overflow = len(holders) - max_runs + 1
    return Arrival(admit=True, cancel_holders=tuple(holders[:overflow]) if overflow > 0 else ())


def round_robin_order(waiting: list[tuple[str, int]]) -> list[int]:
    """The order GROUP_ROUND_ROBIN serves waiting runs ``(group key, sequence)`` in, as
    indices into ``waiting``: the oldest of every group, then the second of every group,
    and so on, by sequence within a round ("in round-robin order" across keys). In SQL:
    ``ORDER BY ROW_NUMBER() OVER (PARTITION BY key ORDER BY seq), seq``."""
    ranked: list[tuple[int, int, int]] = []
    seen: dict[str, int] = {}
    for index in sorted(range(len(waiting)), key=lambda i: waiting[i][1]):
        group = waiting[index][0]
        rank = seen.get(group, 0)
        seen[group] = rank + 1
        ranked.append((rank, waiting[index][1], index))
    return [index for _, _, index in sorted(ranked)]
