"""Finding runs that can never progress, and explaining why.

A run makes progress if it is executing, or if something it waits for makes progress. A
queued task run makes progress if some running worker that registers its workflow has a
free slot in the right pool, or has a slot held by a run that makes progress. We compute
the set of runs that can progress as a least fixed point over the current state; every
waiter whose run is outside it is stuck for good (no timing can rescue it short of a
timeout failing a parent, which Hatchet would do minutes later). The result is sound on
any consistent snapshot, so it is checked right when a worker's slots fill up with waiting
runs, not after a generic timeout.

Assumption, documented in docs/semantics.md: a task blocked in ``aio_run``/``result`` makes
progress only through the runs it awaits (a task that also waits on something else, like
``asyncio.wait_for(child.aio_run(), 5)``, is still judged by its child).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Protocol

from flowsim.errors import FlowsimError, SlotDeadlockError, UnknownWorkflowError
from flowsim.placement import LabelValue, Placement, Sticky, describe, score
from flowsim.rules import RunStatus, SlotPool
from flowsim.store.records import TaskRun, WorkflowRun, WorkflowSpec

if TYPE_CHECKING:  # imported where a graph is built: a deadlock is rare, start-up is not
    import networkx as nx


class HolderLike(Protocol):
    """An attempt holding a slot: the engine's HolderLike, or one read off a durable
    store's snapshot."""

    @property
    def finished(self) -> bool: ...
    @property
    def task_run(self) -> TaskRun: ...
    @property
    def pool(self) -> SlotPool: ...


class WorkerLike(Protocol):
    """A worker as the analysis sees it: the engine's WorkerLike, or a snapshot's."""

    @property
    def id(self) -> str: ...
    @property
    def name(self) -> str: ...
    @property
    def labels(self) -> Mapping[str, LabelValue]: ...
    @property
    def accepting(self) -> bool: ...
    @property
    def capacity(self) -> Mapping[SlotPool, int]: ...
    @property
    def holders(self) -> Mapping[str, HolderLike]: ...
    @property
    def workflows(self) -> Mapping[str, object]: ...
    def registers(self, workflow_name: str) -> bool: ...
    def free(self, pool: SlotPool) -> int: ...


@dataclass(frozen=True, slots=True)
class SlotHolder:
    worker: str
    pool: str
    slot: int
    workflow: str
    task: str
    workflow_run_id: str
    task_run_id: str
    waiting_for: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class BlockedRun:
    workflow: str
    workflow_run_id: str
    task: str
    pool: str
    candidates: tuple[str, ...]
    reason: str
    #: what its placement requires, when workers register it but none may run it
    requires: str = ""


@dataclass(frozen=True, slots=True)
class PoolState:
    worker: str
    pool: str
    capacity: int
    held_by_waiting: int


@dataclass(frozen=True)
class DeadlockReport:
    """The structured explanation a ``SlotDeadlockError`` carries: who holds which slot,
    what each holder waits for, why no slot can take the runs they wait for, the wait-for
    cycle, and the fixes."""

    backend: str
    at: float
    pools: tuple[PoolState, ...]
    holders: tuple[SlotHolder, ...]
    blocked: tuple[BlockedRun, ...]
    cycle: tuple[str, ...]
    fixes: tuple[str, ...]
    names: Mapping[str, str] = field(default_factory=dict)

    @property
    def unregistered(self) -> tuple[BlockedRun, ...]:
        return tuple(run for run in self.blocked if not run.candidates)

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["names"] = dict(self.names)
        return data

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2)

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> DeadlockReport:
        """The inverse of ``to_dict``: how a report crosses processes on a durable store."""
        return cls(
            backend=data["backend"],
            at=data["at"],
            pools=tuple(PoolState(**p) for p in data["pools"]),
            holders=tuple(
                SlotHolder(**{**h, "waiting_for": tuple(h["waiting_for"])}) for h in data["holders"]
            ),
            blocked=tuple(
                BlockedRun(**{**b, "candidates": tuple(b["candidates"])}) for b in data["blocked"]
            ),
            cycle=tuple(data["cycle"]),
            fixes=tuple(data["fixes"]),
            names=dict(data["names"]),
        )

    def graph(self) -> nx.DiGraph[str]:
        """The wait-for graph: holder -> awaited run -> worker pool -> holder."""
        import networkx as nx

        graph: nx.DiGraph[str] = nx.DiGraph()
        for holder in self.holders:
            node = f"task:{holder.task_run_id}"
            graph.add_node(node, kind="holder", label=f"{holder.workflow}/{holder.task}")
            pool_node = f"pool:{holder.worker}/{holder.pool}"
            graph.add_edge(pool_node, node, label=f"slot {holder.slot} held by")
            for run_id in holder.waiting_for:
                graph.add_edge(node, f"run:{run_id}", label="waits for")
        for blocked in self.blocked:
            for worker in blocked.candidates:
                graph.add_edge(
                    f"run:{blocked.workflow_run_id}",
                    f"pool:{worker}/{blocked.pool}",
                    label="needs a slot on",
                )
        return graph

    def to_dot(self) -> str:
        lines = ["digraph deadlock {", "  rankdir=LR;"]
        graph = self.graph()
        for node, data in graph.nodes(data=True):
            label = data.get("label") or self.names.get(node, node)
            shape = {"task": "box", "run": "ellipse", "pool": "cylinder"}[node.split(":")[0]]
            lines.append(f'  "{node}" [label="{label}", shape={shape}];')
        for source, target, data in graph.edges(data=True):
            lines.append(f'  "{source}" -> "{target}" [label="{data.get("label", "")}"];')
        lines.append("}")
        return "\n".join(lines)

    def render(self) -> str:
        if self.unregistered and not self.holders:
            return self.render_unregistered()
        out = [
            f"Slot deadlock on {self.backend} at {_instant(self.at)}: "
            f"{len(self.holders)} run(s) hold slots while waiting for runs that can never start."
        ]
        for pool in self.pools:
            out.append("")
            out.append(
                f'Worker "{pool.worker}", {pool.pool} slots: {pool.capacity}, '
                f"{pool.held_by_waiting} held by waiting runs"
            )
            for holder in self.holders:
                if holder.worker == pool.worker and holder.pool == pool.pool:
                    waits = ", ".join(self.names.get(f"run:{r}", r) for r in holder.waiting_for)
                    out.append(
                        f"  slot {holder.slot}: {holder.workflow}/{holder.task} "
                        f"(run {holder.workflow_run_id}) waits for {waits}"
                    )
        if self.blocked:
            out.append("")
            out.append("Waited-for runs that cannot start:")
            for blocked in self.blocked:
                out.append(
                    f"  {blocked.workflow} run {blocked.workflow_run_id} "
                    f"(task {blocked.task}): {blocked.reason}"
                )
        if self.cycle:
            out.append("")
            out.append("Wait-for cycle:")
            out.append("  " + "\n    -> ".join(self.cycle))
        if self.fixes:
            out.append("")
            out.append("How to fix:")
            out.extend(f"  - {fix}" for fix in self.fixes)
        return "\n".join(out)

    def error_for(self, run_id: str) -> FlowsimError:
        """What a caller waiting on ``run_id`` gets: ``UnknownWorkflowError`` when the run
        is blocked because no running worker registers it (not a matter of slots),
        ``SlotDeadlockError`` otherwise."""
        if any(b.workflow_run_id == run_id and not b.candidates for b in self.blocked):
            return UnknownWorkflowError(self.render_unregistered())
        return SlotDeadlockError(self)

    def render_unregistered(self) -> str:
        """The text for ``UnknownWorkflowError``: only the runs no worker will take."""
        why = (
            "no running worker may run them"
            if any(b.requires for b in self.unregistered)
            else "no running worker registers them"
        )
        lines = [f"Runs on {self.backend} can never start: {why}."]
        for blocked in self.unregistered:
            lines.append(f"  {blocked.workflow} run {blocked.workflow_run_id}: {blocked.reason}")
        lines.extend(
            f"  - {fix}" for fix in self.fixes if fix.startswith(("register workflow", "start a"))
        )
        return "\n".join(lines)


def _instant(at: float) -> str:
    """Wall-clock readings as UTC times; virtual (simulated, manual) ones as seconds."""
    if at > 1e8:
        return datetime.fromtimestamp(at, UTC).isoformat(timespec="milliseconds")
    return f"t={at:g}s"


@dataclass
class Stall:
    """The outcome of one analysis: who is stuck, and the report to raise to them."""

    report: DeadlockReport
    stuck_runs: set[str]


def _active_waits(task_run: TaskRun, runs: Mapping[str, WorkflowRun]) -> list[str]:
    return [
        run_id
        for run_id in task_run.waiting_on
        if run_id in runs and not runs[run_id].status.is_terminal
    ]


class _Analysis:
    def __init__(
        self,
        workers: Sequence[WorkerLike],
        runs: Mapping[str, WorkflowRun],
        awaited: Iterable[str],
    ) -> None:
        self.workers = [w for w in workers]
        self.runs = runs
        self.holders: list[HolderLike] = [
            state for w in self.workers for state in w.holders.values() if not state.finished
        ]
        self.relevant: dict[str, WorkflowRun] = {}
        frontier = list(awaited)
        for state in self.holders:
            frontier.extend(_active_waits(state.task_run, runs))
        while frontier:
            run_id = frontier.pop()
            run = runs.get(run_id)
            if run is None or run_id in self.relevant or run.status.is_terminal:
                continue
            self.relevant[run_id] = run
        self.progress_runs: set[str] = set()
        # a holder that only waits still progresses if it can be evicted: its slot frees
        self.progress_holders: set[str] = {
            s.task_run.id
            for s in self.holders
            if not _active_waits(s.task_run, runs) or _evictable(s)
        }

    def pool_frees(self, worker: WorkerLike, pool: SlotPool, cost: int) -> bool:
        if worker.accepting and worker.free(pool) >= cost:
            return True
        return any(
            s.task_run.id in self.progress_holders and s.pool is pool
            for s in worker.holders.values()
        )

    def registering(self, task_run: TaskRun) -> list[WorkerLike]:
        name = task_run.workflow_run.workflow_name
        return [
            w
            for w in self.workers
            if w.accepting and w.registers(name) and w.capacity.get(task_run.spec.pool, 0) > 0
        ]

    def candidates(self, task_run: TaskRun) -> list[WorkerLike]:
        """Workers that may ever claim the task run: they register it and its placement
        (required labels, a HARD pin) admits them."""
        placement = placement_of(task_run)
        workers = self.registering(task_run)
        if placement is None:
            return workers
        return [w for w in workers if score(placement, w.id, w.labels) is not None]

    def task_progresses(self, task_run: TaskRun) -> bool:
        if task_run.status is RunStatus.RUNNING:
            return task_run.id in self.progress_holders
        if task_run.status is RunStatus.QUEUED:
            return any(
                self.pool_frees(w, task_run.spec.pool, task_run.spec.slot_cost)
                for w in self.candidates(task_run)
            )
        return True

    def solve(self) -> None:
        changed = True
        while changed:
            changed = False
            for run_id, run in self.relevant.items():
                if run_id in self.progress_runs:
                    continue
                if any(
                    not t.status.is_terminal and self.task_progresses(t) for t in run.tasks.values()
                ):
                    self.progress_runs.add(run_id)
                    changed = True
            for state in self.holders:
                if state.task_run.id in self.progress_holders:
                    continue
                if any(r in self.progress_runs for r in _active_waits(state.task_run, self.runs)):
                    self.progress_holders.add(state.task_run.id)
                    changed = True


def _evictable(holder: object) -> bool:
    """Whether a waiting slot holder will give its slot up by eviction (a durable task
    whose eviction policy allows it: ``flowsim.engine.eviction``)."""
    rule = getattr(getattr(holder, "runnable", None), "eviction", None)
    return rule is not None and bool(rule.frees_slot)


def find_stall(
    backend: str,
    now: float,
    workers: Sequence[WorkerLike],
    runs: Mapping[str, WorkflowRun],
    awaited: Mapping[str, int],
) -> Stall | None:
    """Return the stall if any awaited run can never finish, else None."""
    analysis = _Analysis(workers, runs, awaited)
    analysis.solve()
    stuck = {run_id for run_id in analysis.relevant if run_id not in analysis.progress_runs}
    stuck_awaited = {run_id for run_id in awaited if run_id in stuck}
    if not stuck_awaited:
        return None
    return Stall(report=_explain(backend, now, analysis, stuck), stuck_runs=stuck)


def has_requirements(spec: WorkflowSpec) -> bool:
    """Whether a run of the workflow can be unrunnable on workers that register it: a
    task requires a label, or the workflow is HARD-sticky."""
    return spec.sticky is Sticky.HARD or any(
        label.required for task in spec.tasks.values() for label in task.desired_labels
    )


def placement_of(task_run: TaskRun) -> Placement | None:
    """The task run's placement, or None when nothing constrains it."""
    run = task_run.workflow_run
    if run.spec.sticky is None and not task_run.spec.desired_labels:
        return None
    return Placement(task_run.spec.desired_labels, run.spec.sticky, run.sticky_worker)


def _unplaceable(task_run: TaskRun, workers: Sequence[WorkerLike]) -> tuple[str, str]:
    """(reason, requires) for a task run that workers register but none may run."""
    placement = placement_of(task_run)
    requires = describe(placement) if placement is not None else "nothing"
    seen = "; ".join(f"{w.name} has {dict(w.labels) or 'no labels'}" for w in workers)
    reason = (
        f"QUEUED, but no running worker may run it: it requires {requires} ({seen}); "
        "it waits until its schedule timeout cancels it"
    )
    return reason, requires


def _short(run_id: str) -> str:
    return run_id


def _explain(backend: str, now: float, analysis: _Analysis, stuck: set[str]) -> DeadlockReport:
    names: dict[str, str] = {}
    holders: list[SlotHolder] = []
    pools: list[PoolState] = []
    for worker in analysis.workers:
        for pool, capacity in worker.capacity.items():
            in_pool = [s for s in worker.holders.values() if s.pool is pool and not s.finished]
            stuck_here = [s for s in in_pool if s.task_run.id not in analysis.progress_holders]
            if not stuck_here:
                continue
            pools.append(PoolState(worker.name, pool.value, capacity, len(stuck_here)))
            for slot, state in enumerate(in_pool, 1):
                if state.task_run.id in analysis.progress_holders:
                    continue
                run = state.task_run.workflow_run
                waits = tuple(_active_waits(state.task_run, analysis.runs))
                holders.append(
                    SlotHolder(
                        worker.name,
                        pool.value,
                        slot,
                        run.workflow_name,
                        state.task_run.name,
                        run.id,
                        state.task_run.id,
                        waits,
                    )
                )
    blocked: list[BlockedRun] = []
    for run_id in sorted(stuck):
        run = analysis.relevant[run_id]
        names[f"run:{run_id}"] = f"{run.workflow_name} run {run_id}"
        for task_run in run.tasks.values():
            if task_run.status is not RunStatus.QUEUED:
                continue
            candidates = analysis.candidates(task_run)
            pool_name = task_run.spec.pool.value
            requires = ""
            registering = analysis.registering(task_run) if not candidates else []
            if registering:
                reason, requires = _unplaceable(task_run, registering)
            elif candidates:
                held = ", ".join(
                    f"{w.name} ({_waiting_holders(w, task_run.spec.pool, analysis)}/"
                    f"{w.capacity[task_run.spec.pool]} held by waiting runs)"
                    for w in candidates
                )
                reason = f"QUEUED, needs a {pool_name} slot on {held}"
                excluded = [w for w in analysis.registering(task_run) if w not in candidates]
                placement = placement_of(task_run)
                if excluded and placement is not None:
                    reason += (
                        f"; {', '.join(w.name for w in excluded)} may not run it "
                        f"(it requires {describe(placement)})"
                    )
            else:
                registered = _registrations(analysis.workers)
                reason = (
                    f"QUEUED, but no running worker registers workflow {run.workflow_name!r} "
                    f"({registered})"
                )
            blocked.append(
                BlockedRun(
                    run.workflow_name,
                    run_id,
                    task_run.name,
                    pool_name,
                    tuple(w.name for w in candidates),
                    reason,
                    requires,
                )
            )
    return DeadlockReport(
        backend=backend,
        at=now,
        pools=tuple(pools),
        holders=tuple(holders),
        blocked=tuple(blocked),
        cycle=tuple(_cycle(holders, blocked, names)),
        fixes=tuple(_fixes(pools, holders, blocked)),
        names=names,
    )


def _waiting_holders(worker: WorkerLike, pool: SlotPool, analysis: _Analysis) -> int:
    return sum(
        1
        for state in worker.holders.values()
        if state.pool is pool and state.task_run.id not in analysis.progress_holders
    )


def _registrations(workers: Sequence[WorkerLike]) -> str:
    if not workers:
        return "no worker is running on this backend"
    return "running: " + "; ".join(
        f"{w.name}{'' if w.accepting else ' (draining: claims nothing new)'} registers "
        f"{', '.join(sorted(w.workflows)) or 'nothing'}"
        for w in workers
    )


def _cycle(
    holders: Sequence[SlotHolder], blocked: Sequence[BlockedRun], names: Mapping[str, str]
) -> list[str]:
    import networkx as nx

    graph: nx.DiGraph[str] = nx.DiGraph()
    labels: dict[str, str] = {}
    for holder in holders:
        node = f"task:{holder.task_run_id}"
        labels[node] = (
            f"{holder.workflow}/{holder.task} (run {holder.workflow_run_id}) "
            f"holding {holder.worker} {holder.pool} slot {holder.slot}"
        )
        graph.add_edge(f"pool:{holder.worker}/{holder.pool}", node)
        for run_id in holder.waiting_for:
            graph.add_edge(node, f"run:{run_id}")
    for run in blocked:
        labels[f"run:{run.workflow_run_id}"] = (
            f"waits for {run.workflow} run {run.workflow_run_id} (QUEUED)"
        )
        for worker in run.candidates:
            graph.add_edge(f"run:{run.workflow_run_id}", f"pool:{worker}/{run.pool}")
            labels[f"pool:{worker}/{run.pool}"] = (
                f"needs a {run.pool} slot on {worker}, all held by waiting runs"
            )
    try:
        edges = nx.find_cycle(graph)
    except nx.NetworkXNoCycle:
        return []
    nodes = [edge[0] for edge in edges]
    start = next((i for i, n in enumerate(nodes) if n.startswith("task:")), 0)
    ordered = nodes[start:] + nodes[:start]
    ordered.append(ordered[0])
    return [labels.get(node, names.get(node, node)) for node in ordered]


def _fixes(
    pools: Sequence[PoolState], holders: Sequence[SlotHolder], blocked: Sequence[BlockedRun]
) -> list[str]:
    fixes: list[str] = []
    for run in blocked:
        if run.requires:
            fixes.append(
                f"start a worker registering {run.workflow!r} whose labels satisfy "
                f"{run.requires} (hatchet.worker(..., labels={{...}})), or relax the task's "
                "desired_worker_labels / sticky strategy"
            )
        elif not run.candidates:
            fixes.append(
                f"register workflow {run.workflow!r} on a running worker "
                f"(hatchet.worker(..., workflows=[...])); "
                "run(wait_for_result=False) still queues it"
            )
    for pool in pools:
        parents = sorted({h.workflow for h in holders if h.worker == pool.worker})
        children = sorted(
            {b.workflow for b in blocked if pool.worker in b.candidates and b.pool == pool.pool}
        )
        if not children:
            continue  # nothing they wait for could use this pool: more slots would not help
        needed = pool.held_by_waiting + 1
        keyword = "slots" if pool.pool == SlotPool.DEFAULT.value else "durable_slots"
        fixes.append(
            f"give worker {pool.worker!r} at least {needed} {pool.pool} slots "
            f"(hatchet.worker({pool.worker!r}, {keyword}={needed})): {pool.held_by_waiting} "
            f"held by waiting parents + 1 for a child; as many parents at once as slots "
            f"deadlocks again"
        )
        fixes.append(
            f"run {', '.join(children)} on a separate worker, so children never compete "
            f"with their parents ({', '.join(parents)}) for {pool.pool} slots"
        )
        if pool.pool == SlotPool.DEFAULT.value:
            fixes.append(
                f"make the parent ({', '.join(parents)}) a durable task (@hatchet.durable_task): "
                "durable tasks use the durable slot pool, so a waiting parent does not hold a "
                "default slot"
            )
    return list(dict.fromkeys(fixes))
