"""``assert_deadlock_free``: no slot count, parent count or input in range deadlocks.

Each case is one worker registering every workflow of the app (the deployment Hatchet
users start from; the helper does not read the module's own workers, since their slot
counts are what is being searched), ``parents`` runs of the workflow arriving at t=0 and
every task lasting ``STEP``, so the parents really are concurrent (see
``flowsim.analysis.thresholds``). A case fails if the engine reports a deadlock.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

from hypothesis import settings as Settings  # noqa: N812 - the class, under a name that says so
from hypothesis import strategies as st

from flowsim import rules
from flowsim.analysis.discovery import Discovered
from flowsim.analysis.explore import build_scenario
from flowsim.analysis.inputs import inputs_for
from flowsim.analysis.properties import (
    Step,
    Verdict,
    children_of,
    lower_field,
    lower_input_numbers,
    minimise,
    render_input,
    resolve,
    search,
    search_settings,
)
from flowsim.analysis.thresholds import STEP
from flowsim.errors import ConfigurationError, FlowsimError, InvalidInputError, ScenarioError
from flowsim.sdk.workflow import BaseWorkflow
from flowsim.sim.runner import simulate

WORKER = "worker"


class DeadlockFoundError(FlowsimError, AssertionError):
    """``assert_deadlock_free`` found a deadlocking case; ``case`` is the minimal one and
    the message explains it (with the engine's deadlock report)."""

    def __init__(self, message: str, case: DeadlockCase) -> None:
        super().__init__(message)
        self.case = case


@dataclass(frozen=True)
class DeadlockCase:
    slots: int
    durable_slots: int
    #: runs of the workflow under test arriving together
    parents: int
    input: dict[str, Any]

    def describe(self, workflow: str) -> str:
        return (
            f"slots={self.slots}, durable_slots={self.durable_slots}, "
            f'parents={self.parents} (concurrent runs of "{workflow}"), '
            f"input={render_input(self.input)}"
        )


class _Runner:
    def __init__(self, discovered: Discovered, workflow: BaseWorkflow) -> None:
        self.discovered = discovered
        self.workflow = workflow
        self.cache: dict[str, Verdict] = {}

    def __call__(self, case: DeadlockCase) -> Verdict:
        key = repr(case)
        if key not in self.cache:
            self.cache[key] = self._run(case)
        return self.cache[key]

    def _run(self, case: DeadlockCase) -> Verdict:
        worker = {"name": WORKER, "slots": case.slots, "durable_slots": case.durable_slots}
        arrival = {"workflow": self.workflow.name, "input": case.input, "count": case.parents}
        steps = {name: STEP for name in self.discovered.workflows}
        try:
            scenario = build_scenario(
                self.discovered, [worker], [arrival], durations=steps, name="deadlock search"
            )
            result = simulate(scenario)
        except (InvalidInputError, ScenarioError):
            return Verdict(False, "the workflow rejects this input")
        if result.deadlocks:
            first = result.deadlocks[0]
            return Verdict(True, first.render(), children_of(result, until=first.at))
        if result.stalled is not None:
            return Verdict(True, f"the simulation stalled: {result.stalled}", children_of(result))
        return Verdict(False, "", children_of(result))


def assert_deadlock_free(
    module: str | Path | ModuleType,
    workflow: str | BaseWorkflow,
    *,
    min_slots: int = 1,
    max_slots: int = 8,
    max_parents: int = 1,
    max_children: int = 8,
    durable_slots: int | None = None,
    inputs: st.SearchStrategy[dict[str, Any]] | None = None,
    max_examples: int = 50,
    settings: Settings | None = None,
) -> None:
    """Search slot counts in ``[min_slots, max_slots]``, 1 to ``max_parents`` concurrent
    runs and inputs (``inputs``, else drawn from the input model with whole numbers up to
    ``max_children``) for a deadlock; raise ``DeadlockFoundError`` with the minimal case.
    ``durable_slots`` fixes the durable pool (Hatchet's default 1,000 if None)."""
    if not 1 <= min_slots <= max_slots or max_parents < 1:
        raise ConfigurationError(
            f"need 1 <= min_slots <= max_slots and max_parents >= 1; got min_slots={min_slots}, "
            f"max_slots={max_slots}, max_parents={max_parents}"
        )
    discovered, target = resolve(module, workflow)
    durable = rules.DEFAULT_DURABLE_SLOTS if durable_slots is None else durable_slots
    cases = st.builds(
        DeadlockCase,
        slots=st.integers(min_slots, max_slots),
        durable_slots=st.just(durable),
        parents=st.integers(1, max_parents),
        input=inputs if inputs is not None else inputs_for(target, max_int=max_children),
    )
    run = _Runner(discovered, target)
    found = search(cases, run, search_settings(settings, max_examples))
    if found is None:
        return
    # inputs the caller drew are kept in their range: only model-drawn ones are lowered
    steps: list[Step[Any]] = [lower_input_numbers] if inputs is None else []
    steps += [lower_field("parents", 1), lower_field("slots", min_slots)]
    case, verdict = minimise(*found, run, steps)
    raise DeadlockFoundError(_message(target.name, case, verdict), case)


def _message(workflow: str, case: DeadlockCase, verdict: Verdict) -> str:
    return "\n".join(
        [
            f'"{workflow}" can deadlock. Minimal counterexample (fewest children, then fewest '
            "slots; lowering any one number makes it pass or leaves the search range):",
            f"  {case.describe(workflow)}",
            f"  {_spawned(verdict.children)} before it stuck.",
            "",
            verdict.detail,
        ]
    )


def _spawned(children: int) -> str:
    return "1 child run was spawned" if children == 1 else f"{children} child runs were spawned"
