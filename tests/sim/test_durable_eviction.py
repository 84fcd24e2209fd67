"""The simulator runs durable eviction as the engine does: a durable parent waiting on
durable children gives up its slot instead of deadlocking the durable pool."""

from pathlib import Path
from typing import Any

import pytest

from flowsim.engine.eviction import CAPACITY_MIN_WAIT
from flowsim.sim import parse_scenario, simulate

MODULE = Path(__file__).parents[2] / "scenarios" / "durable_eviction.py"


def scenario(parent: str, parents: int = 2, slots: int = 2) -> dict[str, Any]:
    return {
        "module": str(MODULE),
        "workers": [{"name": "w", "slots": 1, "durable_slots": slots}],
        "arrivals": [{"workflow": parent, "input": {"n": 2, "nap": 5.0}, "count": parents}],
    }


def test_pinned_durable_parents_deadlock_the_durable_pool() -> None:
    result = simulate(parse_scenario(scenario("durable-parent-pinned")))
    assert result.deadlock is not None
    assert result.deadlock.at == 1.0  # when the parents, done sleeping, wait on children


def test_evictable_durable_parents_give_up_their_slots_and_all_complete() -> None:
    result = simulate(parse_scenario(scenario("durable-parent")))
    assert result.deadlock is None
    assert result.metrics.runs_by_status == {"COMPLETED": 2 + 2 * 2}
    parents = [a for a in result.attempts if a.workflow == "durable-parent"]
    outcomes = sorted(a.outcome for a in parents)
    assert outcomes == ["COMPLETED", "COMPLETED", "EVICTED", "EVICTED"]
    evicted = [a for a in parents if a.outcome == "EVICTED"]
    # capacity eviction: both slots wait, and the parents have waited 10 s on children
    assert min(a.finished_at or 0.0 for a in evicted) == pytest.approx(1.0 + CAPACITY_MIN_WAIT)
    children = [a for a in result.attempts if a.workflow == "durable-child"]
    assert len({a.run_id for a in children}) == 4  # restored parents spawned none again
    assert result.metrics.makespan < 60.0


def test_the_eviction_scenario_is_deterministic() -> None:
    data = scenario("durable-parent", parents=3, slots=2)
    first, again = simulate(parse_scenario(data)), simulate(parse_scenario(data))
    assert first.trace_hash == again.trace_hash
    assert first.deadlock is None and first.metrics.runs_by_status == {"COMPLETED": 3 + 3 * 2}
