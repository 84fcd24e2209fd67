"""The three kinds of check, each a function from its configuration to a verdict.

Each verdict carries a one-line message (what a CI summary shows), the explanation a
person needs to act on a failure (the findings, the deadlock report, the minimal
counterexample), and the same facts as data for ``--json``.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

from hypothesis import settings as Settings  # noqa: N812 - the class, under a name that says so

from flowsim.analysis.analyse import analyse
from flowsim.analysis.finding import Finding, Severity
from flowsim.analysis.thresholds import DeadlockThreshold
from flowsim.check.config import (
    DeadlockFreeConfig,
    GraphConfig,
    RetriesConvergeConfig,
    ScenarioConfig,
)
from flowsim.sdk.worker import Worker
from flowsim.sim.results import SimulationResult
from flowsim.sim.runner import simulate
from flowsim.sim.scenario import Scenario
from flowsim.strategies import (
    DeadlockFoundError,
    RetriesDidNotConvergeError,
    assert_deadlock_free,
    assert_retries_converge,
)


@dataclass(frozen=True)
class Verdict:
    passed: bool
    #: one line, for the summary
    message: str
    #: the explanation printed with a failure
    details: str = ""
    data: dict[str, Any] = field(default_factory=dict)


# ---------------------------------------------------------------- graph


def graph_check(module: ModuleType, options: GraphConfig) -> Verdict:
    """``flowsim graph`` on the app as deployed: fails on error findings (a deadlock one
    run reaches, a child no worker registers); warnings are reported, not failed."""
    analysis = analyse(module, simulate=options.simulate, max_parents=options.max_parents)
    errors = analysis.errors
    warnings = [f for f in analysis.findings if f.severity is Severity.WARNING]
    counts = f"{_count(len(errors), 'error')}, {_count(len(warnings), 'warning')}"
    data = {"findings": [f.to_dict() for f in analysis.findings], "graph": analysis.render()}
    if not errors:
        return Verdict(True, counts, "\n".join(str(f) for f in warnings), data)
    first = _headline(errors[0])
    details = "\n\n".join(str(f) for f in [*errors, *warnings])
    return Verdict(False, f"{counts}: {first}", details, data)


def _headline(finding: Finding) -> str:
    """A threshold's first line describes the chain of waits; what fails the check is the
    concurrency at which the deployed worker deadlocks."""
    if isinstance(finding, DeadlockThreshold) and finding.deadlock_at_parents is not None:
        runs = finding.deadlock_at_parents
        who = (
            f'one run of "{finding.parent}" deadlocks it'
            if runs == 1
            else (f'{runs} concurrent runs of "{finding.parent}" deadlock it')
        )
        slots = _count(finding.worker_slots, "slot")
        return f'worker "{finding.worker}" ({slots}): {who}'
    return finding.message().splitlines()[0]


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}{'' if number == 1 else 's'}"


# ---------------------------------------------------------------- scenarios


def scenario_check(scenario: Scenario, options: ScenarioConfig) -> Verdict:
    result = simulate(scenario, seed=options.seed)
    data = _scenario_data(result, options)
    if options.expect == "deadlock":
        return _expected_deadlock(result, data)
    failed = [check for check in result.checks if not check.passed]
    held = f"{len(result.checks) - len(failed)} of {len(result.checks)} assertions hold"
    if not failed:
        return Verdict(True, held, "", data)
    lines = [f"{'✓' if c.passed else '✗'} {c.name}: {c.detail}" for c in result.checks]
    if result.deadlock is not None:
        lines += ["", result.deadlock.render()]
    return Verdict(False, f"{held}; {failed[0].name}: {failed[0].detail}", "\n".join(lines), data)


def _expected_deadlock(result: SimulationResult, data: dict[str, Any]) -> Verdict:
    report = result.deadlock
    if report is not None:
        return Verdict(True, f"deadlocks at t={report.at:g}s, as expected", "", data)
    return Verdict(
        False,
        'expect = "deadlock", but it did not deadlock',
        "The configuration this scenario describes no longer deadlocks. If that is the fix "
        'you wanted, drop expect = "deadlock" (the scenario then has to pass).',
        data,
    )


def _scenario_data(result: SimulationResult, options: ScenarioConfig) -> dict[str, Any]:
    return {
        "scenario": result.scenario.title,
        "path": str(options.path),
        "expect": options.expect,
        "seed": result.seed,
        "ok": result.ok,
        "end_time": result.end_time,
        "checks": [dataclasses.asdict(check) for check in result.checks],
        "deadlocks": [report.to_dict() for report in result.deadlocks],
    }


# ---------------------------------------------------------------- properties


def deadlock_free_check(module: str, options: DeadlockFreeConfig, worker: Worker | None) -> Verdict:
    slots = (worker.slots, worker.slots) if worker else (options.min_slots, options.max_slots)
    durable = worker.durable_slots if worker else options.durable_slots
    searched = (
        f"slots {slots[0]}..{slots[1]}, up to {options.max_parents} concurrent run(s), "
        f"whole numbers of the input up to {options.max_children}"
    )
    try:
        assert_deadlock_free(
            module,
            options.workflow,
            min_slots=slots[0],
            max_slots=slots[1],
            max_parents=options.max_parents,
            max_children=options.max_children,
            durable_slots=durable,
            max_examples=options.max_examples,
            settings=_settings(options.derandomize),
        )
    except DeadlockFoundError as found:
        case = found.case
        message = f'"{options.workflow}" can deadlock: {case.describe(options.workflow)}'
        return Verdict(False, message, str(found), {"case": dataclasses.asdict(case)})
    return Verdict(True, f"no deadlock found ({searched})", "", {"searched": searched})


def retries_converge_check(
    module: str, options: RetriesConvergeConfig, worker: Worker | None
) -> Verdict:
    try:
        assert_retries_converge(
            module,
            options.workflow,
            max_failures=options.max_failures,
            tasks=options.tasks,
            slots=worker.slots if worker else options.slots,
            durable_slots=worker.durable_slots if worker else options.durable_slots,
            parents=options.parents,
            durations=options.durations,
            max_examples=options.max_examples,
            settings=_settings(options.derandomize),
        )
    except RetriesDidNotConvergeError as found:
        case = found.case
        failing = "; ".join(
            f"{key} attempts {', '.join(map(str, attempts))}" for key, attempts in case.schedule
        )
        message = f'retries of "{options.workflow}" do not converge: {failing or "no failures"}'
        data = {"case": {"schedule": [list(item) for item in case.schedule], "input": case.input}}
        return Verdict(False, message, str(found), data)
    budget = "each task's own retries" if options.max_failures is None else options.max_failures
    return Verdict(True, f"every run completed (failures per task up to {budget})")


def _settings(derandomize: bool) -> Settings:
    """No example database: a CI check's verdict should not depend on what an earlier run
    on the same machine happened to find."""
    return Settings(derandomize=derandomize, database=None)
