"""assert_deadlock_free and assert_retries_converge: they raise on the configurations that
fail, with a counterexample that is minimal (checked here by simulating its neighbours
independently), and pass on the ones that do not."""

from pathlib import Path
from typing import Any

import pytest
from hypothesis import settings
from hypothesis import strategies as st

from flowsim import FlowsimError
from flowsim.analysis import discover
from flowsim.sim import parse_scenario, simulate
from flowsim.strategies import (
    DeadlockFoundError,
    RetriesDidNotConvergeError,
    assert_deadlock_free,
    assert_retries_converge,
)

SCENARIOS = Path(__file__).parents[2] / "scenarios"
#: deterministic and fast: no example database, a fixed search order
QUICK = settings(database=None, derandomize=True)


def deadlocks(
    module: str, workflow: str, slots: int, data: dict[str, Any], parents: int = 1
) -> bool:
    """A plain scenario over the module file; every task takes 0.1 s so parents that
    arrive together hold their slots together."""
    names = discover(SCENARIOS / module).workflows
    scenario = {
        "module": str(SCENARIOS / module),
        "workers": [{"name": "w", "slots": slots}],
        "arrivals": [{"workflow": workflow, "input": data, "count": parents}],
        "durations": dict.fromkeys(names, 0.1),
    }
    return simulate(parse_scenario(scenario)).deadlock is not None


def test_seed_with_one_to_three_slots_deadlocks_minimally_at_one() -> None:
    with pytest.raises(DeadlockFoundError) as caught:
        assert_deadlock_free(SCENARIOS / "seed.py", "parent", max_slots=3, settings=QUICK,
                             max_examples=10)  # fmt: skip
    error = caught.value
    assert isinstance(error, FlowsimError) and isinstance(error, AssertionError)
    assert (error.case.slots, error.case.parents, error.case.input) == (1, 1, {})
    message = str(error)
    assert "slots=1," in message and "parents=1" in message
    assert "2 child runs were spawned" in message  # the seed's parent awaits two children
    assert 'Worker "worker", default slots: 1, 1 held by waiting runs' in message
    assert deadlocks("seed.py", "parent", 1, {}) and not deadlocks("seed.py", "parent", 2, {})


def test_seed_with_enough_slots_for_one_parent_passes() -> None:
    assert_deadlock_free(SCENARIOS / "seed.py", "parent", min_slots=2, max_slots=4,
                         settings=QUICK, max_examples=10)  # fmt: skip


def test_more_parents_than_slots_allow_is_found() -> None:
    with pytest.raises(DeadlockFoundError) as caught:
        assert_deadlock_free(SCENARIOS / "seed.py", "parent", min_slots=2, max_slots=3,
                             max_parents=3, settings=QUICK, max_examples=20)  # fmt: skip
    case = caught.value.case
    # k parents need k + 1 slots: the fewest parents that deadlock 2 slots is 2
    assert (case.slots, case.parents) == (2, 2)
    assert deadlocks("seed.py", "parent", 2, {}, parents=2)
    assert not deadlocks("seed.py", "parent", 2, {}, parents=1)


def test_the_counterexample_has_the_fewest_children_then_the_fewest_slots() -> None:
    with pytest.raises(DeadlockFoundError) as caught:
        assert_deadlock_free(SCENARIOS / "fanout.py", "fan-out-of-fan-outs", max_slots=12,
                             max_children=6, settings=QUICK, max_examples=20)  # fmt: skip
    case = caught.value.case
    assert (case.input, case.slots, case.parents) == ({"n": 1}, 1, 1)
    # neighbours: no children at all cannot deadlock; one child each does with one slot
    assert not deadlocks("fanout.py", "fan-out-of-fan-outs", 12, {"n": 0})
    assert deadlocks("fanout.py", "fan-out-of-fan-outs", 1, {"n": 1})


def test_a_durable_parent_is_deadlock_free() -> None:
    assert_deadlock_free(SCENARIOS / "fanout.py", "durable-fan-out", max_slots=3, max_parents=3,
                         max_children=4, settings=QUICK, max_examples=15)  # fmt: skip


def test_given_inputs_are_searched_as_given() -> None:
    inputs = st.fixed_dictionaries({"n": st.integers(3, 4)})
    with pytest.raises(DeadlockFoundError) as caught:
        assert_deadlock_free(SCENARIOS / "fanout.py", "fan-out", max_slots=2, inputs=inputs,
                             settings=QUICK, max_examples=10)  # fmt: skip
    # the caller's range is kept: n is not lowered below 3
    assert caught.value.case.input["n"] in (3, 4) and caught.value.case.slots == 1


def test_call_api_converges_within_its_retries() -> None:
    assert_retries_converge(SCENARIOS / "pipelines.py", "call-api", max_failures=5,
                            settings=QUICK, max_examples=15)  # fmt: skip


def test_failures_beyond_the_retries_give_the_minimal_schedule() -> None:
    module = discover(SCENARIOS / "pipelines.py")
    retries = module.workflows["call-api"].tasks[0].spec.retries
    with pytest.raises(RetriesDidNotConvergeError) as caught:
        assert_retries_converge(SCENARIOS / "pipelines.py", "call-api", max_failures=retries + 3,
                                settings=QUICK, max_examples=15)  # fmt: skip
    error = caught.value
    assert isinstance(error, FlowsimError) and isinstance(error, AssertionError)
    # every attempt the task has must fail, and no other failure is needed
    assert error.case.schedule == (("call-api.call-api", tuple(range(1, retries + 2))),)
    message = str(error)
    assert f"call-api.call-api (retries={retries}): attempts 1, 2, 3, 4, 5, 6 fail" in message
    assert "FAILED" in message


TIMEOUT_APP = """\
from flowsim import Context, EmptyModel, Hatchet

hatchet = Hatchet()


@hatchet.task(name="flaky", retries=3, backoff_factor=10.0)
def flaky(input: EmptyModel, ctx: Context) -> dict:
    return {"ok": True}


@hatchet.task(name="impatient", execution_timeout="60s")
async def impatient(input: EmptyModel, ctx: Context) -> dict:
    return {"child": await flaky.aio_run()}
"""


def test_a_parent_timing_out_during_a_childs_backoff_is_found(tmp_path: Path) -> None:
    path = tmp_path / "impatient_app.py"
    path.write_text(TIMEOUT_APP)
    with pytest.raises(RetriesDidNotConvergeError) as caught:
        assert_retries_converge(path, "impatient", settings=QUICK, max_examples=15)
    schedule = dict(caught.value.case.schedule)
    # within budget (3 retries) and minimal: backoffs 10 s + 100 s pass the parent's 60 s
    # only once the child failed twice; one failure (10 s) does not
    assert schedule == {"flaky.flaky": (1, 2)}
    assert "impatient run" in str(caught.value) and "timeout" in str(caught.value).lower()


def test_unknown_names_are_refused() -> None:
    with pytest.raises(FlowsimError, match="no workflow 'nope'"):
        assert_deadlock_free(SCENARIOS / "seed.py", "nope")
    with pytest.raises(FlowsimError, match="no task"):
        assert_retries_converge(SCENARIOS / "pipelines.py", "call-api", tasks=["etl.load"])
