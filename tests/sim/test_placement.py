"""Worker labels in the simulator: the real engine's placement, in virtual time."""

from collections import Counter
from pathlib import Path

from flowsim.sim import load_scenario, simulate
from flowsim.sim.scenario import Scenario

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
