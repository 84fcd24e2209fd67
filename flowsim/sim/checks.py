"""A scenario's assertions, judged against a finished simulation."""

from __future__ import annotations

from collections.abc import Sequence

from flowsim.engine.deadlock import DeadlockReport
from flowsim.sim.metrics import Metrics
from flowsim.sim.results import CheckOutcome, RunRecord
from flowsim.sim.scenario import Assertions


def judge(
    assertions: Assertions,
    runs: Sequence[RunRecord],
    metrics: Metrics,
    deadlocks: Sequence[DeadlockReport],
    horizon_reached: bool,
    stalled: str | None,
) -> tuple[CheckOutcome, ...]:
    checks: list[CheckOutcome] = []
    if stalled is not None:
        checks.append(CheckOutcome("progress", False, stalled))
    if assertions.no_deadlock:
        if deadlocks and not deadlocks[0].holders:
            first = deadlocks[0]
            names = ", ".join(sorted({b.workflow for b in first.unregistered}))
            detail = (
                f"runs can never start at t={first.at:g}s: no running worker registers {names}"
            )
        elif deadlocks:
            first = deadlocks[0]
            detail = (
                f"slot deadlock at t={first.at:g}s: {len(first.holders)} run(s) hold slots "
                f"waiting for {len(first.blocked)} run(s) that cannot start"
            )
        else:
            detail = "no slot deadlock"
        checks.append(CheckOutcome("no_deadlock", not deadlocks, detail))
    if assertions.all_succeed:
        bad = {s: n for s, n in metrics.runs_by_status.items() if s != "COMPLETED"}
        passed = not bad and not horizon_reached
        if passed:
            detail = f"all {len(runs)} runs COMPLETED"
        else:
            counts = ", ".join(f"{n} {s}" for s, n in sorted(bad.items()))
            detail = f"not all runs COMPLETED: {counts or 'none failed'}" + (
                "; the horizon was reached first" if horizon_reached else ""
            )
        checks.append(CheckOutcome("all_succeed", passed, detail))
    if assertions.makespan_below is not None:
        limit = assertions.makespan_below
        checks.append(
            CheckOutcome(
                "makespan_below",
                metrics.makespan < limit and not horizon_reached,
                f"makespan {metrics.makespan:g}s (limit {limit:g}s)",
            )
        )
    for workflow, limit in sorted(assertions.p99_below.items()):
        stats = metrics.latency.get(workflow)
        if stats is None or stats.count == 0:
            checks.append(
                CheckOutcome(f"p99_below.{workflow}", False, f"no finished run of {workflow!r}")
            )
            continue
        checks.append(
            CheckOutcome(
                f"p99_below.{workflow}",
                stats.p99 < limit,
                f"p99 latency of {workflow} {stats.p99:g}s (limit {limit:g}s)",
            )
        )
    return tuple(checks)
