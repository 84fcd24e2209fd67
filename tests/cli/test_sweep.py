"""The sweep grid and its answer, without the command line."""

from __future__ import annotations

import csv
import math
from pathlib import Path

import pytest

from flowsim.errors import ConfigurationError, ScenarioError
from flowsim.sim import load_scenario, simulate
from flowsim.sim.heatmap import render_heatmap
from flowsim.sim.sweep import SweepPoint, smallest_safe, sweep, write_csv
from tests.cli.runner import PNG_SIGNATURE, SEED_DEADLOCK, SEED_FIXED


def point(
    workers: int, slots: int, *, deadlock: bool = False, passes: bool = True, load: float = 1.0
) -> SweepPoint:
    return SweepPoint(
        load=load,
        workers=workers,
        slots=slots,
        deadlock=deadlock,
        all_checks_pass=passes,
        makespan=float(workers + slots),
        p99_latency=1.0,
        failed_runs=0,
        utilisation_mean=0.5,
    )


def test_fewest_total_slots_wins_over_fewest_workers() -> None:
    best = smallest_safe([point(1, 4), point(3, 1), point(2, 2)])
    assert best is not None
    assert (best.workers, best.slots) == (3, 1)


def test_equal_total_slots_prefers_fewer_workers() -> None:
    for order in ([point(4, 1), point(2, 2), point(1, 4)], [point(1, 4), point(4, 1), point(2, 2)]):
        best = smallest_safe(order)
        assert best is not None
        assert (best.workers, best.slots) == (1, 4)


def test_unsafe_points_never_win() -> None:
    points = [
        point(1, 1, deadlock=True, passes=False),
        point(1, 2, passes=False),  # no deadlock, but an assertion failed
        point(1, 3, deadlock=True, passes=True),  # a scenario with no_deadlock = false
        point(2, 3),
    ]
    best = smallest_safe(points)
    assert best is not None
    assert (best.workers, best.slots) == (2, 3)
    assert smallest_safe(points[:3]) is None
    assert smallest_safe([]) is None


def test_grid_order_progress_and_the_seed_answer() -> None:
    seen: list[tuple[int, int]] = []
    points = sweep(
        load_scenario(SEED_DEADLOCK),
        slots=[1, 2],
        workers=[1, 2],
        progress=lambda p: seen.append((p.workers, p.slots)),
    )
    assert [(p.workers, p.slots) for p in points] == [(1, 1), (1, 2), (2, 1), (2, 2)]
    assert seen == [(1, 1), (1, 2), (2, 1), (2, 2)]
    # the parent holds one slot; any second slot, on either worker, lets the children run
    assert [p.deadlock for p in points] == [True, False, False, False]
    best = smallest_safe(points)
    assert best is not None and (best.workers, best.slots) == (1, 2)  # 2x1 ties, loses


def test_load_factor_reaches_the_simulation() -> None:
    """Two parents at once hold both slots of the fixed seed's worker (its own comment)."""
    points = sweep(load_scenario(SEED_FIXED), slots=[2], workers=[1], loads=[1.0, 2.0])
    assert [(p.load, p.deadlock) for p in points] == [(1.0, False), (2.0, True)]
    assert points[1].failed_runs == 2


def test_p99_is_the_arriving_workflows_latency_only() -> None:
    """One parent arrives at t=0 and finishes last, so its latency is the makespan; the
    children's (shorter) latencies must not count."""
    (p,) = sweep(load_scenario(SEED_FIXED), slots=[2], workers=[1])
    result = simulate(load_scenario(SEED_FIXED))
    assert p.p99_latency == pytest.approx(p.makespan)
    assert result.metrics.latency["first-task"].p99 < p.p99_latency


def test_bad_grids_are_refused() -> None:
    scenario = load_scenario(SEED_DEADLOCK)
    with pytest.raises(ScenarioError, match="nobody"):
        sweep(scenario, [1], [1], worker="nobody")
    with pytest.raises(ConfigurationError, match="slots"):
        sweep(scenario, [0, 1], [1])
    with pytest.raises(ConfigurationError, match="workers"):
        sweep(scenario, [1], [])
    with pytest.raises(ConfigurationError, match="load"):
        sweep(scenario, [1], [1], loads=[-1.0])


def test_csv_spells_booleans_and_missing_latency(tmp_path: Path) -> None:
    unfinished = SweepPoint(1.0, 1, 1, True, False, 0.0, math.nan, 1, 1.0)
    path = write_csv([unfinished, point(1, 2)], tmp_path / "out.csv")
    with path.open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert rows[0]["deadlock"] == "true" and rows[0]["p99_latency"] == ""
    assert rows[1]["deadlock"] == "false" and rows[1]["all_checks_pass"] == "true"


def test_heatmap_with_sparse_values_and_an_all_deadlocked_panel(tmp_path: Path) -> None:
    points = [point(w, s) for w in (1, 4) for s in (2, 8)]
    points += [point(w, s, deadlock=True, passes=False, load=3.0) for w in (1, 4) for s in (2, 8)]
    path = render_heatmap(points, tmp_path / "h.png", title="sparse")
    data = path.read_bytes()
    assert data.startswith(PNG_SIGNATURE) and len(data) > 10_000
    with pytest.raises(ValueError):
        render_heatmap([], tmp_path / "none.png")
