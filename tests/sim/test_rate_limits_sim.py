"""Rate limits in the simulator: the real engine's admission, in virtual time."""

from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from flowsim.errors import ScenarioError
from flowsim.sim import load_scenario, parse_scenario, simulate

SCENARIOS = Path(__file__).parents[2] / "scenarios"


def _limited(**changes: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "module": str(SCENARIOS / "ratelimited.py"),
        "rate_limits": [{"key": "payments-api", "limit": 10, "duration": "SECOND"}],
        "workers": [{"name": "w", "slots": 50}],
        "arrivals": [{"workflow": "charge", "count": 1000}],
        "durations": {"charge": 0.2},
    }
    return {**data, **changes}


def test_ten_per_second_over_a_sixty_second_window_runs_about_six_hundred() -> None:
    result = simulate(parse_scenario(_limited(horizon=60.0)))
    assert result.horizon_reached
    starts = Counter(int(a.started_at) for a in result.attempts)
    assert max(starts.values()) == 10  # never more than the limit in one window
    started_by_60 = sum(n for second, n in starts.items() if second < 60)
    assert started_by_60 == 600
    completed = result.metrics.runs_by_status.get("COMPLETED", 0)
    assert 590 <= completed <= 610


def test_the_limit_not_the_slots_sets_the_pace_of_the_shipped_scenario() -> None:
    result = simulate(load_scenario(SCENARIOS / "rate-limited-api.toml"))
    assert result.ok
    starts = Counter(int(a.started_at) for a in result.attempts)
    assert set(starts.values()) == {10} and sorted(starts) == list(range(100))
    assert result.metrics.makespan == pytest.approx(99.2)


def test_without_the_key_put_every_run_stays_queued() -> None:
    result = simulate(parse_scenario(_limited(rate_limits=[], horizon=30.0)))
    assert result.attempts == ()
    assert result.metrics.runs_by_status == {"QUEUED": 1000}


def test_a_rate_limit_entry_is_validated_with_its_key_path() -> None:
    with pytest.raises(ScenarioError, match=r"rate_limits\[0\]\.duration"):
        parse_scenario(_limited(rate_limits=[{"key": "k", "limit": 1, "duration": "FORTNIGHT"}]))
