"""The simulator's pictures: valid PNGs for real scenarios, slot lanes that respect the
worker's slots, and a wait-for graph that keeps every node and the cycle of the report."""

from __future__ import annotations

import itertools
import time
from collections import defaultdict
from functools import cache
from pathlib import Path

import matplotlib.image
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from flowsim.sim import SimulationResult, load_scenario, parse_scenario, simulate
from flowsim.sim.plots import (
    MAX_LANES,
    _assign_lanes,
    _cycle_edges,
    _groups,
    _wait_for_graph,
    render_deadlock,
    render_gantt,
)

SCENARIOS = Path(__file__).resolve().parents[2] / "scenarios"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
END, POINT, START = 0, 1, 2  # sweep events at one instant, in this order


@cache
def result_of(name: str) -> SimulationResult:
    return simulate(load_scenario(SCENARIOS / name))


def crash_result(tmp_path: Path, restart: bool = True) -> SimulationResult:
    """A fan-out whose worker dies at t=1 and is back at t=3; its runs stay leased to the
    dead worker for the default 30 s, while the restarted one takes the queued children."""
    scenario = tmp_path / "crash.toml"
    scenario.write_text(
        f"""
module = "{SCENARIOS / "fanout.py"}"
[[workers]]
name = "w"
slots = 4
[[arrivals]]
workflow = "fan-out"
input = {{ n = 12 }}
[durations]
leaf = 1.0
[[crashes]]
worker = "w"
at = 1.0
{"restart_after = 2.0" if restart else ""}
"""
    )
    return simulate(load_scenario(scenario))


def assert_png(path: Path, min_bytes: int = 5_000) -> None:
    data = path.read_bytes()
    assert data[:8] == PNG_SIGNATURE
    assert len(data) > min_bytes
    height, width, _ = matplotlib.image.imread(path).shape  # it decodes
    assert width > 300 and height > 150


def test_seed_deadlock_renders_a_gantt_chart_and_a_wait_for_graph(tmp_path: Path) -> None:
    result = result_of("seed-deadlock.toml")
    assert result.deadlock is not None
    gantt = render_gantt(result, tmp_path / "gantt.png")
    graph = render_deadlock(result.deadlock, tmp_path / "nested" / "graph.png")
    assert gantt == tmp_path / "gantt.png"
    assert graph == tmp_path / "nested" / "graph.png"
    assert_png(gantt)
    assert_png(graph)


def test_the_same_result_draws_the_same_bytes(tmp_path: Path) -> None:
    """Pictures committed to docs/ only change when the simulation does."""
    result = result_of("seed-deadlock.toml")
    first = render_gantt(result, tmp_path / "a.png").read_bytes()
    assert render_gantt(result, tmp_path / "b.png").read_bytes() == first


def test_a_1000_child_fan_out_draws_in_seconds(tmp_path: Path) -> None:
    result = result_of("fanout-1000.toml")
    assert len(result.attempts) == 1001
    started = time.perf_counter()
    assert_png(render_gantt(result, tmp_path / "fanout.png"))
    assert time.perf_counter() - started < 10


def test_a_crashed_worker_draws_its_lost_attempts(tmp_path: Path) -> None:
    result = crash_result(tmp_path)
    assert any(a.outcome == "LOST" for a in result.attempts)
    assert any(w.stopped_at == 1.0 for w in result.workers)
    assert_png(render_gantt(result, tmp_path / "crash.png"))


def overlap_free(intervals: list[tuple[float, float]], lanes: list[int]) -> bool:
    by_lane: dict[int, list[tuple[float, float]]] = defaultdict(list)
    for interval, lane in zip(intervals, lanes, strict=True):
        by_lane[lane].append(interval)
    for members in by_lane.values():
        members.sort()
        if any(a[1] > b[0] for a, b in itertools.pairwise(members)):
            return False
    return True


def most_open_at_once(intervals: list[tuple[float, float]]) -> int:
    """Slots needed: a sweep where, at one instant, attempts end first, then zero-length
    attempts come and go one after another (each needs a free slot at that instant), then
    attempts start."""
    events: list[tuple[float, int]] = []
    for start, end in intervals:
        events.extend([(start, POINT)] if start == end else [(start, START), (end, END)])
    level = peak = 0
    for _, kind in sorted(events):
        if kind == POINT:
            peak = max(peak, level + 1)
            continue
        level += 1 if kind == START else -1
        peak = max(peak, level)
    return peak


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(0, 40), st.integers(0, 10)).map(lambda p: (p[0], p[0] + p[1])),
        max_size=60,
    )
)
def test_lanes_never_overlap_and_are_as_few_as_possible(spans: list[tuple[int, int]]) -> None:
    intervals = [(float(s), float(e)) for s, e in spans]
    lanes = _assign_lanes(intervals)
    assert len(lanes) == len(intervals)
    assert overlap_free(intervals, lanes)
    assert len(set(lanes)) == most_open_at_once(intervals)
    assert set(lanes) == set(range(len(set(lanes))))


def test_touching_attempts_share_a_lane() -> None:
    """A slot released at t=1 and claimed again at t=1 is one slot, not two; an attempt
    that fails the instant it starts inside another's run needs a slot of its own."""
    assert _assign_lanes([(0.0, 1.0), (1.0, 2.0), (0.0, 2.0)]) == [0, 0, 1]
    assert _assign_lanes([(0.0, 2.0), (1.0, 1.0)]) == [0, 1]
    assert _assign_lanes([(1.0, 1.0), (1.0, 1.0), (1.0, 3.0)]) == [0, 0, 0]


@pytest.mark.parametrize(
    "name", ["seed-deadlock.toml", "seed-fixed.toml", "fanout-1000.toml", "retry-storm.toml"]
)
def test_a_workers_lanes_never_outnumber_its_slots(name: str) -> None:
    result = result_of(name)
    for group in _groups(result):
        assert group.used <= group.slots, (group.worker, group.pool)
        lanes = [lane for lane, _ in group.bars]
        intervals = [(bar.start, bar.end) for _, bar in group.bars]
        assert overlap_free(intervals, lanes)


def test_lost_attempts_end_at_the_crash_so_the_restarted_worker_fits(tmp_path: Path) -> None:
    """Left until their lease ran out (t=31), the dead worker's attempts would overlap the
    restarted worker's and need more lanes than its 4 slots."""
    result = crash_result(tmp_path)
    lost = [a for a in result.attempts if a.outcome == "LOST"]
    assert lost and all(a.finished_at is not None and a.finished_at > 3.0 for a in lost)
    [group] = _groups(result)
    assert group.used <= 4
    for _, bar in group.bars:
        if bar.outcome == "LOST":
            assert bar.end == 1.0


def test_lanes_beyond_the_cap_are_counted_not_drawn(tmp_path: Path) -> None:
    """100 children at once on 101 slots: more lanes than are drawn per pool."""
    scenario = parse_scenario(
        {
            "module": str(SCENARIOS / "fanout.py"),
            "workers": [{"name": "wide", "slots": 101}],
            "arrivals": [{"workflow": "fan-out", "input": {"n": 100}}],
            "durations": {"leaf": 1.0},
        }
    )
    result = simulate(scenario)
    [group] = _groups(result)
    assert group.used == 101
    assert group.drawn == MAX_LANES
    assert group.hidden == sum(1 for lane, _ in group.bars if lane >= MAX_LANES) > 0
    assert_png(render_gantt(result, tmp_path / "wide.png"))


def test_the_drawn_graph_keeps_every_node_and_the_reported_cycle(tmp_path: Path) -> None:
    """The nested fan-out's 73 blocked runs are drawn as a few grouped nodes; every node of
    the report's graph still has one standing for it, and the cycle is made of drawn edges."""
    report = result_of("nested-fanout.toml").deadlock
    assert report is not None
    drawn, alias = _wait_for_graph(report)
    source = report.graph()
    assert set(alias) == set(source.nodes) | {f"run:{b.workflow_run_id}" for b in report.blocked}
    assert set(alias.values()) == set(drawn.nodes)
    assert drawn.number_of_nodes() < source.number_of_nodes()
    cycle = _cycle_edges(report, alias)
    assert cycle and all(drawn.has_edge(u, v) for u, v in cycle)
    assert_png(render_deadlock(report, tmp_path / "nested.png"))


def test_the_seed_graph_draws_each_waited_for_run() -> None:
    report = result_of("seed-deadlock.toml").deadlock
    assert report is not None
    drawn, _ = _wait_for_graph(report)
    runs = [node for node in drawn.nodes if node.startswith("run:")]
    assert sorted(runs) == sorted(f"run:{b.workflow_run_id}" for b in report.blocked)
    assert len(runs) == 2


def test_runs_no_worker_registers_are_drawn_though_they_have_no_edges(tmp_path: Path) -> None:
    """The worker dies for good: its runs can never start, and the report has no holders
    and an edgeless graph; the picture still shows those runs."""
    report = crash_result(tmp_path, restart=False).deadlock
    assert report is not None and not report.holders and report.blocked
    assert report.graph().number_of_nodes() == 0
    drawn, alias = _wait_for_graph(report)
    assert {alias[f"run:{b.workflow_run_id}"] for b in report.blocked} == set(drawn.nodes)
    assert_png(render_deadlock(report, tmp_path / "unregistered.png"))
