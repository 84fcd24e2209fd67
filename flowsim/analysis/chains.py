"""The structural half of a deadlock threshold: chains of runs that wait holding a slot.

A non-durable task holds its worker slot while it waits for its children; if those
children can only run on the same worker, each waiting parent takes a slot the children
need. Along a chain of such waits (a parent waiting on a middle run waiting on a leaf)
every non-durable level holds a slot, so ``k`` concurrent parents at the top of a chain
with ``h`` holding levels fill ``k * h`` slots and need one more for the run at the
bottom: ``k * h + 1``. Durable tasks hold durable slots, not default ones.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import networkx as nx

from flowsim.analysis.discovery import WorkerShape
from flowsim.analysis.graph import workflow_node


@dataclass(frozen=True)
class Chain:
    """Workflows from a parent down to the run that needs a default slot on the worker,
    and how many of the waiting levels hold one."""

    workflows: tuple[str, ...]
    holders: int

    def predicted(self, parents: int) -> int:
        return parents * self.holders + 1


def _spawns(graph: nx.DiGraph[str], workflow: str) -> list[tuple[bool, str]]:
    """(the spawning task is durable, child workflow) for every spawn of ``workflow``."""
    found: list[tuple[bool, str]] = []
    source = workflow_node(workflow)
    if source not in graph:
        return found
    for node in [source, *graph.successors(source)]:
        for target in graph.successors(node):
            if graph.edges[node, target]["kind"] != "spawn":
                continue
            data = graph.nodes[node]
            if data["kind"] == "task":
                durable = bool(data["durable"])
            else:
                durable = all(graph.nodes[t].get("durable") for t in _tasks(graph, workflow))
            found.append((durable, str(graph.nodes[target]["label"])))
    return found


def _tasks(graph: nx.DiGraph[str], workflow: str) -> list[str]:
    source = workflow_node(workflow)
    return [t for t in graph.successors(source) if graph.edges[source, t]["kind"] == "contains"]


def _needs_default_slot(graph: nx.DiGraph[str], workflow: str) -> bool:
    return any(not graph.nodes[t].get("durable") for t in _tasks(graph, workflow))


def holding_chain(graph: nx.DiGraph[str], root: str, exclusive: frozenset[str]) -> Chain | None:
    """The chain from ``root`` with the most slot-holding waits, among children only the
    worker runs (``exclusive``); None if no wait of ``root`` needs a default slot there."""

    def best(workflow: str, stack: frozenset[str]) -> Chain | None:
        chosen: Chain | None = None
        for durable, child in _spawns(graph, workflow):
            if child not in exclusive or child in stack:
                continue  # runs elsewhere too, or a spawn cycle (reported on its own)
            hold = 0 if durable else 1
            options: list[Chain] = []
            if _needs_default_slot(graph, child):
                options.append(Chain((workflow, child), hold))
            below = best(child, stack | {child})
            if below is not None:
                options.append(Chain((workflow, *below.workflows), hold + below.holders))
            for option in options:
                if chosen is None or option.holders > chosen.holders:
                    chosen = option
        return chosen

    return best(root, frozenset({root}))


def exclusive_workflows(worker: WorkerShape, workers: Sequence[WorkerShape]) -> frozenset[str]:
    others = {name for w in workers if w.name != worker.name for name in w.workflows}
    return frozenset(name for name in worker.workflows if name not in others)
