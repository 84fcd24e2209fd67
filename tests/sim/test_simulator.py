"""The simulator against closed forms, the real engine, and itself (determinism)."""

import asyncio
import json
import math
import uuid
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from flowsim import SlotDeadlockError, UnknownWorkflowError, backend
from flowsim.engine.engine import Engine
from flowsim.errors import ScenarioError
from flowsim.sim import load_scenario, parse_scenario, simulate
from tests.sim import shapes

SCENARIOS = Path(__file__).parents[2] / "scenarios"
SHAPES = Path(__file__).with_name("shapes.py")


def fan_out_scenario(n: int, slots: int, duration: float) -> dict[str, Any]:
    return {
        "module": str(SCENARIOS / "fanout.py"),
        "workers": [{"name": "w", "slots": slots}],
        "arrivals": [{"workflow": "fan-out", "input": {"n": n}}],
        "durations": {"leaf": duration},
    }


@settings(max_examples=30, deadline=None)
@given(n=st.integers(1, 200), slots=st.integers(1, 12), duration=st.integers(1, 1000))
def test_fan_out_makespan_is_the_closed_form_and_one_slot_deadlocks(
    n: int, slots: int, duration: int
) -> None:
    result = simulate(parse_scenario(fan_out_scenario(n, slots, duration / 10)))
    if slots == 1:
        assert result.deadlock is not None
        assert result.deadlock.at == 0.0
        assert not result.ok
        return
    assert result.deadlock is None
    assert result.metrics.makespan == pytest.approx(math.ceil(n / (slots - 1)) * duration / 10)
    assert result.metrics.runs_by_status == {"COMPLETED": n + 1}


def test_the_same_seed_gives_the_same_trace_and_another_seed_does_not() -> None:
    scenario = load_scenario(SCENARIOS / "retry-storm.toml")
    first, again = simulate(scenario), simulate(scenario)
    assert first.trace_hash == again.trace_hash
    assert first.trace() == again.trace()
    other = simulate(scenario, seed=scenario.seed + 1)
    assert other.trace_hash != first.trace_hash


def test_injected_faults_are_retried_with_backoff_in_virtual_time() -> None:
    scenario = parse_scenario(
        {
            "module": str(SCENARIOS / "pipelines.py"),
            "workers": [{"name": "w", "slots": 1, "workflows": ["call-api"]}],
            "arrivals": [{"workflow": "call-api"}],
            "durations": {"call-api": 1.0},
            "faults": [{"task": "call-api", "attempts": [1, 2, 3]}],
        }
    )
    result = simulate(scenario)
    starts = [a.started_at for a in result.attempts]
    outcomes = [a.outcome for a in result.attempts]
    # each attempt takes 1 s; the backoff after failure n is 2**n s (backoff_factor 2)
    assert starts == [0.0, 3.0, 8.0, 17.0]
    assert outcomes == ["FAILED", "FAILED", "FAILED", "COMPLETED"]
    assert result.metrics.retries == 3
    assert "injected fault (call-api, attempt 1)" in (result.attempts[0].error or "")


def test_a_fault_asking_a_retry_delay_replaces_the_backoff_in_virtual_time() -> None:
    data = {
        "module": str(SCENARIOS / "pipelines.py"),
        "workers": [{"name": "w", "slots": 1, "workflows": ["call-api"]}],
        "arrivals": [{"workflow": "call-api"}],
        "durations": {"call-api": 1.0},
        "faults": [{"task": "call-api", "attempts": [1, 2], "retry_after": 30.0,
                    "message": "HTTP 429"}],
    }  # fmt: skip
    result = simulate(parse_scenario(data))
    # each attempt takes 1 s and asks 30 s, where the backoff would wait 2 and 4
    assert [a.started_at for a in result.attempts] == [0.0, 31.0, 62.0]
    assert "RetryAfterException: HTTP 429 (call-api, attempt 1)" in (result.attempts[0].error or "")
    data["faults"][0]["retryable"] = False
    with pytest.raises(ScenarioError, match="retry_after asks for a retry"):
        parse_scenario(data)


def test_a_crashed_worker_loses_nothing_and_duplicates_nothing() -> None:
    data = fan_out_scenario(30, 4, 1.0)
    data["workers"] = [{"name": "w", "slots": 4, "replicas": 2}]
    data["crashes"] = [{"worker": "w", "replica": 1, "at": 2.5, "restart_after": 3.0}]
    data["lease_seconds"] = 5.0
    result = simulate(parse_scenario(data))
    assert result.metrics.runs_by_status == {"COMPLETED": 31}  # the parent and 30 children
    lost = [a for a in result.attempts if a.outcome == "LOST"]
    assert lost, "the crash hit running attempts"
    assert all(a.finished_at == 2.5 + 5.0 for a in lost)  # reclaimed when the lease ran out
    completed = [a for a in result.attempts if a.outcome == "COMPLETED"]
    assert len(completed) == len({a.task_run_id for a in completed}) == 31
    assert result.deadlock is None
    (parent,) = [r for r in result.runs if r.workflow == "fan-out"]
    assert parent.status == "COMPLETED"
    crashed = [w for w in result.workers if w.stopped_at is not None]
    assert [(w.name, w.stopped_at) for w in crashed] == [("w-1", 2.5)]


def test_a_parent_whose_worker_dies_runs_again_without_respawning_its_children() -> None:
    data = fan_out_scenario(5, 6, 1.0)
    data["durations"]["fan-out"] = 0.5
    data["workers"] = [{"name": "w", "slots": 6}]
    data["crashes"] = [{"worker": "w", "at": 0.75, "restart_after": 0.0}]
    data["lease_seconds"] = 2.0
    result = simulate(parse_scenario(data))
    parent_attempts = [a for a in result.attempts if a.workflow == "fan-out"]
    assert [a.outcome for a in parent_attempts] == ["LOST", "COMPLETED"]
    assert len([r for r in result.runs if r.workflow == "leaf"]) == 5
    assert result.metrics.runs_by_status == {"COMPLETED": 6}


def test_measured_durations_are_sampled_from_the_csv(tmp_path: Path) -> None:
    (tmp_path / "measured.csv").write_text("task,seconds\nleaf,0.25\nleaf,4\nother,99\n")
    data = fan_out_scenario(40, 41, 0.0)
    data["durations"] = {"leaf": {"csv": "measured.csv"}}
    scenario = parse_scenario(data, source=tmp_path / "s.toml")
    result = simulate(scenario)
    durations = {
        a.finished_at - a.started_at  # type: ignore[operator]
        for a in result.attempts
        if a.workflow == "leaf"
    }
    assert durations == {0.25, 4.0}


def test_every_shipped_scenario_runs_and_meets_the_outcome_its_comment_states() -> None:
    expected_deadlock = {"seed-deadlock", "nested-fanout"}
    for path in sorted(SCENARIOS.glob("*.toml")):
        result = simulate(load_scenario(path))
        assert (result.deadlock is not None) == (path.stem in expected_deadlock), path.name
        assert result.ok == (path.stem not in expected_deadlock), (path.name, result.checks)


# ---------------------------------------------------------------- differential


def _run_on_real_engine(shape: shapes.Shape, slots: int) -> tuple[Any, list[tuple[str, ...]]]:
    """The same workflows on the in-memory engine in real time."""
    url = f"memory://differential-{uuid.uuid4().hex}"

    async def main() -> Any:
        engine: Engine = backend.engine_for(url)
        worker = shapes.hatchet.worker(
            "w", slots=slots, workflows=[shapes.parent, shapes.child, shapes.leaf]
        )
        async with worker:
            try:
                outcome: Any = await shapes.parent.aio_run(shape)
            except SlotDeadlockError:
                outcome = "deadlock"
            # let the rest finish, as the simulator does
            for _ in range(100):
                pending = [r for r in engine.store.runs.values() if not r.status.is_terminal]
                if not pending:
                    break
                try:
                    await engine.wait_many(pending, fail_fast=False)
                except (SlotDeadlockError, UnknownWorkflowError):
                    await asyncio.sleep(0)
        runs = sorted(
            _signature(
                r.workflow_name,
                r.input,
                r.status.value,
                sum(len(t.attempts) for t in r.tasks.values()),
            )
            for r in engine.store.runs.values()
        )
        return outcome, runs

    with backend.redirected(url):
        try:
            return asyncio.run(main())
        finally:
            backend.close_engine(url)


def _signature(workflow: str, data: Any, status: str, attempts: int) -> tuple[str, ...]:
    return (workflow, json.dumps(data, sort_keys=True), status, str(attempts))


children = st.lists(
    st.builds(
        lambda fail, leaves: {"fail": fail, "leaves": leaves},
        st.integers(0, 3),
        st.lists(st.integers(0, 3), max_size=4),
    ),
    max_size=5,
)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(children=children, slots=st.integers(1, 6))
def test_simulator_and_real_engine_agree(children: list[dict[str, Any]], slots: int) -> None:
    """Outputs, deadlock or not, and attempts per run are the same in both."""
    shape = shapes.Shape.model_validate(
        {"children": [{"path": str(i), **c} for i, c in enumerate(children)]}
    )
    real_outcome, real_runs = _run_on_real_engine(shape, slots)
    result = simulate(
        parse_scenario(
            {
                "module": str(SHAPES),
                "workers": [{"name": "w", "slots": slots}],
                "arrivals": [{"workflow": "diff-parent", "input": shape.model_dump()}],
            }
        )
    )
    sim_runs = sorted(
        _signature(
            r.workflow,
            r.input,
            r.status,
            sum(1 for a in result.attempts if a.run_id == r.run_id),
        )
        for r in result.runs
    )
    assert (result.deadlock is not None) == (real_outcome == "deadlock")
    assert sim_runs == real_runs
    if real_outcome != "deadlock":
        (parent,) = [r for r in result.runs if r.workflow == "diff-parent"]
        assert parent.output == {"diff-parent": real_outcome}
