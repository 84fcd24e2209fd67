"""The graph as a PNG, drawn with matplotlib's Agg canvas (no display, no pyplot state).

Layout follows the spawn structure, because that is what a reader traces: workers on the
left, then workflows in columns by how deep in the spawn chain they start (parents left
of their children), each workflow's tasks just to its right.
"""

from __future__ import annotations

from pathlib import Path

import networkx as nx
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from flowsim.analysis.graph import nodes_of_kind, workflow_node, workflow_spawn_graph
from flowsim.analysis.render import node_label

_FILL = {"workflow": "#dbeafe", "task": "#f8fafc", "worker": "#fef3c7"}
_EDGE = {"contains": "#94a3b8", "dag": "#0f172a", "spawn": "#dc2626", "registers": "#2563eb"}
_COLUMN = 3.2
#: spawn and registration edges cross columns; curving them keeps them off the nodes
_CURVE = {"spawn": "arc3,rad=0.25", "registers": "arc3,rad=-0.15"}


def layout(graph: nx.DiGraph[str]) -> dict[str, tuple[float, float]]:
    depth = _spawn_depth(graph)
    blocks: dict[str, dict[str, tuple[float, float]]] = {}
    widths: dict[int, float] = {}
    for name in depth:
        blocks[name] = _block(graph, name)
        right = max((x for x, _ in blocks[name].values()), default=0.0)
        widths[depth[name]] = max(widths.get(depth[name], 0.0), right)
    starts: dict[int, float] = {}
    x = _COLUMN
    for level in sorted(widths):
        starts[level] = x
        x += widths[level] + _COLUMN
    positions: dict[str, tuple[float, float]] = {}
    rows: dict[int, float] = {}
    for name in sorted(depth, key=lambda n: (depth[n], n)):
        top = rows.get(depth[name], 0.0)
        for node, (dx, dy) in blocks[name].items():
            positions[node] = (starts[depth[name]] + dx, -(top + dy))
        rows[depth[name]] = top + max(dy for _, dy in blocks[name].values()) + 1.2
    for index, worker in enumerate(sorted(nodes_of_kind(graph, "worker"))):
        positions[worker] = (0.0, -1.2 * index)
    return positions


def _spawn_depth(graph: nx.DiGraph[str]) -> dict[str, int]:
    """How far down the spawn chain each workflow starts (a cycle shares one level)."""
    condensed = nx.condensation(workflow_spawn_graph(graph))
    levels: dict[int, int] = {}
    for component in nx.topological_sort(condensed):
        above = [levels[parent] + 1 for parent in condensed.predecessors(component)]
        levels[component] = max(above, default=0)
    return {
        name: levels[component]
        for component, members in condensed.nodes(data="members")
        for name in members
    }


def _block(graph: nx.DiGraph[str], workflow: str) -> dict[str, tuple[float, float]]:
    """A workflow and its tasks, relative to the workflow node: tasks below it, in
    columns by DAG generation, so DAG edges run left to right."""
    node = workflow_node(workflow)
    tasks = [t for t in graph.successors(node) if graph.edges[node, t]["kind"] == "contains"]
    dag = graph.subgraph(tasks).edge_subgraph(
        [(s, t) for s, t in graph.subgraph(tasks).edges if graph.edges[s, t]["kind"] == "dag"]
    )
    block = {node: (0.0, 0.0)}
    generation = {t: 0 for t in tasks}
    for index, layer in enumerate(nx.topological_generations(dag)):
        for task in layer:
            generation[task] = index
    stacked: dict[int, int] = {}
    for task in sorted(tasks, key=lambda t: (generation[t], t)):
        row = stacked.get(generation[task], 0)
        stacked[generation[task]] = row + 1
        block[task] = (1.2 + 1.6 * generation[task], 0.7 * (row + 1))
    return block


def _has_dag_parent(graph: nx.DiGraph[str], task: str) -> bool:
    return any(graph.edges[p, task]["kind"] == "dag" for p in graph.predecessors(task))


def render_png(graph: nx.DiGraph[str], path: str | Path, *, dpi: int = 120) -> Path:
    """Write the graph to ``path`` as a PNG and return the path."""
    positions = layout(graph)
    xs = [x for x, _ in positions.values()] or [0.0]
    ys = [y for _, y in positions.values()] or [0.0]
    width = max(6.0, (max(xs) - min(xs)) * 1.1 + 4)
    height = max(3.0, (max(ys) - min(ys)) * 0.9 + 2)
    figure = Figure(figsize=(width, height), dpi=dpi)
    FigureCanvasAgg(figure)
    axes = figure.add_subplot()
    axes.set_axis_off()
    axes.set_xlim(min(xs) - 1.5, max(xs) + 2.0)
    axes.set_ylim(min(ys) - 0.8, max(ys) + 0.8)
    for source, target, data in graph.edges(data=True):
        if source not in positions or target not in positions:
            continue
        kind = str(data.get("kind"))
        if kind == "contains" and _has_dag_parent(graph, target):
            continue  # the DAG edges already tie it to the workflow's first tasks
        axes.annotate(
            "",
            xy=positions[target],
            xytext=positions[source],
            arrowprops={
                "arrowstyle": "-" if kind == "contains" else "-|>",
                "color": _EDGE.get(kind, "black"),
                "linestyle": "--" if kind == "registers" else "-",
                "linewidth": 2.0 if kind == "spawn" else 1.0,
                "shrinkA": 14,
                "shrinkB": 14,
                "connectionstyle": _CURVE.get(kind, "arc3"),
            },
        )
    for node, (x, y) in positions.items():
        kind = str(graph.nodes[node].get("kind"))
        axes.text(
            x,
            y,
            node_label(graph, node),
            ha="center",
            va="center",
            fontsize=9,
            bbox={"boxstyle": "round", "facecolor": _FILL.get(kind, "white"), "edgecolor": "gray"},
        )
    handles = [Line2D([], [], color=color, label=kind) for kind, color in _EDGE.items()]
    axes.legend(handles=handles, loc="lower right", fontsize=8, frameon=False)
    target_path = Path(path)
    figure.savefig(target_path, format="png")
    return target_path
