"""Per worker: how many slots it needs before a deadlock stops being reachable.

The structure gives the guess, ``k * h + 1`` for ``k`` parents atop a chain of ``h``
slot-holding waits (``flowsim.analysis.chains``). The guess is a lower bound: fan-out at
a middle level adds holders, an unawaited ``run(wait_for_result=False)`` removes them. So the number
reported is the simulator's: ``k`` parents arrive at t=0 on the discovered workers, and
the first slot count at which the engine finds no deadlock (with one slot fewer
deadlocking) is the threshold for ``k`` parents.
Every task lasts ``STEP`` (a millisecond) rather than zero: with zero durations the first
parent runs and queues its children before the second parent is even claimed, so the
parents are not concurrent at all. A common step makes each level of the tree start
together, parents first, which is the interleaving "k concurrent parents" means.

The same search over ``k`` at the worker's own slot count gives the concurrency at which
that deployment deadlocks. Deadlocked simulations cost more the more runs are stuck, so
a search whose simulations would exceed ``RUN_BUDGET`` runs is not simulated: the count
is then extrapolated from the simulated points (and said to be).
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any

import networkx as nx

from flowsim.analysis.chains import Chain, exclusive_workflows, holding_chain
from flowsim.analysis.discovery import Discovered, WorkerShape
from flowsim.analysis.explore import (
    Inputs,
    build_scenario,
    default_input,
    slot_deadlocked,
    worker_entry,
)
from flowsim.analysis.finding import Finding, Severity
from flowsim.analysis.graph import (
    nodes_of_kind,
    reaching_a_cycle,
    workflow_spawn_graph,
)
from flowsim.analysis.search import first_true
from flowsim.sim.runner import simulate

#: concurrent parents for which the threshold is demonstrated
MAX_PARENTS = 4
#: give up looking for a safe slot count (or a deadlocking parent count) beyond these
SLOT_CAP = 1024
PARENT_CAP = 256
#: the most runs one simulation of the search may start (deadlocks cost ~quadratically)
RUN_BUDGET = 2000
#: seconds every task takes in the searches (see the module docstring)
STEP = 0.001


@dataclass(frozen=True)
class ThresholdPoint:
    parents: int
    #: ``k * h + 1`` from the spawn structure
    predicted: int
    #: the first slot count without a deadlock; None if none up to the cap, or not
    #: simulated (then ``demonstrated`` is False)
    slots_needed: int | None
    demonstrated: bool


@dataclass(frozen=True)
class DeadlockThreshold(Finding):
    kind = "deadlock-threshold"

    worker: str
    worker_slots: int
    worker_declared: bool
    parent: str
    chain: tuple[str, ...]
    holders: int
    points: tuple[ThresholdPoint, ...]
    #: the fewest concurrent parent runs that deadlock the worker at its own slot count
    deadlock_at_parents: int | None
    verified: bool
    #: False if ``deadlock_at_parents`` was extrapolated from ``points``, not simulated
    deadlock_at_demonstrated: bool = False
    #: the most concurrent parents simulated at the worker's own slot count
    parents_searched: int = 0
    note: str = ""

    @property
    def severity(self) -> Severity:
        return Severity.ERROR if self.deadlock_at_parents == 1 else Severity.WARNING

    def message(self) -> str:
        waits = " -> ".join(f'"{name}"' for name in self.chain)
        assumed = "" if self.worker_declared else " (assumed: the code declares no worker)"
        lines = [
            f'worker "{self.worker}" ({_plural(self.worker_slots, "slot")}){assumed}: '
            f"{waits}: each run but the last waits for the next while holding one of this "
            "worker's slots, and only this worker runs them."
        ]
        width = max(3, *(len(str(p.slots_needed)) for p in self.points))
        how = "simulated" if self.verified else "NOT simulated, predicted"
        lines.append(
            "  concurrent parents:     " + " ".join(f"{p.parents:>{width}}" for p in self.points)
        )
        lines.append(
            "  deadlock below (slots): "
            + " ".join(f"{_cell(p.slots_needed):>{width}}" for p in self.points)
            + f"   ({how}; structure predicts k*{self.holders}+1: "
            + " ".join(str(p.predicted) for p in self.points)
            + ")"
        )
        if self.deadlock_at_parents is not None:
            how_known = (
                "simulated"
                if self.deadlock_at_demonstrated
                else "extrapolated from the points above"
                if self.verified
                else "predicted"
            )
            runs = self.deadlock_at_parents
            lines.append(
                f"  With its {_plural(self.worker_slots, 'slot')}, "
                + (f'one run of "{self.parent}" deadlocks it' if runs == 1 else
                   f'{runs} concurrent runs of "{self.parent}" deadlock it')
                + f" ({how_known})."
            )  # fmt: skip
        elif self.parents_searched:
            lines.append(
                f"  With its {_plural(self.worker_slots, 'slot')}, up to "
                f'{self.parents_searched} concurrent runs of "{self.parent}" do not deadlock it '
                "(simulated)."
            )
        if self.note:
            lines.append(f"  {self.note}")
        return "\n".join(lines)


def _plural(count: int, noun: str) -> str:
    return f"{count} {noun}{'' if count == 1 else 's'}"


def _cell(value: int | None) -> str:
    return "-" if value is None else str(value)


# ---------------------------------------------------------------- demonstration


class _Prober:
    """Answers "does this worker deadlock with s slots and k parents?" by simulation."""

    def __init__(
        self, discovered: Discovered, worker: WorkerShape, parent: str, data: dict[str, Any]
    ) -> None:
        self.discovered = discovered
        self.worker = worker
        self.parent = parent
        self.data = data
        self.deadlocks = cache(self._deadlocks)
        #: runs one parent run starts (itself included), once a simulation has shown it
        self.runs_per_parent: int | None = None
        #: why a simulation without a deadlock still shows nothing: a run that failed
        self.inconclusive: str | None = None

    def _deadlocks(self, slots: int, parents: int) -> bool:
        workers = [
            worker_entry(w, slots if w.name == self.worker.name else None)
            for w in self.discovered.workers
        ]
        arrivals = [{"workflow": self.parent, "input": self.data, "count": parents}]
        steps = {name: STEP for name in self.discovered.workflows}
        scenario = build_scenario(
            self.discovered,
            workers,
            arrivals,
            durations=steps,
            name=f"{self.worker.name} threshold",
        )
        result = simulate(scenario)
        deadlocked = slot_deadlocked(result, self.worker.name)
        if not deadlocked:
            if self.runs_per_parent is None:
                self.runs_per_parent = max(1, len(result.runs) // parents)
            failed = next((a for a in result.attempts if a.error), None)
            if failed is not None and self.inconclusive is None:
                error = (failed.error or "").splitlines()[0]
                self.inconclusive = f"{failed.workflow}/{failed.task} failed ({error})"
        return deadlocked

    def affordable(self, parents: int) -> bool:
        return self.runs_per_parent is None or parents * self.runs_per_parent <= RUN_BUDGET

    def slots_needed(self, parents: int, guess: int) -> int | None:
        return first_true(lambda s: not self.deadlocks(s, parents), guess, 1, SLOT_CAP)

    def deadlock_at(self, slots: int, guess: int) -> tuple[int | None, int]:
        """The fewest parents that deadlock ``slots`` slots, and how many were tried."""
        per_parent = self.runs_per_parent or 1
        cap = max(1, min(PARENT_CAP, RUN_BUDGET // per_parent))
        return first_true(lambda k: self.deadlocks(slots, k), guess, 1, cap), cap


def _next_guess(chain: Chain, parents: int, needed: list[int | None]) -> int:
    """The structure's guess, or the line through the last two simulated thresholds
    (much closer when fan-out multiplies the holders)."""
    known = [n for n in needed if n is not None]
    if len(known) == len(needed) and len(known) >= 2:
        return max(1, 2 * known[-1] - known[-2])
    if len(known) == len(needed) == 1:
        return max(1, 2 * known[0] - 1, chain.predicted(parents))
    return chain.predicted(parents)


def _extrapolate(points: Sequence[ThresholdPoint], slots: int) -> int | None:
    """The fewest parents needing more than ``slots``, if the simulated thresholds lie on
    a line (they do when every parent brings the same tree of runs)."""
    needed = [p.slots_needed for p in points]
    if len(points) < 2 or any(n is None for n in needed):
        return None
    values = [n for n in needed if n is not None]
    steps = {b - a for a, b in itertools.pairwise(values)}
    if len(steps) != 1 or (step := steps.pop()) <= 0:
        return None
    base = values[0] - step * points[0].parents
    return max(1, (slots - base) // step + 1)


def deadlock_thresholds(
    graph: nx.DiGraph[str],
    discovered: Discovered,
    *,
    inputs: Inputs | None = None,
    verify: bool = True,
    max_parents: int = MAX_PARENTS,
) -> list[DeadlockThreshold]:
    """One finding per (worker, parent workflow) whose waits can fill the worker's slots."""
    spawn_graph = workflow_spawn_graph(graph)
    cyclic = reaching_a_cycle(spawn_graph)
    known = {graph.nodes[n]["label"] for n in nodes_of_kind(graph, "workflow")}
    out: list[DeadlockThreshold] = []
    for worker in discovered.workers:
        exclusive = exclusive_workflows(worker, discovered.workers)
        for parent in sorted(set(worker.workflows) & known - cyclic):
            chain = holding_chain(graph, parent, exclusive)
            if chain is None or chain.holders == 0:
                continue
            finding = _threshold(discovered, worker, parent, chain, inputs, verify, max_parents)
            if finding is not None:
                out.append(finding)
    return out


def _threshold(
    discovered: Discovered,
    worker: WorkerShape,
    parent: str,
    chain: Chain,
    inputs: Inputs | None,
    verify: bool,
    max_parents: int,
) -> DeadlockThreshold | None:
    common: dict[str, Any] = {
        "worker": worker.name,
        "worker_slots": worker.slots,
        "worker_declared": worker.declared,
        "parent": parent,
        "chain": chain.workflows,
        "holders": chain.holders,
    }
    data = default_input(discovered.workflows[parent], inputs) if verify else None
    if data is None:
        note = (
            "Not simulated: verification was switched off."
            if not verify
            else f'Not simulated: the input model of "{parent}" has required fields; '
            f"pass inputs={{{parent!r}: {{...}}}}."
        )
        return _predicted(common, chain, worker, max_parents, note)
    prober = _Prober(discovered, worker, parent, data)
    simulated = _simulated_points(prober, chain, max_parents)
    if prober.inconclusive is not None:
        note = (
            f"Not simulated: in the simulation {prober.inconclusive}, so it shows nothing "
            "about slots; the numbers are the structure's."
        )
        return _predicted(common, chain, worker, max_parents, note)
    if all(p.slots_needed == 1 for p in simulated if p.demonstrated):
        return None  # the waits never fill the slots (e.g. children started, not awaited)
    at, demonstrated, searched = _deadlock_at(prober, chain, simulated)
    notes = []
    if any(p.demonstrated and p.slots_needed != p.predicted for p in simulated):
        notes.append(
            "The simulation needs other slot counts than the structure predicts "
            "(fan-out at a waiting level, or children not awaited, change it)."
        )
    if not all(p.demonstrated for p in simulated):
        notes.append(
            f"Points without a number were not simulated: they would start more than "
            f"{RUN_BUDGET} runs."
        )
    return DeadlockThreshold(
        **common,
        points=simulated,
        deadlock_at_parents=at,
        verified=True,
        deadlock_at_demonstrated=demonstrated,
        parents_searched=searched,
        note=" ".join(notes),
    )


def _predicted(
    common: dict[str, Any], chain: Chain, worker: WorkerShape, max_parents: int, note: str
) -> DeadlockThreshold:
    points = tuple(
        ThresholdPoint(k, chain.predicted(k), chain.predicted(k), False)
        for k in range(1, max_parents + 1)
    )
    at = (worker.slots - 1) // chain.holders + 1 if worker.slots > 0 else None
    return DeadlockThreshold(
        **common, points=points, deadlock_at_parents=at, verified=False, note=note
    )


def _simulated_points(
    prober: _Prober, chain: Chain, max_parents: int
) -> tuple[ThresholdPoint, ...]:
    points: list[ThresholdPoint] = []
    for k in range(1, max_parents + 1):
        if not prober.affordable(k):
            points.append(ThresholdPoint(k, chain.predicted(k), None, False))
            continue
        guess = _next_guess(chain, k, [p.slots_needed for p in points])
        points.append(ThresholdPoint(k, chain.predicted(k), prober.slots_needed(k, guess), True))
    return tuple(points)


def _deadlock_at(
    prober: _Prober, chain: Chain, points: Sequence[ThresholdPoint]
) -> tuple[int | None, bool, int]:
    """(fewest parents that deadlock the worker's own slots, simulated?, most tried)."""
    slots = prober.worker.slots
    if slots <= 0:
        return None, False, 0
    extrapolated = _extrapolate(points, slots)
    guess = extrapolated if extrapolated is not None else (slots - 1) // chain.holders + 1
    if not prober.affordable(guess):
        return extrapolated, False, 0
    found, searched = prober.deadlock_at(slots, guess)
    if found is not None:
        return found, True, searched
    beyond = extrapolated is not None and extrapolated > searched
    return (extrapolated if beyond else None), False, searched
