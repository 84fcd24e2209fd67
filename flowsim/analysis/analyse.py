"""``analyse(target)``: discovery, an exploring simulation, the graph and the findings, in
the order ``flowsim graph`` needs them, and the files it writes."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType

import networkx as nx

from flowsim.analysis.discovery import Discovered, discover
from flowsim.analysis.explore import Inputs, explore
from flowsim.analysis.finding import Finding, Severity
from flowsim.analysis.findings import findings as find
from flowsim.analysis.graph import build_graph, reaching_a_cycle, workflow_spawn_graph
from flowsim.analysis.png import render_png
from flowsim.analysis.render import render_text, to_dot, to_mermaid
from flowsim.analysis.spawns import spawn_edges_from_code
from flowsim.analysis.thresholds import MAX_PARENTS
from flowsim.sim.results import SimulationResult


@dataclass
class Analysis:
    discovered: Discovered
    graph: nx.DiGraph[str]
    findings: list[Finding]
    #: the exploring simulation the spawn edges were read from (None if not run)
    simulation: SimulationResult | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def errors(self) -> list[Finding]:
        return [f for f in self.findings if f.severity is Severity.ERROR]

    def render(self) -> str:
        text = render_text(self.graph, self.findings)
        notes = [*self.notes, *self.discovered.skipped]
        return text + ("\nNotes:\n" + "\n".join(f"  - {n}" for n in notes) if notes else "")

    def write(self, directory: str | Path, stem: str = "flowsim-graph") -> list[Path]:
        """Write ``STEM.dot``, ``STEM.mmd`` and ``STEM.png`` into ``directory``."""
        out = Path(directory)
        out.mkdir(parents=True, exist_ok=True)
        dot, mermaid = out / f"{stem}.dot", out / f"{stem}.mmd"
        dot.write_text(to_dot(self.graph), encoding="utf-8")
        mermaid.write_text(to_mermaid(self.graph), encoding="utf-8")
        return [dot, mermaid, render_png(self.graph, out / f"{stem}.png")]


def analyse(
    target: str | Path | ModuleType,
    *,
    inputs: Inputs | None = None,
    simulate: bool = True,
    max_parents: int = MAX_PARENTS,
) -> Analysis:
    """Everything ``flowsim graph`` reports about ``target``. ``simulate=False`` reads the
    spawns from the code only and reports structural thresholds, without running any of
    the user's task code."""
    discovered = discover(target)
    notes: list[str] = []
    calls = spawn_edges_from_code(discovered.workflows.values())
    recursive = reaching_a_cycle(workflow_spawn_graph(build_graph(discovered, code_spawns=calls)))
    if simulate and recursive:
        notes.append(
            "not simulated, because they can spawn without end (a spawn cycle): "
            + ", ".join(sorted(recursive))
        )
    simulation = explore(discovered, inputs, skip=recursive) if simulate else None
    if simulate and simulation is None and set(discovered.workflows) - recursive:
        notes.append("no workflow's input could be built from defaults: spawns from code only")
    if not discovered.workers_declared:
        notes.append(
            "the code declares no Worker at module level: assumed one worker with Hatchet's "
            "default slots registering every workflow"
        )
    graph = build_graph(discovered, simulation=simulation, code_spawns=calls)
    found = find(graph, discovered, inputs=inputs, verify=simulate, max_parents=max_parents)
    return Analysis(discovered, graph, found, simulation, notes)
