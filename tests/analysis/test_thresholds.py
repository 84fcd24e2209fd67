"""Deadlock thresholds: derived from the spawn structure, demonstrated by simulation, and
checked here against simulations built independently (scenario dicts over the module
file, with the seed scenarios' durations) and against the slot model of
tests/property/model.py."""

from pathlib import Path
from typing import Any

import pytest

from flowsim.analysis import (
    DeadlockThreshold,
    Severity,
    analyse,
    build_graph,
    discover,
    explore,
    findings,
)
from flowsim.analysis.chains import exclusive_workflows, holding_chain
from flowsim.analysis.discovery import WorkerShape
from flowsim.sim import parse_scenario, simulate
from tests.analysis.apps import NON_HOLDING, SEED_WITH_WORKER, write
from tests.property.model import Node, NodeType, model_deadlocks

SCENARIOS = Path(__file__).parents[2] / "scenarios"


def seed_deadlocks(slots: int, parents: int) -> bool:
    """The seed's workflows on one worker, ``parents`` parent runs at t=0, with the
    durations of scenarios/seed-deadlock.toml (the parents work a little before they
    spawn, so they hold their slots together): an ordinary scenario, loaded from the
    module file by the simulator itself."""
    scenario: dict[str, Any] = {
        "module": str(SCENARIOS / "seed.py"),
        "workers": [{"name": "test-worker", "slots": slots}],
        "arrivals": [{"workflow": "parent", "count": parents}],
        "durations": {"first-task.step1": 0.5, "parent": 0.1},
    }
    return simulate(parse_scenario(scenario)).deadlock is not None


def thresholds_of(target: Any, **kwargs: Any) -> list[DeadlockThreshold]:
    discovered = discover(target)
    graph = build_graph(discovered, simulation=explore(discovered))
    return [f for f in findings(graph, discovered, **kwargs) if isinstance(f, DeadlockThreshold)]


def test_structure_gives_one_holding_level_for_the_seed() -> None:
    discovered = discover(SCENARIOS / "seed.py")
    graph = build_graph(discovered)
    (worker,) = discovered.workers
    chain = holding_chain(graph, "parent", exclusive_workflows(worker, discovered.workers))
    assert chain is not None
    assert (chain.workflows, chain.holders) == (("parent", "first-task"), 1)
    assert [chain.predicted(k) for k in (1, 2, 3, 4)] == [2, 3, 4, 5]


def test_seed_threshold_is_k_plus_one_and_matches_simulate() -> None:
    (finding,) = thresholds_of(SCENARIOS / "seed.py")
    assert finding.parent == "parent" and finding.verified
    needed = {p.parents: p.slots_needed for p in finding.points}
    assert needed == {1: 2, 2: 3, 3: 4, 4: 5}
    for parents, slots in needed.items():
        assert slots is not None
        assert seed_deadlocks(slots - 1, parents), (parents, slots - 1)
        assert not seed_deadlocks(slots, parents), (parents, slots)
    # the assumed worker has Hatchet's 100 slots: 100 parents fill them
    assert finding.worker_slots == 100 and not finding.worker_declared
    assert finding.deadlock_at_parents == 100 and finding.deadlock_at_demonstrated
    assert seed_deadlocks(100, 100) and not seed_deadlocks(100, 99)


@pytest.mark.parametrize("slots", [1, 3])
def test_a_declared_worker_reports_the_parents_its_slots_take(tmp_path: Path, slots: int) -> None:
    path = write(tmp_path, f"seed{slots}", SEED_WITH_WORKER.replace("{slots}", str(slots)))
    (finding,) = thresholds_of(path)
    assert (finding.worker, finding.worker_slots, finding.worker_declared) == (
        "test-worker",
        slots,
        True,
    )
    assert [p.slots_needed for p in finding.points] == [2, 3, 4, 5]
    # k parents need k + 1 slots, so `slots` parents are the first to deadlock it
    assert finding.deadlock_at_parents == slots
    assert finding.severity is (Severity.ERROR if slots == 1 else Severity.WARNING)
    text = finding.message()
    assert 'worker "test-worker"' in text and "deadlock below (slots):   2   3   4   5" in text


def test_nested_fan_out_needs_what_the_slot_model_says() -> None:
    thresholds = {f.parent: f for f in thresholds_of(SCENARIOS / "fanout.py")}
    # the durable parent holds a durable slot, so it never blocks its default-slot leaves
    assert set(thresholds) == {"fan-out", "fan-out-of-fan-outs"}
    assert [p.slots_needed for p in thresholds["fan-out"].points] == [2, 3, 4, 5]
    nested = thresholds["fan-out-of-fan-outs"]
    assert nested.chain == ("fan-out-of-fan-outs", "fan-out", "leaf") and nested.holders == 2
    # one nested parent of n=10 (the input default): the independent slot model's answer
    task = NodeType(0, "standalone", False, "all")
    n = 10
    tree = Node(task, 0, "many", tuple(Node(task, 0, "many", (Node(task, 0, "many"),) * n)
                                       for _ in range(n)))  # fmt: skip
    model_needed = next(s for s in range(1, 50) if not model_deadlocks(tree, lambda _: 0, {0: s}))
    assert nested.points[0].slots_needed == model_needed == 12
    # fan-out multiplies the holders: more than the chain alone predicts
    assert all(p.slots_needed is not None and p.slots_needed > p.predicted for p in nested.points)
    assert nested.note


def test_parents_that_do_not_hold_a_default_slot_have_no_threshold(tmp_path: Path) -> None:
    assert thresholds_of(write(tmp_path, "nonholding", NON_HOLDING)) == []


def test_unverified_thresholds_are_the_structures_and_say_so() -> None:
    (finding,) = thresholds_of(SCENARIOS / "seed.py", verify=False)
    assert not finding.verified
    assert [p.slots_needed for p in finding.points] == [2, 3, 4, 5]
    assert not any(p.demonstrated for p in finding.points)
    assert "NOT simulated" in finding.message()


def test_a_required_input_without_a_value_is_not_simulated(tmp_path: Path) -> None:
    source = (
        SEED_WITH_WORKER.replace("{slots}", "2")
        .replace(
            '@hatchet.task(name="parent")', '@hatchet.task(name="parent", input_validator=Msg2)'
        )
        .replace(
            "class Msg(BaseModel):", "class Msg2(BaseModel):\n    n: int\n\n\nclass Msg(BaseModel):"
        )
    )
    path = write(tmp_path, "needs_input", source.replace("input: EmptyModel", "input: Msg2"))
    (finding,) = thresholds_of(path)
    assert not finding.verified and "pass inputs=" in finding.note
    (given,) = thresholds_of(path, inputs={"parent": {"n": 1}})
    assert given.verified and [p.slots_needed for p in given.points] == [2, 3, 4, 5]


def test_worker_without_the_children_has_no_threshold() -> None:
    shapes = (
        WorkerShape("parents", 1, 0, ("parent",)),
        WorkerShape("children", 1, 0, ("first-task",)),
    )
    assert exclusive_workflows(shapes[0], shapes) == {"parent"}
    discovered = discover(SCENARIOS / "seed.py")
    graph = build_graph(discovered)
    assert holding_chain(graph, "parent", exclusive_workflows(shapes[0], shapes)) is None


def test_analyse_runs_it_all() -> None:
    analysis = analyse(SCENARIOS / "seed.py")
    assert [f.kind for f in analysis.findings] == ["deadlock-threshold"]
    text = analysis.render()
    assert "spawns: aio_run [code + simulation] -> first-task" in text
    assert "assumed one worker" in text
