"""Hypothesis strategies and property helpers for testing Hatchet workflow code.

The strategies produce the pieces of a simulation scenario (the dict ``parse_scenario``
takes): ``inputs_for`` an arrival's ``input``, ``worker_configs`` its ``workers``,
``arrival_patterns`` its ``arrivals``, ``failure_schedules`` its ``faults``. Put them
together in your own ``@given`` test and call ``simulate``; or let the two helpers do the
search for the questions asked most:

* ``assert_deadlock_free(module, workflow, ...)``: no slot count, number of concurrent
  runs or input in range deadlocks; otherwise ``DeadlockFoundError`` with the minimal
  counterexample (fewest children, then fewest slots) and the engine's deadlock report.
* ``assert_retries_converge(module, workflow, ...)``: with failures within the retry
  budget every run still ends COMPLETED; otherwise ``RetriesDidNotConvergeError`` with
  the minimal failure schedule.

See docs/properties.md.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from hypothesis import strategies as st

from flowsim.analysis.deadlock_search import DeadlockCase, DeadlockFoundError, assert_deadlock_free
from flowsim.analysis.inputs import inputs_for
from flowsim.analysis.retry_search import (
    MAX_SPREAD,
    RetriesDidNotConvergeError,
    RetryCase,
    assert_retries_converge,
    faults_of,
    schedules,
)

__all__ = [
    "DeadlockCase",
    "DeadlockFoundError",
    "RetriesDidNotConvergeError",
    "RetryCase",
    "arrival_patterns",
    "assert_deadlock_free",
    "assert_retries_converge",
    "failure_schedules",
    "inputs_for",
    "worker_configs",
]


def worker_configs(
    workflows: Sequence[str] | None = None,
    *,
    max_workers: int = 2,
    min_slots: int = 1,
    max_slots: int = 8,
    min_durable_slots: int = 1,
    max_durable_slots: int = 8,
) -> st.SearchStrategy[list[dict[str, Any]]]:
    """Scenario ``workers``: 1 to ``max_workers`` workers named ``worker-1``... With
    ``workflows``, each workflow is registered by at least one worker (so no run waits on
    a workflow nobody runs); without, every worker registers all of the module's."""

    @st.composite
    def draw(draw: st.DrawFn) -> list[dict[str, Any]]:
        count = draw(st.integers(1, max_workers))
        workers: list[dict[str, Any]] = [
            {
                "name": f"worker-{index + 1}",
                "slots": draw(st.integers(min_slots, max_slots)),
                "durable_slots": draw(st.integers(min_durable_slots, max_durable_slots)),
            }
            for index in range(count)
        ]
        if workflows is not None:
            for worker in workers:
                worker["workflows"] = []
            for name in workflows:
                owners = draw(
                    st.lists(st.integers(0, count - 1), min_size=1, max_size=count, unique=True)
                )
                for owner in sorted(owners):
                    workers[owner]["workflows"].append(name)
        return workers

    return draw()


def arrival_patterns(
    workflows: Sequence[str],
    *,
    max_arrivals: int = 2,
    max_count: int = 4,
    max_start: float = 10.0,
    inputs: Mapping[str, st.SearchStrategy[dict[str, Any]]] | None = None,
) -> st.SearchStrategy[list[dict[str, Any]]]:
    """Scenario ``arrivals``: 1 to ``max_arrivals`` entries, each ``count`` runs of one of
    ``workflows`` as a burst at ``start``, evenly spaced (``every``) or at explicit times
    (``at``). ``inputs`` gives an input strategy per workflow (``inputs_for(wf)``);
    workflows without one get ``{}``. Shrinks towards one run at t=0."""
    if not workflows:
        raise ValueError("arrival_patterns needs at least one workflow name")
    times = st.floats(0, max_start, allow_nan=False, allow_infinity=False)

    @st.composite
    def one(draw: st.DrawFn) -> dict[str, Any]:
        workflow = draw(st.sampled_from(list(workflows)))
        count = draw(st.integers(1, max_count))
        given = (inputs or {}).get(workflow)
        arrival: dict[str, Any] = {
            "workflow": workflow,
            "input": draw(given) if given is not None else {},
        }
        shape = draw(st.sampled_from(["burst", "every", "at"]))
        if shape == "at":
            arrival["at"] = draw(st.lists(times, min_size=count, max_size=count))
            return arrival
        arrival["count"] = count
        arrival["start"] = draw(times)
        if shape == "every":
            arrival["every"] = draw(st.floats(0.1, max(0.1, max_start), allow_nan=False))
        return arrival

    return st.lists(one(), min_size=1, max_size=max_arrivals)


def failure_schedules(
    tasks: Mapping[str, int] | Sequence[str],
    *,
    max_failures: int = 3,
    max_spread: int = MAX_SPREAD,
) -> st.SearchStrategy[list[dict[str, Any]]]:
    """Scenario ``faults``: per task (``workflow.task`` or ``workflow`` keys), up to its
    number of failing attempts (the mapping's value, else ``max_failures``), at attempt
    numbers up to that count plus ``max_spread``. Shrinks towards no failures."""
    budgets = dict(tasks) if isinstance(tasks, Mapping) else dict.fromkeys(tasks, max_failures)
    return schedules(budgets, max_spread=max_spread).map(faults_of)
