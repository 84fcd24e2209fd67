"""Property tests over random fan-out trees, slot counts and failure patterns.

For every generated scenario (a tree of runs, a worker layout, retries and injected
failures) the real engine runs it and we check:

* every run ends exactly once: all runs terminal, one run per tree node (retried parents
  re-attach to their children), the engine reports each run finished once, attempts match
  the failure pattern, and each attempt's body ran exactly once on the recorded worker;
* outputs equal the direct-call oracle (``model.expected_output``);
* slots are never over-committed: task bodies running at once per worker and slot pool
  never exceed that pool's slots, and no slot is still held at the end;
* ``SlotDeadlockError`` is raised (promptly, never a hang) if and only if the independent
  slot model (``model.model_deadlocks``) says the configuration deadlocks. That model is
  exact when a tree's parents all await children the same way; trees mixing ``gather``
  and ``aio_run_many`` parents have a timing-dependent spawn order, so for them only the
  order-free bounds are asserted (certain deadlock => raised; impossible => not raised).
  See the docstring of ``tests/property/model.py`` for why.

Explicit examples pin known configurations: the seed (one slot deadlocks, two do not),
nested waits, a retried parent re-attaching to its children, and two deadlocks that
become certain only after the pool filled (a durable root holding the durable slot a
grandchild needs; a parent whose other child on another worker was still running).
"""

from __future__ import annotations

from hypothesis import HealthCheck, event, example, given, settings
from hypothesis import strategies as st

from tests.property.harness import check, run
from tests.property.model import (
    Node,
    NodeType,
    Scenario,
    WorkerSpec,
    closed_form_deadlocks,
    model_deadlocks,
    scenario_bounds,
    scenario_deadlocks,
    scenarios,
    trees,
    uniform_style,
)

# The plugin's autouse fixture resets backends once per test, not per example; that is
# harmless here because every example runs on its own backend URL and resets it itself.
SETTINGS = settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)

ALL = frozenset({"all"})


def task(retries: int = 0, durable: bool = False) -> NodeType:
    return NodeType(retries, "standalone", durable, "all")


def leaf(node_type: NodeType | None = None, fails: int = 0) -> Node:
    return Node(node_type or task(), fails, "gather")


def one_worker(tree: Node, slots: int, durable_slots: int = 1) -> Scenario:
    return Scenario("one", tree, (WorkerSpec("w", slots, durable_slots, ALL),))


SEED = Node(task(), 0, "gather", (leaf(), leaf()))
CHAIN_3 = Node(task(), 0, "gather", (Node(task(), 0, "many", (leaf(),)),))
#: a durable root holds the only durable slot; its (default-slot) child waits on a durable
#: leaf that can never get one
DURABLE_CROSS_POOL = Node(
    task(durable=True), 0, "gather", (Node(task(), 0, "gather", (leaf(task(durable=True)),)),)
)
#: the parent fills the parents worker's only slot; one child can never start there, the
#: other (on the leaves worker) is still being retried when the parent starts waiting
SPLIT_LATE_STALL = Node(
    NodeType(0, "standalone", False, "parents"),
    0,
    "gather",
    (
        leaf(NodeType(0, "standalone", False, "parents")),
        leaf(NodeType(1, "standalone", False, "leaves"), fails=1),
    ),
)
#: the middle task deadlocks (it holds the only task slot, its leaf needs one) while its
#: durable sibling is still being retried: the root learns of the deadlock from its child
DEADLOCK_BESIDE_A_RETRY = Node(
    task(durable=True),
    0,
    "gather",
    (Node(task(), 0, "gather", (leaf(),)), leaf(task(retries=2, durable=True), fails=2)),
)
#: a parent retried after its children ended must re-attach to them, not spawn again
RETRIED_PARENT = Node(task(retries=2), 2, "gather", (leaf(task(retries=1), fails=1), leaf()))


def _classify(scenario: Scenario) -> None:
    if uniform_style(scenario.tree):
        event("exact model: " + ("deadlock" if scenario_deadlocks(scenario) else "no deadlock"))
    else:
        event(f"mixed styles: {scenario_bounds(scenario)}")


@SETTINGS
@given(scenario=scenarios(layouts=("one",)))
@example(scenario=one_worker(SEED, slots=1))
@example(scenario=one_worker(SEED, slots=2))
@example(scenario=one_worker(CHAIN_3, slots=2))
@example(scenario=one_worker(CHAIN_3, slots=3))
@example(scenario=one_worker(RETRIED_PARENT, slots=2))
@example(scenario=one_worker(DEADLOCK_BESIDE_A_RETRY, slots=1, durable_slots=2))
@example(scenario=one_worker(DURABLE_CROSS_POOL, slots=3, durable_slots=2))
@example(scenario=one_worker(DURABLE_CROSS_POOL, slots=3, durable_slots=1))
def test_random_trees_on_one_worker(scenario: Scenario) -> None:
    _classify(scenario)
    check(scenario, run(scenario))


def split_workers(tree: Node, parent_slots: int, leaf_slots: int = 1) -> Scenario:
    return Scenario(
        "split",
        tree,
        (
            WorkerSpec("parents", parent_slots, 1, frozenset({"parents"})),
            WorkerSpec("leaves", leaf_slots, 1, frozenset({"leaves"})),
        ),
    )


@SETTINGS
@given(scenario=scenarios(layouts=("shared", "split")))
@example(scenario=split_workers(SPLIT_LATE_STALL, parent_slots=2))
@example(scenario=split_workers(SPLIT_LATE_STALL, parent_slots=1))
def test_random_trees_on_two_workers(scenario: Scenario) -> None:
    _classify(scenario)
    check(scenario, run(scenario))


@settings(max_examples=200, deadline=None)
@given(tree=trees(max_depth=4, max_nodes=24), slots=st.integers(1, 8))
def test_slot_model_agrees_with_the_breadth_first_closed_form(tree: Node, slots: int) -> None:
    """The oracle checked against itself: the simulation and the closed form (claims in
    breadth-first order; a claim waits while slot holders with unclaimed descendants fill
    every slot) are two derivations of the same single-pool answer."""
    one_pool = model_deadlocks(tree, lambda node: "pool", {"pool": slots})
    assert one_pool == closed_form_deadlocks(tree, slots)


@settings(max_examples=200, deadline=None)
@given(scenario=scenarios(layouts=("one", "shared", "split")))
def test_slot_model_lies_within_the_order_free_bounds(scenario: Scenario) -> None:
    """The breadth-first model is one spawn order; the bounds hold for every order."""
    bounds = scenario_bounds(scenario)
    deadlocks = scenario_deadlocks(scenario)
    assert deadlocks or not bounds.certain
    assert bounds.possible or not deadlocks
