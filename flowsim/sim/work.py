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
from collections.abc import Awaitable, Callable, Generator, Mapping
from datetime import timedelta
from pathlib import Path
from typing import Any

from flowsim.engine.runtime import AttemptState
from flowsim.errors import NonRetryableException, RetryAfterException, ScenarioError
from flowsim.sim.loop import VirtualTimeLoop
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


_Faults = list[tuple[str, list[tuple[Fault, random.Random]]]]


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
        #: (workflow, task) -> (its sampler, its faults by key): looked up once per task,
        #: not once per attempt (a fan-out has a million attempts and a handful of tasks)
        self._plans: dict[tuple[str, str], tuple[Sampler | None, _Faults]] = {}

    @staticmethod
    def _lookup(table: Mapping[str, object], workflow: str, task: str) -> list[str]:
        """Keys that apply to a task, most specific first: ``workflow.task``, ``workflow``."""
        return [key for key in (f"{workflow}.{task}", workflow) if key in table]

    def _plan(self, workflow: str, task: str) -> tuple[Sampler | None, _Faults]:
        plan = self._plans.get((workflow, task))
        if plan is None:
            keys = self._lookup(self._samplers, workflow, task)
            faults = [(k, self._faults[k]) for k in self._lookup(self._faults, workflow, task)]
            plan = self._plans[workflow, task] = (
                self._samplers[keys[0]] if keys else None,
                faults,
            )
        return plan

    def __call__(self, attempt: AttemptState) -> Awaitable[None]:
        """The attempt's simulated work. Without faults it is the sleep's future itself (or
        nothing to wait for), not a coroutine around it: one frame and one resumption less
        for each of a large fan-out's attempts."""
        task_run = attempt.task_run
        sampler, faults = self._plan(task_run.workflow_run.spec.name, task_run.spec.name)
        seconds = sampler() if sampler is not None else 0.0
        if faults:
            return self._work_then_fail(attempt, seconds, faults)
        return _sleep(seconds) if seconds > 0 else _NOTHING

    @staticmethod
    async def _work_then_fail(attempt: AttemptState, seconds: float, faults: _Faults) -> None:
        if seconds > 0:
            await _sleep(seconds)
        number = attempt.retry_count + 1
        for key, entries in faults:
            for fault, rng in entries:
                # draw for every attempt, so the stream does not depend on attempts lists
                hit = rng.random() < fault.probability or number in fault.attempts
                if hit:
                    raise _injected(fault, f"{fault.message} ({key}, attempt {number})")


def _injected(fault: Fault, message: str) -> Exception:
    if not fault.retryable:
        return NonRetryableException(message)
    if fault.retry_after is not None:
        return RetryAfterException(message, after=timedelta(seconds=fault.retry_after))
    return InjectedFault(message)


def _sleep(seconds: float) -> Awaitable[None]:
    loop = asyncio.get_running_loop()
    if isinstance(loop, VirtualTimeLoop):
        return loop.sleep(seconds)
    return asyncio.sleep(seconds)


class _Nothing:
    """Awaiting it returns at once: the work of an attempt that takes no time."""

    __slots__ = ()

    def __await__(self) -> Generator[Any, Any, None]:
        yield from ()


_NOTHING = _Nothing()
