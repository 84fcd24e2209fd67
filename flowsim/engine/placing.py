"""The in-memory engine's side of placement: a claim filter over its live workers.

The engine knows every worker of its backend (one process), so the peers a claimer may
defer to are its other running workers, with their free slots as of this very dispatch
(a worker's claims in the same pass already count). Sticky pins live on the run record.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from flowsim.engine.runtime import Registrable, WorkerRuntime
from flowsim.placement import Peer
from flowsim.rules import SlotPool
from flowsim.store.memory import MemoryStore
from flowsim.store.placement_filter import ClaimFilter, constrained
from flowsim.store.records import WorkflowSpec


def has_placement_rules(workflows: Iterable[Registrable]) -> bool:
    """Whether any task of these workflows has desired labels or a sticky strategy; a
    worker registering none of those claims with no filter at all."""
    return any(placed(wf.spec) for wf in workflows)


def placed(spec: WorkflowSpec) -> bool:
    return any(constrained(spec, task) for task in spec.tasks.values())


def peers(workers: Mapping[str, WorkerRuntime], workflow: str, pool: SlotPool) -> list[Peer]:
    return [
        Peer(w.id, w.labels, w.free(pool))
        for w in workers.values()
        if w.accepting and w.registers(workflow) and w.capacity.get(pool, 0) > 0
    ]


def claim_filter(
    store: MemoryStore, workers: Mapping[str, WorkerRuntime], worker: WorkerRuntime, now: float
) -> ClaimFilter | None:
    if not worker.placement_rules:
        return None

    def pinned(run_id: str) -> str | None:
        return store.runs[run_id].sticky_worker

    def pin(run_id: str, worker_id: str) -> str:
        run = store.runs[run_id]
        if run.sticky_worker is None:
            run.sticky_worker = worker_id
        return run.sticky_worker

    return ClaimFilter(
        worker.id,
        worker.labels,
        now,
        lambda workflow, pool: peers(workers, workflow, pool),
        pinned,
        pin,
    )


__all__ = ["claim_filter", "has_placement_rules", "peers", "placed"]
