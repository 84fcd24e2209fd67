"""``assert_retries_converge``: failures within the retry budget never fail a run.

A failure schedule says which attempts of which tasks fail (the simulator's ``[[faults]]``
with ``attempts``; the fault replaces the attempt's body, after its duration). With at
most ``retries`` failures per task every run should still end COMPLETED; what can break
that is everything around the retries: a parent's execution timeout running out while a
child backs off, a schedule timeout shorter than the backoff, a DAG step that does not
tolerate a retried parent. The search draws schedules, always including the harshest
one (every task failing its first ``max_failures`` attempts), and reports the smallest
failing one: no single injected failure can be removed from it and still fail.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from types import ModuleType
from typing import Any

import networkx as nx
from hypothesis import settings as Settings  # noqa: N812 - the class, under a name that says so
from hypothesis import strategies as st

from flowsim.analysis.discovery import Discovered
from flowsim.analysis.explore import build_scenario, default_input
from flowsim.analysis.graph import build_graph, workflow_spawn_graph
from flowsim.analysis.inputs import inputs_for
from flowsim.analysis.properties import (
    Step,
    Verdict,
    lower_input_numbers,
    minimise,
    render_input,
    resolve,
    search,
    search_settings,
)
from flowsim.errors import ConfigurationError, FlowsimError, InvalidInputError, ScenarioError
from flowsim.sdk.workflow import BaseWorkflow
from flowsim.sim.results import SimulationResult
from flowsim.sim.runner import simulate

MESSAGE = "injected by the failure schedule"
#: attempt numbers are drawn up to (failures + this), so failures need not be the first ones
MAX_SPREAD = 2

Schedule = tuple[tuple[str, tuple[int, ...]], ...]


class RetriesDidNotConvergeError(FlowsimError, AssertionError):
    """``assert_retries_converge`` found a failure schedule after which a run did not end
    COMPLETED; ``case`` is the minimal one."""

    def __init__(self, message: str, case: RetryCase) -> None:
        super().__init__(message)
        self.case = case


@dataclass(frozen=True)
class RetryCase:
    #: (``workflow.task``, attempt numbers that fail), tasks without failures left out
    schedule: Schedule
    input: dict[str, Any]


def schedules(
    budgets: Mapping[str, int], *, max_spread: int = MAX_SPREAD
) -> st.SearchStrategy[Schedule]:
    """Per task, up to its budget of failing attempts, at attempt numbers up to the count
    plus ``max_spread`` (so ``[1, 2, 3]`` and ``[1, 3, 4]`` are both drawn)."""

    @st.composite
    def draw_schedule(draw: st.DrawFn) -> Schedule:
        out: list[tuple[str, tuple[int, ...]]] = []
        for key, budget in budgets.items():
            count = draw(st.integers(0, budget))
            spread = draw(st.integers(0, max_spread))
            if count == 0:
                continue
            attempts = draw(
                st.lists(
                    st.integers(1, count + spread), min_size=count, max_size=count, unique=True
                )
            )
            out.append((key, tuple(sorted(attempts))))
        return tuple(out)

    return draw_schedule()


def faults_of(schedule: Schedule) -> list[dict[str, Any]]:
    """The scenario ``faults`` entries of a schedule."""
    return [
        {"task": key, "attempts": list(attempts), "message": MESSAGE}
        for key, attempts in schedule
        if attempts
    ]


def task_keys(discovered: Discovered, root: BaseWorkflow) -> dict[str, int]:
    """``workflow.task`` -> retries, for the root workflow and every workflow its code can
    spawn, directly or further down."""
    spawns = workflow_spawn_graph(build_graph(discovered))
    names = {root.name} | (nx.descendants(spawns, root.name) if root.name in spawns else set())
    return {
        f"{name}.{task.name}": task.spec.retries
        for name in sorted(names)
        if name in discovered.workflows
        for task in discovered.workflows[name].tasks
    }


class _Runner:
    def __init__(
        self,
        discovered: Discovered,
        workflow: BaseWorkflow,
        worker: dict[str, Any],
        parents: int,
        durations: Mapping[str, Any] | None,
    ) -> None:
        self.discovered = discovered
        self.workflow = workflow
        self.worker = worker
        self.parents = parents
        self.durations = dict(durations or {})
        self.cache: dict[str, Verdict] = {}

    def __call__(self, case: RetryCase) -> Verdict:
        key = repr(case)
        if key not in self.cache:
            self.cache[key] = self._run(case)
        return self.cache[key]

    def _run(self, case: RetryCase) -> Verdict:
        arrival = {"workflow": self.workflow.name, "input": case.input, "count": self.parents}
        try:
            scenario = build_scenario(
                self.discovered,
                [self.worker],
                [arrival],
                faults=faults_of(case.schedule),
                durations=self.durations,
                name="retry search",
            )
            result = simulate(scenario)
        except (InvalidInputError, ScenarioError):
            return Verdict(False, "the workflow rejects this input")
        problems = _problems(result)
        return Verdict(bool(problems), "\n".join(problems))


def _problems(result: SimulationResult) -> list[str]:
    out: list[str] = []
    last_error: dict[str, tuple[int, str]] = {}
    for attempt in result.attempts:
        if attempt.error:
            last_error[attempt.run_id] = (attempt.attempt, attempt.error.splitlines()[0])
    for run in result.runs:
        if run.status == "COMPLETED":
            continue
        attempts, error = last_error.get(run.run_id, (0, "no failed attempt recorded"))
        out.append(f"  {run.workflow} run {run.run_id}: {run.status} (attempt {attempts}: {error})")
    if result.horizon_reached:
        out.append("  the simulation reached its horizon before every run ended")
    if result.deadlocks:
        out.append("  " + result.deadlocks[0].render().splitlines()[0])
    return out


def assert_retries_converge(
    module: str | Path | ModuleType,
    workflow: str | BaseWorkflow,
    *,
    max_failures: int | None = None,
    tasks: Sequence[str] | None = None,
    slots: int = 100,
    durable_slots: int = 1000,
    parents: int = 1,
    inputs: st.SearchStrategy[dict[str, Any]] | None = None,
    durations: Mapping[str, Any] | None = None,
    max_examples: int = 50,
    settings: Settings | None = None,
) -> None:
    """Search failure schedules of ``tasks`` (``workflow.task`` keys; by default every task
    the workflow can reach) with up to ``max_failures`` failing attempts per task (by
    default each task's own ``retries``) and raise ``RetriesDidNotConvergeError`` with the
    minimal schedule after which some run did not end COMPLETED. ``durations`` takes the
    scenario format (``{"workflow.task": seconds}``); tasks take no time by default."""
    discovered, target = resolve(module, workflow)
    known = task_keys(discovered, target)
    keys = list(known) if tasks is None else list(tasks)
    unknown = [key for key in keys if key not in known]
    if unknown:
        raise ConfigurationError(
            f"no task(s) {', '.join(map(repr, unknown))} reachable from {target.name!r}; "
            f"give workflow.task keys among: {', '.join(known)}"
        )
    budgets = {key: known[key] if max_failures is None else max_failures for key in keys}
    defaults = default_input(target)
    drawn = inputs is None and defaults is None
    input_strategy = (
        inputs
        if inputs is not None
        else st.just(defaults)
        if defaults is not None
        else inputs_for(target, max_int=4)
    )
    cases = st.builds(RetryCase, schedule=schedules(budgets), input=input_strategy)
    harshest = tuple((key, tuple(range(1, n + 1))) for key, n in budgets.items() if n > 0)
    examples = [RetryCase(harshest, defaults)] if defaults is not None else []
    worker = {"name": "worker", "slots": slots, "durable_slots": durable_slots}
    run = _Runner(discovered, target, worker, parents, durations)
    found = search(cases, run, search_settings(settings, max_examples), examples)
    if found is None:
        return
    steps: list[Step[Any]] = [_drop_task, _drop_attempt]
    if drawn:
        steps.append(lower_input_numbers)
    case, verdict = minimise(*found, run, steps)
    raise RetriesDidNotConvergeError(_message(target.name, case, verdict, known), case)


def _drop_task(case: RetryCase) -> Iterator[RetryCase]:
    for index in range(len(case.schedule)):
        yield replace(case, schedule=case.schedule[:index] + case.schedule[index + 1 :])


def _drop_attempt(case: RetryCase) -> Iterator[RetryCase]:
    for index, (key, attempts) in enumerate(case.schedule):
        for attempt in attempts:
            kept = tuple(a for a in attempts if a != attempt)
            entry = ((key, kept),) if kept else ()
            yield replace(case, schedule=case.schedule[:index] + entry + case.schedule[index + 1 :])


def _message(workflow: str, case: RetryCase, verdict: Verdict, retries: Mapping[str, int]) -> str:
    lines = [
        f'retries of "{workflow}" do not converge. Minimal failure schedule (no single '
        "injected failure can be removed and the runs still fail):"
    ]
    for key, attempts in case.schedule:
        numbers = ", ".join(str(a) for a in attempts)
        lines.append(f"  {key} (retries={retries.get(key, '?')}): attempts {numbers} fail")
    if not case.schedule:
        lines.append("  (no injected failure at all)")
    lines.append(f"  input={render_input(case.input)}")
    lines.append("Runs that did not end COMPLETED:")
    lines.append(verdict.detail)
    return "\n".join(lines)
