"""What the graph says is wrong: spawn cycles, children nobody runs, deadlock thresholds."""

from __future__ import annotations

from dataclasses import dataclass

import networkx as nx

from flowsim.analysis.discovery import Discovered
from flowsim.analysis.explore import Inputs
from flowsim.analysis.finding import Finding, Severity
from flowsim.analysis.graph import (
    edges_of_kind,
    owner_workflow,
    registered_by,
    workflow_spawn_graph,
)
from flowsim.analysis.thresholds import MAX_PARENTS, DeadlockThreshold, deadlock_thresholds


@dataclass(frozen=True)
class SpawnCycle(Finding):
    """Workflows that spawn each other in a ring: unless a base case in the inputs stops
    it, every run spawns another, and each waiting non-durable parent holds a slot."""

    kind = "spawn-cycle"

    workflows: tuple[str, ...]

    @property
    def severity(self) -> Severity:
        return Severity.WARNING

    def message(self) -> str:
        ring = " -> ".join(f'"{name}"' for name in (*self.workflows, self.workflows[0]))
        return (
            f"spawn cycle: {ring}. Each run can start another; make sure an input ends the "
            "recursion, and that waiting parents are durable tasks, or the slots run out."
        )


@dataclass(frozen=True)
class UnregisteredChild(Finding):
    """A child workflow that no declared worker registers: its runs stay QUEUED and the
    parent waits for ever (flowsim raises ``UnknownWorkflowError`` at once)."""

    kind = "unregistered-child"

    workflow: str
    spawned_by: tuple[str, ...]
    workers: tuple[str, ...]

    @property
    def severity(self) -> Severity:
        return Severity.ERROR

    def message(self) -> str:
        by = ", ".join(f'"{name}"' for name in self.spawned_by)
        workers = ", ".join(f'"{name}"' for name in self.workers)
        return (
            f'child workflow "{self.workflow}" (spawned by {by}) is registered by no worker '
            f"(workers: {workers}); its runs would never start. Add it to a worker's "
            "workflows=[...]."
        )


def findings(
    graph: nx.DiGraph[str],
    discovered: Discovered,
    *,
    inputs: Inputs | None = None,
    verify: bool = True,
    max_parents: int = MAX_PARENTS,
) -> list[Finding]:
    """Every finding, errors first. ``inputs`` (workflow name -> input dict) is used where
    a parent workflow's input model has required fields; ``verify=False`` skips the
    simulations and reports the structural thresholds only."""
    out: list[Finding] = [*spawn_cycles(graph), *unregistered_children(graph, discovered)]
    thresholds: list[DeadlockThreshold] = deadlock_thresholds(
        graph, discovered, inputs=inputs, verify=verify, max_parents=max_parents
    )
    out.extend(thresholds)
    order = {Severity.ERROR: 0, Severity.WARNING: 1}
    return sorted(out, key=lambda finding: order[finding.severity])


def spawn_cycles(graph: nx.DiGraph[str]) -> list[SpawnCycle]:
    cycles = []
    for cycle in nx.simple_cycles(workflow_spawn_graph(graph)):
        start = cycle.index(min(cycle))  # a stable rotation, for stable output
        cycles.append(SpawnCycle(tuple(cycle[start:] + cycle[:start])))
    return sorted(cycles, key=lambda c: c.workflows)


def unregistered_children(
    graph: nx.DiGraph[str], discovered: Discovered
) -> list[UnregisteredChild]:
    """Only judged when the code declares workers: with none declared, which process runs
    what is not in the code at all."""
    if not discovered.workers_declared:
        return []
    spawners: dict[str, set[str]] = {}
    for source, target in edges_of_kind(graph, "spawn"):
        spawners.setdefault(graph.nodes[target]["label"], set()).add(owner_workflow(graph, source))
    workers = tuple(w.name for w in discovered.workers)
    return [
        UnregisteredChild(child, tuple(sorted(by)), workers)
        for child, by in sorted(spawners.items())
        if not registered_by(graph, child)
    ]
