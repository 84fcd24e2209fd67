"""Numbers a team asks of a simulated fan-out: how long, how late, how busy, how flaky.

Computed from the records alone (no engine objects), so the same code reads a result
loaded from JSON. Percentiles use the nearest-rank method: every reported p99 is a latency
that some run really had.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from flowsim.sim.results import AttemptRecord, RunRecord, WorkerRecord


def percentile(sorted_values: Sequence[float], p: float) -> float:
    """Nearest rank: the smallest value with at least p% of values at or below it."""
    if not sorted_values:
        return math.nan
    rank = max(1, math.ceil(p / 100 * len(sorted_values)))
    return sorted_values[rank - 1]


@dataclass(frozen=True, slots=True)
class Stats:
    count: int
    mean: float
    p50: float
    p95: float
    p99: float
    max: float

    @classmethod
    def of(cls, values: Iterable[float]) -> Stats:
        data = sorted(values)
        if not data:
            return cls(0, math.nan, math.nan, math.nan, math.nan, math.nan)
        return cls(
            len(data),
            sum(data) / len(data),
            percentile(data, 50),
            percentile(data, 95),
            percentile(data, 99),
            data[-1],
        )


@dataclass(frozen=True)
class Metrics:
    makespan: float
    runs_by_status: dict[str, int]
    #: created to finished, per workflow, finished runs only
    latency: dict[str, Stats]
    #: claimable to started, per workflow, every attempt that started
    queue_wait: dict[str, Stats]
    #: busy slot-seconds / (slots x makespan), per worker and pool
    utilisation: dict[str, dict[str, float]]
    #: (time, busy slots) at every change, per worker, default pool
    busy_over_time: dict[str, list[tuple[float, int]]] = field(default_factory=dict)
    attempts: int = 0
    failed_attempts: int = 0
    lost_attempts: int = 0
    retries: int = 0

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["busy_over_time"] = {k: [list(p) for p in v] for k, v in self.busy_over_time.items()}
        finite: dict[str, Any] = _finite(data)
        return finite


def _finite(value: Any) -> Any:
    """NaN is not JSON: report a statistic of nothing as null."""
    if isinstance(value, float) and math.isnan(value):
        return None
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_finite(v) for v in value]
    return value


def compute_metrics(
    runs: Sequence[RunRecord],
    attempts: Sequence[AttemptRecord],
    workers: Sequence[WorkerRecord],
    end_time: float,
) -> Metrics:
    finished = [run.finished_at for run in runs if run.finished_at is not None]
    makespan = max(finished, default=0.0)
    latency: dict[str, list[float]] = defaultdict(list)
    for run in runs:
        if run.finished_at is not None:
            latency[run.workflow].append(run.finished_at - run.created_at)
    waits: dict[str, list[float]] = defaultdict(list)
    for attempt in attempts:
        waits[attempt.workflow].append(attempt.started_at - attempt.queued_at)
    by_task: dict[str, list[AttemptRecord]] = defaultdict(list)
    for attempt in attempts:
        by_task[attempt.task_run_id].append(attempt)
    # a retry follows a failed attempt; one after a LOST attempt is a reassignment
    retries = sum(
        1 for chain in by_task.values() for prev in chain[:-1] if prev.outcome == "FAILED"
    )
    span = max(makespan, end_time if not finished else makespan)
    return Metrics(
        makespan=makespan,
        runs_by_status=dict(Counter(run.status for run in runs)),
        latency={name: Stats.of(values) for name, values in sorted(latency.items())},
        queue_wait={name: Stats.of(values) for name, values in sorted(waits.items())},
        utilisation=_utilisation(attempts, workers, span, end_time),
        busy_over_time={w.name: _busy_steps(attempts, w.name, end_time) for w in workers},
        attempts=len(attempts),
        failed_attempts=sum(1 for a in attempts if a.outcome == "FAILED"),
        lost_attempts=sum(1 for a in attempts if a.outcome == "LOST"),
        retries=retries,
    )


def _utilisation(
    attempts: Sequence[AttemptRecord], workers: Sequence[WorkerRecord], span: float, end: float
) -> dict[str, dict[str, float]]:
    busy: dict[tuple[str, str], float] = defaultdict(float)
    for attempt in attempts:
        stop = attempt.finished_at if attempt.finished_at is not None else end
        busy[attempt.worker, attempt.pool] += stop - attempt.started_at
    out: dict[str, dict[str, float]] = {}
    for worker in workers:
        pools = {"default": worker.slots, "durable": worker.durable_slots}
        out[worker.name] = {
            pool: (busy[worker.name, pool] / (capacity * span)) if capacity and span else 0.0
            for pool, capacity in pools.items()
        }
    return out


def _busy_steps(
    attempts: Sequence[AttemptRecord], worker: str, end: float
) -> list[tuple[float, int]]:
    changes: Counter[float] = Counter()
    for attempt in attempts:
        if attempt.worker != worker or attempt.pool != "default":
            continue
        changes[attempt.started_at] += 1
        changes[attempt.finished_at if attempt.finished_at is not None else end] -= 1
    steps: list[tuple[float, int]] = [(0.0, 0)]
    level = 0
    for at in sorted(changes):
        level += changes[at]
        if at == steps[-1][0]:
            steps[-1] = (at, level)
        else:
            steps.append((at, level))
    return steps
