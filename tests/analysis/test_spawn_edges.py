"""Spawn edges, from the code and from a simulated run, on the scenario apps and on apps
where only one of the two can see an edge."""

from pathlib import Path

from flowsim.analysis import (
    build_graph,
    discover,
    explore,
    spawn_edges_from_code,
    spawn_edges_from_simulation,
)
from tests.analysis.apps import HEADER, HIDDEN_SPAWNS, write

SCENARIOS = Path(__file__).parents[2] / "scenarios"


def lines_calling(path: Path, needle: str) -> list[int]:
    """Line numbers of ``needle`` in the file, read off the text itself."""
    return [n for n, line in enumerate(path.read_text().splitlines(), 1) if needle in line]


def spawn_edges(graph) -> dict[tuple[str, str], dict]:
    return {(s, t): d for s, t, d in graph.edges(data=True) if d["kind"] == "spawn"}


def test_seed_parent_spawns_first_task_in_the_code() -> None:
    discovered = discover(SCENARIOS / "seed.py")
    calls = spawn_edges_from_code(discovered.workflows.values())
    assert {(c.parent, c.child_name, c.method) for c in calls} == {
        ("parent/parent", "first-task", "aio_run")
    }
    expected_lines = lines_calling(SCENARIOS / "seed.py", "child_task.aio_run(")
    assert len(expected_lines) == 2
    assert sorted(int(c.location.rsplit(":", 1)[1]) for c in calls) == expected_lines


def test_seed_parent_spawns_first_task_in_a_simulated_run() -> None:
    discovered = discover(SCENARIOS / "seed.py")
    result = explore(discovered)
    assert result is not None
    spawns = spawn_edges_from_simulation(result)
    # the parent's code awaits two child runs; the child spawns nothing
    assert [(s.parent, s.child, s.count) for s in spawns] == [("parent", "first-task", 2)]


def test_seed_graph_edge_is_found_both_ways() -> None:
    discovered = discover(SCENARIOS / "seed.py")
    graph = build_graph(discovered, simulation=explore(discovered))
    edges = spawn_edges(graph)
    assert list(edges) == [("task:parent/parent", "workflow:first-task")]
    edge = edges[("task:parent/parent", "workflow:first-task")]
    assert edge["found_by"] == ("code", "simulation")
    assert edge["methods"] == ("aio_run",)
    assert edge["simulated_runs"] == 2


def test_fanout_edges_and_child_counts() -> None:
    discovered = discover(SCENARIOS / "fanout.py")
    module = discovered.modules[0]
    n = module.FanOut().n  # every arrival of the exploring run uses the model's default
    graph = build_graph(discovered, simulation=explore(discovered))
    edges = spawn_edges(graph)
    assert set(edges) == {
        ("task:fan-out/fan-out", "workflow:leaf"),
        ("task:fan-out-of-fan-outs/fan-out-of-fan-outs", "workflow:fan-out"),
        ("task:durable-fan-out/durable-fan-out", "workflow:leaf"),
    }
    assert all(e["found_by"] == ("code", "simulation") for e in edges.values())
    assert all(e["methods"] == ("aio_run_many",) for e in edges.values())
    # leaves come from the fan-out arrival (n) and from the n fan-outs of the nested one
    assert edges[("task:fan-out/fan-out", "workflow:leaf")]["simulated_runs"] == n + n * n
    nested = ("task:fan-out-of-fan-outs/fan-out-of-fan-outs", "workflow:fan-out")
    assert edges[nested]["simulated_runs"] == n


def test_each_source_fills_the_others_gaps(tmp_path: Path) -> None:
    path = write(tmp_path, "hidden", HIDDEN_SPAWNS)
    discovered = discover(path)
    graph = build_graph(discovered, simulation=explore(discovered))
    found_by = {(s, t): d["found_by"] for (s, t), d in spawn_edges(graph).items()}
    assert found_by == {
        # a branch the default input does not take: only the code shows it
        ("task:branchy/branchy", "workflow:child"): ("code",),
        # a workflow looked up in a dict: only the run shows it
        ("task:dynamic/dynamic", "workflow:child"): ("simulation",),
        # spawned by a helper the task calls: both
        ("task:helped/helped", "workflow:other"): ("code", "simulation"),
    }
    helper_call = next(c for c in spawn_edges_from_code(discovered.workflows.values())
                       if c.workflow == "helped")  # fmt: skip
    assert helper_call.via == ("start_other",)
    assert int(helper_call.location.rsplit(":", 1)[1]) == lines_calling(path, "other.aio_run(")[0]


def test_dag_and_registration_edges() -> None:
    discovered = discover(SCENARIOS / "pipelines.py")
    graph = build_graph(discovered)
    dag = {(s, t) for s, t, d in graph.edges(data=True) if d["kind"] == "dag"}
    assert dag == {
        ("task:etl/extract", "task:etl/clean"),
        ("task:etl/extract", "task:etl/profile"),
        ("task:etl/clean", "task:etl/load"),
        ("task:etl/profile", "task:etl/load"),
    }
    # no worker declared: one assumed worker registers every workflow
    registers = {(s, t) for s, t, d in graph.edges(data=True) if d["kind"] == "registers"}
    assert registers == {("worker:worker", "workflow:etl"), ("worker:worker", "workflow:call-api")}
    assert graph.nodes["worker:worker"]["declared"] is False
    assert graph.nodes["task:call-api/call-api"]["retries"] == 5


def test_every_method_that_starts_runs_is_a_spawn_edge(tmp_path: Path) -> None:
    """The deprecated ``*_no_wait`` forms start runs as ``run`` does (hatchet_sdk warns,
    and runs them): code still using them spawns all the same."""
    methods = ["run", "aio_run", "run_many", "aio_run_many", "run_no_wait", "aio_run_no_wait",
               "run_many_no_wait", "aio_run_many_no_wait"]  # fmt: skip
    calls = "\n".join(f"    child.{method}([])" for method in methods)
    source = (
        HEADER
        + f"""

@hatchet.task(name="caller")
def caller(input: EmptyModel, ctx: Context) -> None:
{calls}
"""
    )
    discovered = discover(write(tmp_path, "every_method", source))
    found = spawn_edges_from_code(discovered.workflows.values())
    assert sorted(c.method for c in found if c.child_name == "child") == sorted(methods)
