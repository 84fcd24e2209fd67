"""What a simulation leaves behind: plain records of runs, attempts and workers.

They are read off the engine's store once the simulation ends, so the metrics, the Gantt
chart, the JSON output and the trace hash all describe exactly what the engine did.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from typing import Any

from flowsim.engine.deadlock import DeadlockReport
from flowsim.sim.metrics import Metrics
from flowsim.sim.scenario import Scenario
from flowsim.store.records import JSON


@dataclass(frozen=True, slots=True)
class RunRecord:
    run_id: str
    workflow: str
    status: str
    created_at: float
    finished_at: float | None
    #: the workflow run whose task spawned this one (None for an arrival)
    parent_run_id: str | None
    input: JSON = None
    #: Hatchet's result shape: outputs keyed by task name
    output: JSON = None


@dataclass(frozen=True, slots=True)
class AttemptRecord:
    run_id: str
    task_run_id: str
    workflow: str
    task: str
    #: 1 for the first execution of the task run; a reclaimed (LOST) one counts too
    attempt: int
    worker: str
    pool: str
    queued_at: float
    started_at: float
    finished_at: float | None
    outcome: str
    error: str | None


@dataclass(frozen=True, slots=True)
class WorkerRecord:
    name: str
    spec: str
    slots: int
    durable_slots: int
    started_at: float
    stopped_at: float | None = None


@dataclass(frozen=True, slots=True)
class CheckOutcome:
    name: str
    passed: bool
    detail: str


@dataclass(frozen=True)
class SimulationResult:
    scenario: Scenario
    seed: int
    end_time: float
    horizon_reached: bool
    runs: tuple[RunRecord, ...]
    attempts: tuple[AttemptRecord, ...]
    workers: tuple[WorkerRecord, ...]
    deadlocks: tuple[DeadlockReport, ...]
    metrics: Metrics
    checks: tuple[CheckOutcome, ...] = ()
    #: set when the simulated system stopped being able to make progress at all
    stalled: str | None = None
    trace_hash: str = field(default="")

    @property
    def ok(self) -> bool:
        return all(check.passed for check in self.checks)

    @property
    def deadlock(self) -> DeadlockReport | None:
        return self.deadlocks[0] if self.deadlocks else None

    def trace(self) -> list[dict[str, Any]]:
        """Every run and attempt, with times, in the order the engine created them: the
        event trace a seed must reproduce exactly."""
        events: list[dict[str, Any]] = [{"run": asdict(run)} for run in self.runs]
        events.extend({"attempt": asdict(attempt)} for attempt in self.attempts)
        events.extend({"deadlock_at": report.at} for report in self.deadlocks)
        return events

    def to_dict(self) -> dict[str, Any]:
        return {
            "scenario": self.scenario.title,
            "seed": self.seed,
            "ok": self.ok,
            "end_time": self.end_time,
            "horizon_reached": self.horizon_reached,
            "stalled": self.stalled,
            "checks": [asdict(check) for check in self.checks],
            "metrics": self.metrics.to_dict(),
            "deadlocks": [report.to_dict() for report in self.deadlocks],
            "workers": [asdict(worker) for worker in self.workers],
            "trace_hash": self.trace_hash,
        }


def trace_hash(result: SimulationResult) -> str:
    text = json.dumps(result.trace(), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()
