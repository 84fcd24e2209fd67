"""Static and simulated analysis of a user's workflow code: the graph of workflows, tasks,
workers and spawns, and what is wrong with it (spawn cycles, children no worker runs,
the slot counts below which a worker can deadlock).

``analyse("myapp")`` does it all; the pieces are exported for callers (the CLI, tests)
that want one step: ``discover``, ``build_graph``, ``findings``, ``to_dot``...
"""

from flowsim.analysis.analyse import Analysis, analyse
from flowsim.analysis.discovery import ASSUMED_WORKER, Discovered, WorkerShape, discover
from flowsim.analysis.explore import (
    SimulatedSpawn,
    build_scenario,
    explore,
    slot_deadlocked,
    spawn_edges_from_simulation,
)
from flowsim.analysis.finding import Finding, Severity
from flowsim.analysis.findings import (
    SpawnCycle,
    UnregisteredChild,
    findings,
    spawn_cycles,
    unregistered_children,
)
from flowsim.analysis.graph import build_graph, workflow_spawn_graph
from flowsim.analysis.png import render_png
from flowsim.analysis.render import render_text, to_dot, to_mermaid
from flowsim.analysis.spawns import SPAWN_METHODS, SpawnCall, spawn_edges_from_code
from flowsim.analysis.thresholds import DeadlockThreshold, ThresholdPoint, deadlock_thresholds

__all__ = [
    "ASSUMED_WORKER",
    "SPAWN_METHODS",
    "Analysis",
    "DeadlockThreshold",
    "Discovered",
    "Finding",
    "Severity",
    "SimulatedSpawn",
    "SpawnCall",
    "SpawnCycle",
    "ThresholdPoint",
    "UnregisteredChild",
    "WorkerShape",
    "analyse",
    "build_graph",
    "build_scenario",
    "deadlock_thresholds",
    "discover",
    "explore",
    "findings",
    "render_png",
    "render_text",
    "slot_deadlocked",
    "spawn_cycles",
    "spawn_edges_from_code",
    "spawn_edges_from_simulation",
    "to_dot",
    "to_mermaid",
    "unregistered_children",
    "workflow_spawn_graph",
]
