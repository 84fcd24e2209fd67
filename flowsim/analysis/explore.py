"""Simulating discovered workflows: scenarios built in code, and spawn edges read off a run.

The analysis asks the simulator concrete questions ("do k parents deadlock this worker
with s slots?", "which children does a run of each workflow really spawn?"). Each one is
an ordinary scenario, built here as a dict and validated by ``parse_scenario``, over the
discovered workflows; task durations are zero unless given, so a question about slots is
answered at t=0 and in milliseconds.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from flowsim.analysis.discovery import Discovered, WorkerShape
from flowsim.errors import InvalidInputError
from flowsim.sdk.task import validate_input
from flowsim.sdk.workflow import BaseWorkflow
from flowsim.sim.results import SimulationResult
from flowsim.sim.runner import simulate
from flowsim.sim.scenario import Scenario, parse_scenario

#: slots of the one worker an exploring simulation runs every workflow on: enough that
#: no ordinary fan-out deadlocks it, few enough that a runaway spawn recursion stops
EXPLORE_SLOTS = 256
#: virtual seconds after which a question's simulation gives up
HORIZON = 3600.0

Inputs = Mapping[str, Mapping[str, Any]]


@dataclass(frozen=True)
class SimulatedSpawn:
    """Runs of ``child`` that runs of ``parent`` spawned in a simulation."""

    parent: str
    child: str
    count: int


def default_input(workflow: BaseWorkflow, inputs: Inputs | None = None) -> dict[str, Any] | None:
    """The input a question's arrivals use: the caller's, else the input model's defaults;
    None if neither validates (then nothing of that workflow can be simulated)."""
    given = dict((inputs or {}).get(workflow.name, {}))
    try:
        validate_input(workflow, given)
    except InvalidInputError:
        return None
    return given


def worker_entry(shape: WorkerShape, slots: int | None = None) -> dict[str, Any]:
    return {
        "name": shape.name,
        "slots": shape.slots if slots is None else slots,
        "durable_slots": shape.durable_slots,
        "workflows": list(shape.workflows),
    }


def build_scenario(
    discovered: Discovered,
    workers: Sequence[Mapping[str, Any]],
    arrivals: Sequence[Mapping[str, Any]],
    *,
    faults: Sequence[Mapping[str, Any]] = (),
    durations: Mapping[str, Any] | None = None,
    horizon: float = HORIZON,
    name: str = "",
) -> Scenario:
    data: dict[str, Any] = {
        "name": name or f"analysis of {discovered.target}",
        "module": discovered.module_name,
        "horizon": horizon,
        "workers": [dict(worker) for worker in workers],
        "arrivals": [dict(arrival) for arrival in arrivals],
        "faults": [dict(fault) for fault in faults],
        "durations": dict(durations or {}),
        "assertions": {"no_deadlock": False},
    }
    return parse_scenario(data)


def explore(
    discovered: Discovered, inputs: Inputs | None = None, skip: Iterable[str] = ()
) -> SimulationResult | None:
    """One run of every workflow whose input can be built (except those in ``skip``), all
    on one roomy worker: the spawns that really happen for those inputs. None if no
    workflow can be started."""
    arrivals = []
    skipped = set(skip)
    for name, workflow in discovered.workflows.items():
        if name in skipped:
            continue
        data = default_input(workflow, inputs)
        if data is not None:
            arrivals.append({"workflow": name, "input": data})
    if not arrivals:
        return None
    worker = {
        "name": "explore",
        "slots": EXPLORE_SLOTS,
        "durable_slots": EXPLORE_SLOTS,
        "workflows": list(discovered.workflows),
    }
    return simulate(build_scenario(discovered, [worker], arrivals, name="explore"))


def spawn_edges_from_simulation(result: SimulationResult) -> list[SimulatedSpawn]:
    """Parent workflow -> child workflow, with how many child runs, from a simulated run."""
    workflow_of = {run.run_id: run.workflow for run in result.runs}
    counts: Counter[tuple[str, str]] = Counter()
    for run in result.runs:
        if run.parent_run_id is not None and run.parent_run_id in workflow_of:
            counts[(workflow_of[run.parent_run_id], run.workflow)] += 1
    return [SimulatedSpawn(parent, child, n) for (parent, child), n in sorted(counts.items())]


def slot_deadlocked(result: SimulationResult, worker: str | None = None) -> bool:
    """True if some run held a slot waiting for runs that could never get one (on
    ``worker``'s pools, if given). Runs no worker registers are another finding."""
    for report in result.deadlocks:
        if not report.holders:
            continue
        if worker is None or any(pool.worker == worker for pool in report.pools):
            return True
    return False
