"""The strategies: values the workflow accepts, scenario pieces parse_scenario accepts,
and the bounds each one promises."""

import enum
from typing import Annotated, Any, Literal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import BaseModel, Field

import flowsim.strategies as strategies
from flowsim import Hatchet
from flowsim.sim import parse_scenario
from flowsim.strategies import arrival_patterns, failure_schedules, inputs_for, worker_configs

hatchet = Hatchet()


class Colour(enum.Enum):
    RED = "red"
    BLUE = "blue"


class Inner(BaseModel):
    depth: int = Field(ge=1, le=3)


class Rich(BaseModel):
    n: int = 10
    bounded: int = Field(default=2, ge=2, le=4)
    code: str = Field(default="ab", pattern=r"^[a-c]{2}$")
    short: Annotated[str, Field(max_length=2)] = ""
    ratio: float = Field(default=0.5, gt=0, lt=1)
    mode: Literal["fast", "slow"] = "fast"
    colour: Colour = Colour.RED
    inner: Inner = Inner(depth=1)
    items: list[int] = []
    renamed: int = Field(default=0, alias="Renamed", ge=0, le=1)


rich = hatchet.workflow(name="rich", input_validator=Rich)


@rich.task()
def noop(input: Rich, ctx: Any) -> dict[str, int]:
    return {"n": input.n}


QUICK = settings(max_examples=40, database=None, deadline=None)


def test_all_is_explicit_and_complete() -> None:
    assert set(strategies.__all__) == {
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
    }
    assert all(hasattr(strategies, name) for name in strategies.__all__)


@QUICK
@given(data=inputs_for(rich, max_int=5, max_size=2))
def test_inputs_respect_constraints_and_validate(data: dict[str, Any]) -> None:
    parsed = Rich.model_validate(data)  # the JSON form validates again
    assert 0 <= parsed.n <= 5  # unconstrained counts stay small
    assert 2 <= parsed.bounded <= 4 and 1 <= parsed.inner.depth <= 3
    assert len(parsed.code) == 2 and set(parsed.code) <= set("abc")
    assert len(parsed.short) <= 2 and 0 < parsed.ratio < 1
    assert len(parsed.items) <= 2 and all(0 <= i <= 5 for i in parsed.items)
    assert "Renamed" in data and parsed.renamed in (0, 1)
    assert data["colour"] in ("red", "blue") and data["mode"] in ("fast", "slow")


def test_every_field_varies_even_with_a_default() -> None:
    seen: set[int] = set()

    @settings(max_examples=60, database=None, deadline=None)
    @given(data=inputs_for(rich, max_int=3))
    def collect(data: dict[str, Any]) -> None:
        seen.add(data["n"])

    collect()
    assert seen == {0, 1, 2, 3}


@QUICK
@given(data=inputs_for(rich, n=st.just(7)))
def test_fields_can_be_overridden(data: dict[str, Any]) -> None:
    assert data["n"] == 7


def test_an_unknown_override_is_refused() -> None:
    with pytest.raises(TypeError, match="no field"):
        inputs_for(rich, nope=st.just(1)).example()


@QUICK
@given(workers=worker_configs(["a", "b", "c"], max_workers=3, min_slots=2, max_slots=5))
def test_worker_configs_register_every_workflow_somewhere(workers: list[dict[str, Any]]) -> None:
    assert 1 <= len(workers) <= 3
    assert all(2 <= w["slots"] <= 5 for w in workers)
    registered = [name for w in workers for name in w["workflows"]]
    assert set(registered) == {"a", "b", "c"}
    arrivals = [{"workflow": "a"}]
    scenario = parse_scenario({"module": "m", "workers": workers, "arrivals": arrivals})
    assert [w.name for w in scenario.workers] == [w["name"] for w in workers]


@QUICK
@given(arrivals=arrival_patterns(["a", "b"], max_count=3, max_start=5.0,
                                 inputs={"a": st.just({"k": 1})}))  # fmt: skip
def test_arrival_patterns_parse(arrivals: list[dict[str, Any]]) -> None:
    scenario = parse_scenario({"module": "m", "workers": [{"name": "w"}], "arrivals": arrivals})
    for arrival in scenario.arrivals:
        assert arrival.workflow in ("a", "b")
        assert arrival.input == ({"k": 1} if arrival.workflow == "a" else {})
        assert 1 <= (len(arrival.at) if arrival.at is not None else arrival.count) <= 3
        assert all(0 <= t <= 5.0 for t in arrival.at or (arrival.start,))


@QUICK
@given(faults=failure_schedules({"w.a": 2, "w.b": 0}, max_spread=1))
def test_failure_schedules_stay_within_budgets(faults: list[dict[str, Any]]) -> None:
    assert all(f["task"] == "w.a" for f in faults)  # a budget of 0 never fails
    for fault in faults:
        attempts = fault["attempts"]
        assert 1 <= len(attempts) <= 2 and attempts == sorted(set(attempts))
        assert max(attempts) <= len(attempts) + 1
    parse_scenario({"module": "m", "workers": [{"name": "w"}], "arrivals": [{"workflow": "x"}],
                    "faults": faults})  # fmt: skip
