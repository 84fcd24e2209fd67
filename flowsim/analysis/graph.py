"""The app as one graph: workflows, their tasks, DAG edges, spawn edges and workers.

Node ids are ``workflow:NAME``, ``task:WORKFLOW/TASK`` and ``worker:NAME``; every node has
``kind`` (workflow, task, worker) and ``label``. Edges have ``kind``:

* ``contains``  workflow -> each of its tasks
* ``dag``       parent task -> child task (``parents=[...]``)
* ``spawn``     task -> workflow it starts runs of; ``found_by`` says whether the code, a
  simulated run or both show it. A simulated spawn from a workflow with several tasks
  that the code does not attribute to one of them goes from the workflow node instead.
* ``registers`` worker -> workflow

Everything the findings need (durable tasks, slots, who registers what) is in the node
attributes, so the graph alone can be rendered, serialised or checked.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import networkx as nx

from flowsim.analysis.discovery import Discovered
from flowsim.analysis.explore import SimulatedSpawn, spawn_edges_from_simulation
from flowsim.analysis.spawns import SpawnCall, spawn_edges_from_code
from flowsim.sdk.workflow import Standalone
from flowsim.sim.results import SimulationResult


def workflow_node(name: str) -> str:
    return f"workflow:{name}"


def task_node(workflow: str, task: str) -> str:
    return f"task:{workflow}/{task}"


def worker_node(name: str) -> str:
    return f"worker:{name}"


def build_graph(
    discovered: Discovered,
    *,
    simulation: SimulationResult | None = None,
    code_spawns: Sequence[SpawnCall] | None = None,
) -> nx.DiGraph[str]:
    """The graph of ``discovered``; spawn edges from the code (computed unless given) and,
    when a simulation is given, from the runs it spawned."""
    graph: nx.DiGraph[str] = nx.DiGraph(target=discovered.target)
    for name, workflow in discovered.workflows.items():
        graph.add_node(
            workflow_node(name),
            kind="workflow",
            label=name,
            standalone=isinstance(workflow, Standalone),
            input_model=getattr(workflow.input_model, "__name__", str(workflow.input_model)),
            referenced_only=name in discovered.referenced_only,
        )
        for task in workflow.tasks:
            node = task_node(name, task.name)
            graph.add_node(
                node,
                kind="task",
                label=task.name,
                workflow=name,
                durable=task.durable,
                retries=task.spec.retries,
                slot_cost=task.spec.slot_cost,
            )
            graph.add_edge(workflow_node(name), node, kind="contains")
            for parent in task.parent_names:
                graph.add_edge(task_node(name, parent), node, kind="dag")
    for worker in discovered.workers:
        graph.add_node(
            worker_node(worker.name),
            kind="worker",
            label=worker.name,
            slots=worker.slots,
            durable_slots=worker.durable_slots,
            declared=worker.declared,
        )
        for name in worker.workflows:
            graph.add_edge(worker_node(worker.name), workflow_node(name), kind="registers")
    calls = (
        spawn_edges_from_code(discovered.workflows.values()) if code_spawns is None else code_spawns
    )
    _add_code_spawns(graph, calls)
    if simulation is not None:
        _add_simulated_spawns(graph, spawn_edges_from_simulation(simulation), calls)
    return graph


def _spawn_edge(graph: nx.DiGraph[str], source: str, child: str) -> dict[str, Any]:
    target = workflow_node(child)
    if target not in graph:
        graph.add_node(target, kind="workflow", label=child, referenced_only=True)
    if not graph.has_edge(source, target):
        graph.add_edge(
            source, target, kind="spawn", found_by=(), methods=(), locations=(), simulated_runs=0
        )
    data: dict[str, Any] = graph.edges[source, target]
    return data


def _add_code_spawns(graph: nx.DiGraph[str], calls: Iterable[SpawnCall]) -> None:
    for call in calls:
        data = _spawn_edge(graph, task_node(call.workflow, call.task), call.child_name)
        data["found_by"] = _union(data["found_by"], "code")
        data["methods"] = _union(data["methods"], call.method)
        data["locations"] = _union(data["locations"], call.location)


def _add_simulated_spawns(
    graph: nx.DiGraph[str], spawns: Iterable[SimulatedSpawn], calls: Sequence[SpawnCall]
) -> None:
    for spawn in spawns:
        data = _spawn_edge(graph, _spawning_node(graph, spawn, calls), spawn.child)
        data["found_by"] = _union(data["found_by"], "simulation")
        data["simulated_runs"] += spawn.count


def _spawning_node(
    graph: nx.DiGraph[str], spawn: SimulatedSpawn, calls: Sequence[SpawnCall]
) -> str:
    """A simulated run records the parent *run*; the task is known when the workflow has
    one task, or when the code shows exactly one of its tasks spawning that child."""
    tasks = [
        target
        for target in graph.successors(workflow_node(spawn.parent))
        if graph.edges[workflow_node(spawn.parent), target]["kind"] == "contains"
    ]
    if len(tasks) == 1:
        return tasks[0]
    named = {c.task for c in calls if c.workflow == spawn.parent and c.child_name == spawn.child}
    if len(named) == 1:
        return task_node(spawn.parent, named.pop())
    return workflow_node(spawn.parent)


def _union(values: tuple[str, ...], value: str) -> tuple[str, ...]:
    return tuple(sorted({*values, value}))


# ---------------------------------------------------------------- queries


def nodes_of_kind(graph: nx.DiGraph[str], kind: str) -> list[str]:
    return [node for node, data in graph.nodes(data=True) if data.get("kind") == kind]


def edges_of_kind(graph: nx.DiGraph[str], kind: str) -> list[tuple[str, str]]:
    return [(s, t) for s, t, data in graph.edges(data=True) if data.get("kind") == kind]


def owner_workflow(graph: nx.DiGraph[str], node: str) -> str:
    """The workflow name of a task or workflow node."""
    data = graph.nodes[node]
    return str(data["workflow"] if data["kind"] == "task" else data["label"])


def workflow_spawn_graph(graph: nx.DiGraph[str]) -> nx.DiGraph[str]:
    """Workflow -> workflow whenever some task of the first spawns the second."""
    spawns: nx.DiGraph[str] = nx.DiGraph()
    spawns.add_nodes_from(graph.nodes[n]["label"] for n in nodes_of_kind(graph, "workflow"))
    for source, target in edges_of_kind(graph, "spawn"):
        spawns.add_edge(owner_workflow(graph, source), graph.nodes[target]["label"])
    return spawns


def reaching_a_cycle(spawns: nx.DiGraph[str]) -> set[str]:
    """Workflows on a spawn cycle or spawning into one: a run of any of them can recurse
    without end, and at zero task durations a simulation of it would never leave t=0."""
    on_cycle = {name for component in nx.strongly_connected_components(spawns)
                for name in component
                if len(component) > 1 or spawns.has_edge(name, name)}  # fmt: skip
    reaching = set(on_cycle)
    for name in on_cycle:
        reaching |= nx.ancestors(spawns, name)
    return reaching


def registered_by(graph: nx.DiGraph[str], workflow: str) -> list[str]:
    node = workflow_node(workflow)
    if node not in graph:
        return []
    return sorted(
        graph.nodes[source]["label"]
        for source in graph.predecessors(node)
        if graph.edges[source, node]["kind"] == "registers"
    )
