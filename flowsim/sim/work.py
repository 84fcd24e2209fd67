"""What a task attempt costs and how it fails in a simulation.

The engine awaits ``SimulatedWork`` before each attempt's body (``Engine.attempt_prelude``):
it sleeps the scenario's duration for the task in virtual time, then raises an injected
fault if the scenario says this attempt fails. The users' own code still runs for every
attempt that does not fail, so what they compute and spawn is real.
"""

from __future__ import annotations

import asyncio
import csv
import random
from collections.abc import Callable, Mapping
from pathlib import Path

from flowsim.engine.runtime import AttemptState
from flowsim.errors import NonRetryableException, ScenarioError
from flowsim.sim.scenario import (
    Constant,
    DurationSpec,
    Exponential,
    Fault,
    LogNormal,
    Measured,
    Scenario,
    Uniform,
)

Sampler = Callable[[], float]


class InjectedFault(Exception):  # noqa: N818 - named for what a user reads in a report
    """Raised in place of a task's body by a scenario's ``[[faults]]`` entry."""


def _rng(seed: int, purpose: str, key: str) -> random.Random:
    """One stream per purpose and key, so adding a fault does not shift every duration."""
    return random.Random(f"{seed}/{purpose}/{key}")


def make_sampler(key: str, spec: DurationSpec, seed: int, base_dir: Path) -> Sampler:
    rng = _rng(seed, "duration", key)
    if isinstance(spec, int | float):
        value = float(spec)
        return lambda: value
    if isinstance(spec, Constant):
        return lambda: spec.value
    if isinstance(spec, Exponential):
        rate = 1.0 / spec.mean
        return lambda: rng.expovariate(rate)
    if isinstance(spec, LogNormal):
        return lambda: rng.lognormvariate(spec.mu, spec.sigma)
    if isinstance(spec, Uniform):
        return lambda: rng.uniform(spec.low, spec.high)
    samples = _measured(key, spec, base_dir)
    return lambda: rng.choice(samples)


def _measured(key: str, spec: Measured, base_dir: Path) -> list[float]:
    path = spec.csv if spec.csv.is_absolute() else base_dir / spec.csv
    where = f"durations.{key}: {path}"
    try:
        with path.open(newline="", encoding="utf-8") as handle:
            rows = list(csv.DictReader(handle))
    except OSError as exc:
        raise ScenarioError(f"{where}: cannot read the CSV ({exc.strerror})") from exc
    if rows and (spec.column not in rows[0] or spec.match_column not in rows[0]):
        raise ScenarioError(
            f"{where}: needs columns {spec.match_column!r} and {spec.column!r}; "
            f"found {', '.join(rows[0])}"
        )
    samples: list[float] = []
    for number, row in enumerate(rows, 2):
        if row[spec.match_column] != key:
            continue
        try:
            samples.append(float(row[spec.column]))
        except ValueError:
            raise ScenarioError(
                f"{where}, line {number}: {spec.column} = {row[spec.column]!r} is not a number"
            ) from None
    if not samples or any(s < 0 for s in samples):
        problem = "no rows" if not samples else "a negative duration"
        raise ScenarioError(f"{where}: {problem} for {spec.match_column} = {key!r}")
    return samples


class SimulatedWork:
    def __init__(self, scenario: Scenario) -> None:
        self._samplers: dict[str, Sampler] = {
            key: make_sampler(key, spec, scenario.seed, scenario.base_dir)
            for key, spec in scenario.durations.items()
        }
        self._faults: dict[str, list[tuple[Fault, random.Random]]] = {}
        for index, fault in enumerate(scenario.faults):
            rng = _rng(scenario.seed, f"fault{index}", fault.task)
            self._faults.setdefault(fault.task, []).append((fault, rng))

    @staticmethod
    def _lookup(table: Mapping[str, object], workflow: str, task: str) -> list[str]:
        """Keys that apply to a task, most specific first: ``workflow.task``, ``workflow``."""
        return [key for key in (f"{workflow}.{task}", workflow) if key in table]

    async def __call__(self, attempt: AttemptState) -> None:
        task_run = attempt.task_run
        workflow, task = task_run.workflow_run.workflow_name, task_run.name
        keys = self._lookup(self._samplers, workflow, task)
        if keys:
            seconds = self._samplers[keys[0]]()
            if seconds > 0:
                await asyncio.sleep(seconds)
        number = attempt.retry_count + 1
        for key in self._lookup(self._faults, workflow, task):
            for fault, rng in self._faults[key]:
                # draw for every attempt, so the stream does not depend on attempts lists
                hit = rng.random() < fault.probability or number in fault.attempts
                if hit:
                    message = f"{fault.message} ({key}, attempt {number})"
                    raise (
                        InjectedFault(message)
                        if fault.retryable
                        else NonRetryableException(message)
                    )
