"""Numbers a team asks of a simulated fan-out: how long, how late, how busy, how flaky.

Computed from the records alone (no engine objects), so the same code reads a result
loaded from JSON. Percentiles use the nearest-rank method: every reported p99 is a latency
that some run really had.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
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
    tally = _tally(attempts, end_time)
    span = max(makespan, end_time if not finished else makespan)
    return Metrics(
        makespan=makespan,
        runs_by_status=dict(Counter(run.status for run in runs)),
        latency={name: Stats.of(values) for name, values in sorted(latency.items())},
        queue_wait={name: Stats.of(values) for name, values in sorted(tally.waits.items())},
        utilisation=_utilisation(tally.busy, workers, span),
        busy_over_time={w.name: _busy_steps(tally.changes.get(w.name)) for w in workers},
        attempts=len(attempts),
        failed_attempts=tally.failed,
        lost_attempts=tally.lost,
        retries=tally.retries,
    )


@dataclass
class _Tally:
    waits: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    #: busy slot-seconds per (worker, pool), summed in attempt order
    busy: dict[tuple[str, str], float] = field(default_factory=lambda: defaultdict(float))
    #: +1 at each start, -1 at each end, per worker, default pool
    changes: dict[str, Counter[float]] = field(default_factory=lambda: defaultdict(Counter))
    failed: int = 0
    lost: int = 0
    retries: int = 0


def _tally(attempts: Iterable[AttemptRecord], end: float) -> _Tally:
    """Everything the metrics need from the attempts, in one pass over them (a large
    fan-out has a million)."""
    tally = _Tally()
    waits, busy, changes = tally.waits, tally.busy, tally.changes
    #: task runs whose latest attempt so far FAILED: their next attempt is a retry (one
    #: after a LOST attempt is a reassignment)
    failed_last: set[str] = set()
    for attempt in attempts:
        started = attempt.started_at
        stop = attempt.finished_at if attempt.finished_at is not None else end
        waits[attempt.workflow].append(started - attempt.queued_at)
        busy[attempt.worker, attempt.pool] += stop - started
        if attempt.pool == "default":
            steps = changes[attempt.worker]
            steps[started] += 1
            steps[stop] -= 1
        task_run = attempt.task_run_id
        if task_run in failed_last:
            tally.retries += 1
        if attempt.outcome == "FAILED":
            tally.failed += 1
            failed_last.add(task_run)
        else:
            failed_last.discard(task_run)
            if attempt.outcome == "LOST":
                tally.lost += 1
    return tally


def _utilisation(
    busy: Mapping[tuple[str, str], float], workers: Sequence[WorkerRecord], span: float
) -> dict[str, dict[str, float]]:
    out: dict[str, dict[str, float]] = {}
    for worker in workers:
        pools = {"default": worker.slots, "durable": worker.durable_slots}
        out[worker.name] = {
            pool: (busy.get((worker.name, pool), 0.0) / (capacity * span))
            if capacity and span
            else 0.0
            for pool, capacity in pools.items()
        }
    return out


def _busy_steps(changes: Counter[float] | None) -> list[tuple[float, int]]:
    steps: list[tuple[float, int]] = [(0.0, 0)]
    level = 0
    for at in sorted(changes or ()):
        assert changes is not None
        level += changes[at]
        if at == steps[-1][0]:
            steps[-1] = (at, level)
        else:
            steps.append((at, level))
    return steps
