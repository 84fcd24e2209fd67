"""Worker labels in the simulator: the real engine's placement, in virtual time."""

from collections import Counter
from pathlib import Path

import pytest

from flowsim.errors import ScenarioError
from flowsim.sim import load_scenario, parse_scenario, simulate
from flowsim.sim.scenario import DesiredLabelEntry, Scenario

SCENARIO = Path(__file__).parents[2] / "scenarios" / "affinity.toml"


def _scenario() -> Scenario:
    return load_scenario(SCENARIO)


def test_required_labels_route_inference_to_the_gpu_worker_only() -> None:
    result = simulate(_scenario())
    assert result.ok
    placed = Counter((a.workflow, a.worker) for a in result.attempts)
    assert placed == {("inference", "gpu"): 20, ("resize", "cpu"): 8}
    # 20 one-second inferences on the GPU worker's two slots; the CPU worker never helps
    assert result.metrics.makespan == 10.0


def test_a_preferred_label_fills_the_preferred_workers_before_the_others() -> None:
    scenario = _scenario()
    resizes_only = scenario.model_copy(update={"arrivals": scenario.arrivals[1:]})
    result = simulate(resizes_only)
    at_start = Counter(a.worker for a in result.attempts if a.started_at == 0.0)
    # the CPU worker's 4 slots first; with those full, the GPU worker takes 2 at once
    # (no better worker has a free slot, so nothing waits out the preference)
    assert at_start == {"cpu": 4, "gpu": 2}
    assert result.metrics.makespan == 2.0


def test_a_run_no_worker_may_take_is_reported_naming_its_labels() -> None:
    scenario = _scenario()
    no_gpu = scenario.model_copy(update={"workers": scenario.workers[1:]})
    result = simulate(no_gpu)
    assert not result.ok
    assert result.metrics.runs_by_status == {"QUEUED": 20, "COMPLETED": 8}
    (check,) = [c for c in result.checks if c.name == "no_deadlock"]
    assert not check.passed
    assert "no running worker may run inference (requires gpu == 'a100' (required))" in (
        check.detail
    )


def test_an_arrivals_desired_labels_replace_the_tasks_own() -> None:
    """Labels on a trigger (``desired_worker_labels`` of an arrival) route that run, in
    place of its tasks' own: resizes sent to the GPU worker run there only."""
    scenario = _scenario()
    to_gpu = {"key": "gpu", "value": "a100", "required": True}
    resizes = scenario.arrivals[1].model_copy(
        update={"desired_worker_labels": [DesiredLabelEntry(**to_gpu)]}
    )
    result = simulate(scenario.model_copy(update={"arrivals": [resizes]}))
    assert result.ok
    assert Counter(a.worker for a in result.attempts) == {"gpu": 8}
    assert result.metrics.makespan == 4.0  # eight one-second resizes on two slots
    with pytest.raises(ScenarioError, match="desired_worker_labels go with workflow"):
        parse_scenario({
            "module": str(SCENARIO.parent / "affinity.py"),
            "workers": [{"name": "gpu", "slots": 1}],
            "arrivals": [{"event": "e", "desired_worker_labels": [to_gpu]}],
        })  # fmt: skip
