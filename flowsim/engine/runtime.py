"""The engine's view of workers and in-flight attempts.

A ``WorkerRuntime`` is what a started worker is to the engine: its slot pools, the task runs
holding slots, the workflows it registers. An ``AttemptState`` is one execution of a task
run; the SDK's ``Context`` reads it, the engine uses it to time out, cancel and fence late
results (an attempt that already ended cannot record a second outcome).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from flowsim.clock import TimerHandle
from flowsim.rules import SlotPool
from flowsim.store.records import JSON, TaskRun, TaskSpec, WorkflowSpec

if TYPE_CHECKING:
    from flowsim.engine.engine import Engine
    from flowsim.engine.eviction import EvictionRule
    from flowsim.engine.replay import Replay


class Runnable(Protocol):
    """What the engine needs from a task definition to execute it (the SDK's Task)."""

    @property
    def spec(self) -> TaskSpec: ...

    @property
    def is_async(self) -> bool: ...

    @property
    def eviction(self) -> EvictionRule | None:
        """A durable task's eviction policy; None: never evicted (and any other task)."""

    def make_context(self, attempt: AttemptState) -> Any: ...

    @property
    def injects(self) -> bool:
        """Whether ``enter_dependencies`` has anything to do (most tasks: no)."""

    async def enter_dependencies(
        self, attempt: AttemptState, context: Any, exits: contextlib.AsyncExitStack
    ) -> dict[str, Any]:
        """The values of the function's injected parameters, made on the engine loop; what
        must be undone after the call is pushed onto ``exits``."""

    def invoke(self, attempt: AttemptState, context: Any, injected: dict[str, Any]) -> Any:
        """Validate the input and call the user's function (a coroutine if async)."""

    def serialize_output(self, value: Any) -> JSON: ...


class Registrable(Protocol):
    """What a worker registers: a workflow's spec and a runnable per task."""

    @property
    def spec(self) -> WorkflowSpec: ...

    def runnables(self) -> Mapping[str, Runnable]: ...


@dataclass(eq=False)
class WorkerRuntime:
    id: str
    name: str
    capacity: dict[SlotPool, int]
    workflows: dict[str, Registrable]
    executor: ThreadPoolExecutor
    labels: dict[str, str | int] = field(default_factory=dict)
    #: whether it registers a workflow with desired labels or a sticky strategy (its
    #: claims then go through a placement filter)
    placement_rules: bool = False
    accepting: bool = True
    held: dict[SlotPool, int] = field(default_factory=dict)
    waiting_holders: dict[SlotPool, int] = field(default_factory=dict)
    holders: dict[str, AttemptState] = field(default_factory=dict)
    #: asyncio tasks executing attempts, including ones whose attempt already ended
    #: (a timed-out attempt still unwinding its cancellation)
    tasks: set[asyncio.Task[None]] = field(default_factory=set)
    drained: asyncio.Event | None = None
    #: what the worker's lifespan yielded: every task's ``ctx.lifespan``
    lifespan: Any = None

    def registers(self, workflow_name: str) -> bool:
        return workflow_name in self.workflows

    def free(self, pool: SlotPool) -> int:
        return self.capacity.get(pool, 0) - self.held.get(pool, 0)


@dataclass(eq=False, slots=True)
class AttemptState:
    """One execution of a task run on a worker."""

    engine: Engine
    worker: WorkerRuntime
    task_run: TaskRun
    runnable: Runnable
    retry_count: int
    started_at: float
    deadline: float
    finished: bool = False
    #: set when the attempt is cancelled or times out; sync task code polls ctx.exit_flag
    exit_requested: bool = False
    task: asyncio.Task[None] | None = None
    #: bumped when ctx.refresh_timeout moves the deadline, which retires the old entry
    deadline_version: int = 0
    timer: TimerHandle | None = None
    slot_released: bool = False
    #: counted in its worker's ``waiting_holders`` (holds a slot while blocked on runs)
    counted_waiting: bool = False
    #: a durable attempt's walk through its event log (made at its first durable call)
    replay: Replay | None = None

    @property
    def pool(self) -> SlotPool:
        return self.task_run.spec.pool
