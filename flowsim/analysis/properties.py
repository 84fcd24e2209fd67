"""Searching for a counterexample with hypothesis, then making it as small as it gets.

A property helper draws a *case* (slot counts, parents, an input, a failure schedule),
simulates it, and fails when the simulation shows the bug. Hypothesis finds a failing
case and shrinks it. Its shrinker works on the draws, not on what they mean, and stops
when no small change of the draws fails; so the helper then walks each number it cares
about down while the case still fails (fewer failures, fewer parents, smaller fan-out
inputs, fewer slots, in that order), and reports a case where lowering any one of them
makes the bug go away. That is the minimal counterexample a reader can act on.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any, Generic, TypeVar

from hypothesis import HealthCheck, example, given
from hypothesis import settings as Settings  # noqa: N812 - the class, under a name that says so
from hypothesis import strategies as st

from flowsim.analysis.discovery import Discovered, discover
from flowsim.errors import ConfigurationError
from flowsim.sdk.workflow import BaseWorkflow
from flowsim.sim.results import SimulationResult

C = TypeVar("C")


@dataclass(frozen=True)
class Verdict:
    """What one simulated case showed."""

    failed: bool
    #: the explanation printed with a failing case (a deadlock report, failed runs)
    detail: str = ""
    #: runs spawned by other runs in the case
    children: int = 0


class _CaseFailed(Exception, Generic[C]):  # noqa: N818 - internal signal, never escapes
    def __init__(self, case: C, verdict: Verdict) -> None:
        super().__init__(f"{case!r}: {verdict.detail[:200]}")
        self.case = case
        self.verdict = verdict


def search_settings(base: Settings | None, max_examples: int) -> Settings:
    """The caller's settings (or the active profile), with the helpers' needs on top: no
    deadline (a simulation's time varies with its size) and one bug reported, not a group."""
    return Settings(
        base or Settings(),
        max_examples=max_examples,
        deadline=None,
        report_multiple_bugs=False,
        suppress_health_check=[
            HealthCheck.too_slow,
            HealthCheck.filter_too_much,
            HealthCheck.data_too_large,
        ],
    )


def search(
    cases: st.SearchStrategy[C],
    run: Callable[[C], Verdict],
    settings: Settings,
    examples: Sequence[C] = (),
) -> tuple[C, Verdict] | None:
    """The failing case hypothesis ends with, or None if every case it tried passed."""

    def check(case: C) -> None:
        verdict = run(case)
        if verdict.failed:
            raise _CaseFailed(case, verdict)

    test: Callable[..., None] = given(case=cases)(check)
    for case in examples:
        test = example(case=case)(test)
    test = settings(test)
    try:
        test()
    except _CaseFailed as failure:
        return failure.case, failure.verdict
    return None


Step = Callable[[C], Iterator[C]]


def minimise(
    case: C, verdict: Verdict, run: Callable[[C], Verdict], steps: Sequence[Step[C]]
) -> tuple[C, Verdict]:
    """Move to the first smaller candidate that still fails, step by step in order, until
    no step offers one: then no single number of the case can be lowered."""
    changed = True
    while changed:
        changed = False
        for step in steps:
            for candidate in step(case):
                outcome = run(candidate)
                if outcome.failed:
                    case, verdict, changed = candidate, outcome, True
                    break
    return case, verdict


def lowered(value: int, low: int) -> Iterator[int]:
    """Smaller values to try, boldest first: the floor, halfway, one less. Trying one less
    last means a value is kept only when one less no longer fails."""
    if value > low:
        yield low
        if value - 1 > low + 1:
            yield (low + value) // 2
        if value - 1 > low:
            yield value - 1


def lower_field(name: str, low: int) -> Step[Any]:
    """Candidates with dataclass field ``name`` lowered."""

    def step(case: Any) -> Iterator[Any]:
        for value in lowered(getattr(case, name), low):
            yield dataclasses.replace(case, **{name: value})

    return step


def lower_input_numbers(case: Any) -> Iterator[Any]:
    """Candidates with one whole-number field of ``case.input`` lowered towards 0 (the
    fan-out counts of a workflow input; a value the workflow rejects does not fail)."""
    for key, value in case.input.items():
        if isinstance(value, int) and not isinstance(value, bool):
            for smaller in lowered(value, 0):
                yield dataclasses.replace(case, input={**case.input, key: smaller})


def resolve(
    module: str | Path | ModuleType, workflow: str | BaseWorkflow
) -> tuple[Discovered, BaseWorkflow]:
    """The discovered app and the workflow the property starts runs of."""
    discovered = discover(module)
    name = workflow if isinstance(workflow, str) else workflow.name
    found = discovered.workflows.get(name)
    if found is None:
        raise ConfigurationError(
            f"{discovered.target}: no workflow {name!r}; it defines "
            f"{', '.join(sorted(discovered.workflows)) or 'none'}"
        )
    return discovered, found


def children_of(result: SimulationResult, until: float | None = None) -> int:
    """Runs spawned by other runs (up to the instant ``until``, if given)."""
    return sum(
        1
        for run in result.runs
        if run.parent_run_id is not None and (until is None or run.created_at <= until)
    )


def render_input(data: dict[str, Any]) -> str:
    return json.dumps(data, sort_keys=True, default=str)
