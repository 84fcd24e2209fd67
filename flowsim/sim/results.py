"""What a simulation leaves behind: plain records of runs, attempts and workers.

They are read off the engine's store once the simulation ends, so the metrics, the Gantt
chart, the JSON output and the trace hash all describe exactly what the engine did.
"""

from __future__ import annotations

import contextlib
import gc
import hashlib
import json
from collections.abc import Callable, Iterator
from copy import deepcopy
from dataclasses import asdict, dataclass, fields
from functools import cached_property
from itertools import islice
from operator import attrgetter
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
    #: arrivals that started no run: their workflow's idempotency key was held
    deduplicated: int = 0

    @property
    def ok(self) -> bool:
        return all(check.passed for check in self.checks)

    @property
    def deadlock(self) -> DeadlockReport | None:
        return self.deadlocks[0] if self.deadlocks else None

    @cached_property
    def trace_hash(self) -> str:
        """SHA-256 of the trace, computed when first read: encoding a million attempts
        takes seconds, and a sweep of many simulations never reads it."""
        return hash_trace(self)

    def trace(self) -> list[dict[str, Any]]:
        """Every run and attempt, with times, in the order the engine created them: the
        event trace a seed must reproduce exactly. Payloads (inputs, outputs) are copies,
        as ``dataclasses.asdict`` would give."""
        return list(_events(self, copy_payloads=True))

    def to_dict(self) -> dict[str, Any]:
        return {
            "scenario": self.scenario.title,
            "seed": self.seed,
            "ok": self.ok,
            "end_time": self.end_time,
            "horizon_reached": self.horizon_reached,
            "stalled": self.stalled,
            "deduplicated": self.deduplicated,
            "checks": [asdict(check) for check in self.checks],
            "metrics": self.metrics.to_dict(),
            "deadlocks": [report.to_dict() for report in self.deadlocks],
            "workers": [asdict(worker) for worker in self.workers],
            "trace_hash": self.trace_hash,
        }


#: a full-collection threshold nothing here reaches (``gc.set_threshold`` takes a C int)
_NEVER = 2**30


@contextlib.contextmanager
def no_full_collections() -> Iterator[None]:
    """Pause the cyclic collector's full (oldest-generation) passes, and restore its
    thresholds after. A simulation's store only grows until the end (every run, task run
    and attempt is kept for these records), and each full pass traverses all of it and
    frees next to nothing: at 100,000 children they took half of ``simulate()``'s wall
    time, and most of the trace hash's. Young collections go on, so short-lived cycles (a
    failed attempt's traceback) are still freed as they arise; cycles that outlive them
    wait for the next full pass after."""
    thresholds = gc.get_threshold()
    gc.set_threshold(thresholds[0], thresholds[1], _NEVER)
    try:
        yield
    finally:
        gc.set_threshold(*thresholds)


def _fields_of(cls: type) -> tuple[tuple[str, ...], Callable[[Any], tuple[Any, ...]]]:
    names = tuple(f.name for f in fields(cls))
    return names, attrgetter(*names)


_RUN_FIELDS, _run_values = _fields_of(RunRecord)
_ATTEMPT_FIELDS, _attempt_values = _fields_of(AttemptRecord)
#: trace events hashed per JSON document: bounds the text held at once (a million-attempt
#: trace is ~0.5 GB of JSON) without paying ``json.dumps``'s set-up per event
_HASH_CHUNK = 10_000


def _events(result: SimulationResult, *, copy_payloads: bool) -> Iterator[dict[str, Any]]:
    """The trace's events, built field by field: ``dataclasses.asdict`` recurses into and
    deep-copies every value, which cost more than running a large simulation."""
    for run in result.runs:
        values = _run_values(run)
        if copy_payloads:
            values = tuple(deepcopy(v) if isinstance(v, dict | list) else v for v in values)
        yield {"run": dict(zip(_RUN_FIELDS, values, strict=True))}
    for attempt in result.attempts:  # every field is a str, a number or None
        yield {"attempt": dict(zip(_ATTEMPT_FIELDS, _attempt_values(attempt), strict=True))}
    for report in result.deadlocks:
        yield {"deadlock_at": report.at}


def hash_trace(result: SimulationResult) -> str:
    """SHA-256 of the trace as one compact JSON array with sorted keys, encoded a chunk of
    events at a time (the same bytes as encoding the whole list at once)."""
    encode = json.JSONEncoder(sort_keys=True, separators=(",", ":")).encode
    digest = hashlib.sha256(b"[")
    events = _events(result, copy_payloads=False)
    first = True
    with no_full_collections():
        while chunk := list(islice(events, _HASH_CHUNK)):
            text = encode(chunk)[1:-1]  # the events without the array's brackets
            digest.update((text if first else "," + text).encode())
            first = False
    digest.update(b"]")
    return digest.hexdigest()
