"""The graph as text for a terminal, DOT for Graphviz and Mermaid for Markdown pages.

All three are plain strings built from the graph's attributes, in a stable order, so a
rendered file can be committed and diffed, and a test can look for an edge in it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import networkx as nx

from flowsim.analysis.finding import Finding
from flowsim.analysis.graph import nodes_of_kind

_DOT_NODE = {
    "workflow": 'shape=folder, style=filled, fillcolor="#dbeafe"',
    "task": 'shape=box, style="rounded,filled", fillcolor="#f8fafc"',
    "worker": 'shape=cylinder, style=filled, fillcolor="#fef3c7"',
}
_DOT_EDGE = {
    "contains": 'color="#94a3b8", arrowhead=none, style=dotted',
    "dag": 'color="#0f172a"',
    "spawn": 'color="#dc2626", penwidth=2',
    "registers": 'color="#2563eb", style=dashed',
}


def node_label(graph: nx.DiGraph[str], node: str) -> str:
    data = graph.nodes[node]
    kind = data.get("kind")
    label = str(data.get("label", node))
    if kind == "task":
        extras = []
        if data.get("durable"):
            extras.append("durable")
        if data.get("retries"):
            extras.append(f"retries={data['retries']}")
        return f"{label} ({', '.join(extras)})" if extras else label
    if kind == "worker":
        assumed = "" if data.get("declared", True) else ", assumed"
        return f"{label} (slots={data.get('slots')}, durable={data.get('durable_slots')}{assumed})"
    return label


def edge_label(data: dict[str, Any]) -> str:
    kind = data.get("kind")
    if kind == "spawn":
        how = "/".join(data.get("methods", ())) or "run"
        found = " + ".join(data.get("found_by", ()))
        return f"spawns: {how} [{found}]"
    if kind == "registers":
        return "registers"
    return ""


def _ordered_nodes(graph: nx.DiGraph[str]) -> list[str]:
    return [
        n for kind in ("worker", "workflow", "task") for n in sorted(nodes_of_kind(graph, kind))
    ]


def _ordered_edges(graph: nx.DiGraph[str]) -> list[tuple[str, str, dict[str, Any]]]:
    return sorted(graph.edges(data=True), key=lambda e: (str(e[2].get("kind")), e[0], e[1]))


def to_dot(graph: nx.DiGraph[str], name: str = "flowsim") -> str:
    lines = [f"digraph {_dot_quote(name)} {{", "  rankdir=LR;", '  node [fontname="Helvetica"];']
    for node in _ordered_nodes(graph):
        style = _DOT_NODE.get(str(graph.nodes[node].get("kind")), "")
        lines.append(
            f"  {_dot_quote(node)} [label={_dot_quote(node_label(graph, node))}, {style}];"
        )
    for source, target, data in _ordered_edges(graph):
        style = _DOT_EDGE.get(str(data.get("kind")), "")
        label = edge_label(data)
        attrs = ", ".join(a for a in (f"label={_dot_quote(label)}" if label else "", style) if a)
        lines.append(f"  {_dot_quote(source)} -> {_dot_quote(target)} [{attrs}];")
    lines.append("}")
    return "\n".join(lines) + "\n"


def _dot_quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


_MERMAID_SHAPE = {"workflow": ('[["', '"]]'), "task": ('("', '")'), "worker": ('[("', '")]')}
_MERMAID_ARROW = {"contains": "-.-", "dag": "-->", "spawn": "==>", "registers": "-.->"}


def to_mermaid(graph: nx.DiGraph[str]) -> str:
    ids = {node: f"n{index}" for index, node in enumerate(_ordered_nodes(graph))}
    lines = ["flowchart LR"]
    for node, ident in ids.items():
        kind = str(graph.nodes[node].get("kind"))
        opening, closing = _MERMAID_SHAPE.get(kind, ('["', '"]'))
        text = _mermaid_text(node_label(graph, node))
        lines.append(f"  {ident}{opening}{text}{closing}:::{kind}")
    for source, target, data in _ordered_edges(graph):
        arrow = _MERMAID_ARROW.get(str(data.get("kind")), "-->")
        label = edge_label(data)
        middle = f'{arrow}|"{_mermaid_text(label)}"|' if label else arrow
        lines.append(f"  {ids[source]} {middle} {ids[target]}")
    lines += [
        "  classDef workflow fill:#dbeafe,stroke:#1e3a8a",
        "  classDef task fill:#f8fafc,stroke:#475569",
        "  classDef worker fill:#fef3c7,stroke:#92400e",
    ]
    return "\n".join(lines) + "\n"


def _mermaid_text(text: str) -> str:
    return text.replace('"', "#quot;").replace("|", "#124;")


def render_text(graph: nx.DiGraph[str], findings: Sequence[Finding] = ()) -> str:
    """What ``flowsim graph`` prints: workflows with their tasks and spawns, workers, and
    the findings."""
    workflows = sorted(nodes_of_kind(graph, "workflow"))
    out = [f"Workflows ({len(workflows)}):"]
    for workflow in workflows:
        data = graph.nodes[workflow]
        traits = []
        if data.get("standalone"):
            traits.append("standalone")
        if data.get("input_model"):
            traits.append(f"input {data['input_model']}")
        if data.get("referenced_only"):
            traits.append("found only as a spawned child")
        out.append(f"  {data['label']}" + (f"  [{', '.join(traits)}]" if traits else ""))
        out.extend(_spawn_lines(graph, workflow, "    "))
        for task in sorted(graph.successors(workflow)):
            if graph.edges[workflow, task]["kind"] != "contains":
                continue
            parents = sorted(
                graph.nodes[p]["label"]
                for p in graph.predecessors(task)
                if graph.edges[p, task]["kind"] == "dag"
            )
            after = f"  (after {', '.join(parents)})" if parents else ""
            out.append(f"    task {node_label(graph, task)}{after}")
            out.extend(_spawn_lines(graph, task, "      "))
    workers = sorted(nodes_of_kind(graph, "worker"))
    out.append(f"Workers ({len(workers)}):")
    for worker in workers:
        registered = sorted(graph.nodes[t]["label"] for t in graph.successors(worker))
        out.append(f"  {node_label(graph, worker)}: registers {', '.join(registered) or 'nothing'}")
    out.append(f"Findings ({len(findings)}):" if findings else "Findings: none")
    for finding in findings:
        first, *rest = str(finding).splitlines()
        out.append(f"  - {first}")
        out.extend(f"    {line}" for line in rest)
    return "\n".join(out)


def _spawn_lines(graph: nx.DiGraph[str], node: str, indent: str) -> list[str]:
    lines = []
    for target in sorted(graph.successors(node)):
        data = graph.edges[node, target]
        if data["kind"] != "spawn":
            continue
        where = f" at {', '.join(data['locations'])}" if data.get("locations") else ""
        lines.append(f"{indent}{edge_label(data)} -> {graph.nodes[target]['label']}{where}")
    return lines
