"""What-if sweeps: the same scenario over a grid of loads, worker counts and slot counts.

The question a sweep answers is "how small can the deployment be before it deadlocks or
breaks an assertion?", so each grid point keeps only the few numbers that decide and
explain that answer, not the whole simulation result (a large grid would hold every run
and attempt of every simulation in memory otherwise).
"""

from __future__ import annotations

import csv
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from flowsim.errors import ConfigurationError, ScenarioError
from flowsim.sim.results import SimulationResult
from flowsim.sim.runner import simulate
from flowsim.sim.scenario import Scenario


@dataclass(frozen=True, slots=True)
class SweepPoint:
    load: float
    #: replicas of the swept worker(s)
    workers: int
    #: default slots per replica
    slots: int
    deadlock: bool
    all_checks_pass: bool
    makespan: float
    #: the worst p99 latency among the workflows the scenario's arrivals start (NaN if none
    #: finished): the latency a caller of the system sees
    p99_latency: float
    failed_runs: int
    #: mean default-slot utilisation over every worker process in the simulation
    utilisation_mean: float
    #: names of the checks that failed, to explain an unsafe point without re-running it
    failed_checks: tuple[str, ...] = ()

    @property
    def total_slots(self) -> int:
        return self.workers * self.slots

    @property
    def safe(self) -> bool:
        """Safe means no deadlock *and* every assertion holds: a scenario that switched off
        ``no_deadlock`` still does not get to call a deadlocking deployment safe."""
        return not self.deadlock and self.all_checks_pass


ProgressCallback = Callable[[SweepPoint], None]


def sweep(
    scenario: Scenario,
    slots: Sequence[int],
    workers: Sequence[int],
    loads: Sequence[float] = (1.0,),
    worker: str | None = None,
    progress: ProgressCallback | None = None,
) -> list[SweepPoint]:
    """Simulate every (load, workers, slots) combination, in that nesting order.

    ``worker`` names the worker spec to vary; by default every worker spec gets the
    same slots and replicas. ``progress`` is called after each simulation.
    """
    _check_grid(scenario, slots, workers, loads, worker)
    points: list[SweepPoint] = []
    for load in loads:
        loaded = scenario.with_load(load)
        for replicas in workers:
            for slot_count in slots:
                variant = loaded.with_workers(slots=slot_count, replicas=replicas, worker=worker)
                point = summarise(simulate(variant), load, replicas, slot_count)
                points.append(point)
                if progress is not None:
                    progress(point)
    return points


def summarise(result: SimulationResult, load: float, workers: int, slots: int) -> SweepPoint:
    metrics = result.metrics
    entry = {arrival.workflow for arrival in result.scenario.arrivals}
    p99s = [stats.p99 for name, stats in metrics.latency.items() if name in entry and stats.count]
    default_use = [pools.get("default", 0.0) for pools in metrics.utilisation.values()]
    return SweepPoint(
        load=load,
        workers=workers,
        slots=slots,
        deadlock=bool(result.deadlocks),
        all_checks_pass=result.ok,
        makespan=metrics.makespan,
        p99_latency=max(p99s) if p99s else math.nan,
        failed_runs=metrics.runs_by_status.get("FAILED", 0),
        utilisation_mean=sum(default_use) / len(default_use) if default_use else 0.0,
        failed_checks=tuple(check.name for check in result.checks if not check.passed),
    )


def smallest_safe(points: Sequence[SweepPoint]) -> SweepPoint | None:
    """The cheapest safe point: fewest total slots, then fewest workers (fewer, bigger
    processes are simpler to run for the same capacity); None if no point is safe.
    Call it on one load's points: across loads the answer mixes different questions."""
    safe = [point for point in points if point.safe]
    if not safe:
        return None
    return min(safe, key=lambda p: (p.total_slots, p.workers, p.slots, p.load))


def by_load(points: Sequence[SweepPoint]) -> dict[float, list[SweepPoint]]:
    """Points grouped per load, loads in the order they were swept."""
    groups: dict[float, list[SweepPoint]] = {}
    for point in points:
        groups.setdefault(point.load, []).append(point)
    return groups


CSV_COLUMNS = (
    "load",
    "workers",
    "slots",
    "deadlock",
    "all_checks_pass",
    "makespan",
    "p99_latency",
    "failed_runs",
    "utilisation_mean",
)


def write_csv(points: Sequence[SweepPoint], path: Path) -> Path:
    """One row per grid point; booleans as ``true``/``false`` and a latency nobody had
    (no run finished) as an empty cell, so spreadsheets and pandas read them as such."""
    path = Path(path)
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(CSV_COLUMNS)
        for point in points:
            writer.writerow(
                [
                    f"{point.load:g}",
                    point.workers,
                    point.slots,
                    str(point.deadlock).lower(),
                    str(point.all_checks_pass).lower(),
                    _number(point.makespan),
                    _number(point.p99_latency),
                    point.failed_runs,
                    _number(point.utilisation_mean),
                ]
            )
    return path


def _number(value: float) -> str:
    return "" if math.isnan(value) else f"{value:.6g}"


def _check_grid(
    scenario: Scenario,
    slots: Sequence[int],
    workers: Sequence[int],
    loads: Sequence[float],
    worker: str | None,
) -> None:
    """Reject a grid that would silently simulate something else: ``with_workers`` leaves
    the scenario unchanged for an unknown worker name, and zero slots or replicas would
    sweep deployments that cannot run anything."""
    if worker is not None and worker not in {w.name for w in scenario.workers}:
        known = ", ".join(w.name for w in scenario.workers)
        where = scenario.source or "scenario"
        raise ScenarioError(f"{where}: no worker named {worker!r} to sweep (have {known})")
    for label, values in (("slots", slots), ("workers", workers)):
        if not values:
            raise ConfigurationError(f"sweep: no {label} values given")
        if any(value < 1 for value in values):
            raise ConfigurationError(f"sweep: {label} must be >= 1, got {list(values)}")
    if not loads:
        raise ConfigurationError("sweep: no load factors given")
    if any(not load > 0 or math.isinf(load) for load in loads):
        raise ConfigurationError(f"sweep: load factors must be finite and > 0, got {list(loads)}")
