"""The durable-backend benchmark's verdict lines: the absolute target, and the same
target scaled to the floor measured in the run (the machine's speed varies by hour)."""

from __future__ import annotations

from benchmarks._driver import Result
from benchmarks.backends import verdict


def _result(key: str, rate: float, status: str = "ok") -> Result:
    return Result(key=key, label=key, status=status, rate=rate)


def test_a_rate_below_the_target_is_met_once_scaled_to_a_slow_floor() -> None:
    # 11,000/s against a floor of 31,000/s: 0.355x the floor, above the issue's 20k/67k
    lines = verdict([_result("flowsim-postgres", 11_000)], {"postgres": 31_000})
    assert "NOT MET (11,000 runs/s, 0.550× the target, 0.355× its floor)" in lines[0]
    assert lines[1].endswith("0.299× its floor (20,000 of the issue's 67,000/s) = "
                             "9,254 runs/s here: MET")  # fmt: skip


def test_the_scaled_target_uses_the_strictest_issue_floor_and_fails_below_it() -> None:
    lines = verdict([_result("flowsim-sqlite", 14_000)], {"sqlite": 200_000})
    assert lines[1].endswith("0.075× its floor (20,000 of the issue's 268,000/s) = "
                             "14,925 runs/s here: NOT MET")  # fmt: skip


def test_without_a_floor_in_the_run_only_the_absolute_verdict_is_given() -> None:
    lines = verdict([_result("flowsim-postgres", 21_000)], {"postgres": None})
    assert lines == [
        "target: flowsim-postgres >= 20,000 child runs/s with 2 worker processes: "
        "MET (21,000 runs/s, 1.050× the target)"
    ]


def test_a_partial_repeat_meets_neither() -> None:
    lines = verdict([_result("flowsim-postgres", 30_000, "partial")], {"postgres": 31_000})
    assert "NOT MET" in lines[0] and lines[1].endswith("NOT MET")
