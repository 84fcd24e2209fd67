"""The deadlock analysis over a durable store's snapshot.

Worker processes on other machines hold slots the local engine cannot see, so a waiter on
a durable backend reads one consistent snapshot (workers alive by lease, held task runs
with what they wait on, queued task runs) and runs the same fixed-point analysis the
in-memory engine runs on its live objects. Held task runs of a worker whose lease has
lapsed count as progressing: they are re-queued when the store expires the lease.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from flowsim.engine.deadlock import HolderLike, Stall, find_stall
from flowsim.placement import LabelValue
from flowsim.rules import RunStatus, SlotPool
from flowsim.store.protocol import Snapshot
from flowsim.store.records import TaskRun, TaskSpec, WorkflowRun, WorkflowSpec


@dataclass(slots=True)
class _Holder:
    task_run: TaskRun
    finished: bool = False

    @property
    def pool(self) -> SlotPool:
        return self.task_run.spec.pool


@dataclass(slots=True)
class _Worker:
    id: str
    name: str
    accepting: bool
    capacity: dict[SlotPool, int]
    workflows: dict[str, object]
    labels: dict[str, LabelValue] = field(default_factory=dict)
    holders: dict[str, HolderLike] = field(default_factory=dict)
    #: slots used per pool, summed once per set of holders: the analysis asks for every
    #: queued task run, and summing a thousand holders for each of 10,000 was most of it
    _used: tuple[int, dict[SlotPool, int]] = (-1, {})

    def registers(self, workflow_name: str) -> bool:
        return workflow_name in self.workflows

    def free(self, pool: SlotPool) -> int:
        count, used = self._used
        if count != len(self.holders):
            used = {}
            for holder in self.holders.values():
                used[holder.pool] = used.get(holder.pool, 0) + holder.task_run.spec.slot_cost
            self._used = (len(self.holders), used)
        return self.capacity.get(pool, 0) - used.get(pool, 0)


def _spec(task: str, pool: SlotPool, slot_cost: int) -> TaskSpec:
    return TaskSpec(task, (), 0, None, None, 0.0, 0.0, pool is SlotPool.DURABLE, slot_cost)


def find_stall_in_snapshot(
    backend: str, snapshot: Snapshot, awaited: Mapping[str, int]
) -> Stall | None:
    runs: dict[str, WorkflowRun] = {}
    # specs are frozen and all alike per workflow (per task, pool and cost): made once
    # each, not per run and task run (the analysis of a backlog of 40,000 queued task runs
    # took 0.90 s building the same few specs over and over, 0.52 s sharing them)
    workflow_specs: dict[str, WorkflowSpec] = {}
    task_specs: dict[tuple[str, SlotPool, int], TaskSpec] = {}

    def run_of(run_id: str, workflow: str) -> WorkflowRun:
        run = runs.get(run_id)
        if run is None:
            status = snapshot.run_status.get(run_id, RunStatus.RUNNING)
            spec = workflow_specs.get(workflow)
            if spec is None:
                spec = workflow_specs[workflow] = WorkflowSpec(workflow, {})
            run = WorkflowRun(run_id, spec, None, {}, 0, 0.0, status=status)
            runs[run_id] = run
        return run

    def task_run(task_run_id: str, run: WorkflowRun, task: str, pool: SlotPool, cost: int,
                 status: RunStatus) -> TaskRun:  # fmt: skip
        spec = task_specs.get((task, pool, cost))
        if spec is None:
            spec = task_specs[task, pool, cost] = _spec(task, pool, cost)
        made = TaskRun(task_run_id, run, spec, 0, 0, 0.0, 0.0, status=status)
        run.tasks[task] = made
        return made

    workers: dict[str, _Worker] = {
        state.info.id: _Worker(
            state.info.id,
            state.info.name,
            state.accepting,
            dict(state.info.capacity),
            dict.fromkeys(state.info.workflows),
            dict(state.info.labels),
        )
        for state in snapshot.workers
    }
    for held in snapshot.held:
        run = run_of(held.run_id, held.workflow)
        made = task_run(held.task_run_id, run, held.task, held.pool, held.slot_cost,
                        RunStatus.RUNNING)  # fmt: skip
        worker = workers.get(held.worker_id)
        if worker is None:
            continue  # its worker's lease lapsed: re-queued on expiry, so it progresses
        made.waiting_on = dict.fromkeys(held.waiting_on, 1)
        worker.holders[held.task_run_id] = _Holder(made)
    for queued in snapshot.queued:
        run = run_of(queued.run_id, queued.workflow)
        task_run(queued.task_run_id, run, queued.task, queued.pool, queued.slot_cost,
                 RunStatus.QUEUED)  # fmt: skip
    for run_id, status in snapshot.run_status.items():
        if run_id not in runs:
            runs[run_id] = WorkflowRun(
                run_id, WorkflowSpec("?", {}), None, {}, 0, 0.0, status=status
            )
    orphans = _orphan_progress(snapshot, workers)
    stall = find_stall(backend, snapshot.now, list(workers.values()), runs, awaited)
    if stall is None or orphans & stall.stuck_runs:
        return None
    return stall


def _orphan_progress(snapshot: Snapshot, workers: Mapping[str, _Worker]) -> set[str]:
    """Runs with a task held by a worker that is gone: they will be re-queued, so the
    analysis must not call anything waiting on them stuck."""
    return {held.run_id for held in snapshot.held if held.worker_id not in workers}


__all__: Sequence[str] = ["find_stall_in_snapshot"]
