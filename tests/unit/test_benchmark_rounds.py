"""The benchmark driver runs its repeats in rounds (every case once per round), so a case
and its floor alternate; the durable benchmark reads each round against its own floor."""

from __future__ import annotations

import dataclasses

from benchmarks._common import Config, Sample
from benchmarks._driver import Case, Result, Suite, merge_rounds, run_cases
from benchmarks.backends import round_lines

CONFIG = Config(children=100, repeat=3, slots=10, budget=30.0)


def _case(key: str) -> Case:
    return Case(key, key, "benchmarks.none", "none", None, "")


SUITE = Suite("benchmarks.none", [_case("floor"), _case("mine"), _case("absent")], "mine",
              "floor", "x mine", "x floor")  # fmt: skip


def _ok(key: str, seconds: float) -> Result:
    sample = Sample(seconds, CONFIG.children)
    return Result(key, key, "ok", samples=[sample], rate=CONFIG.children / seconds,
                  peak_rss_mib=40.0, wall_seconds=2.0)  # fmt: skip


def test_each_round_runs_every_case_once_and_the_rounds_merge() -> None:
    calls: list[tuple[str, int]] = []
    seconds = iter([1.0, 2.0, 0.5, 4.0, 1.0, 2.5])

    def run_one(suite: Suite, case: Case, config: Config) -> Result:
        calls.append((case.key, config.repeat))
        if case.key == "absent":
            return Result(case.key, case.key, "skipped", "not installed")
        return _ok(case.key, next(seconds))

    floor, mine, absent = run_cases(SUITE, ["floor", "mine", "absent"], CONFIG, run_one)
    # alternating, one repeat per subprocess; a skipped case is not tried again
    assert calls == [("floor", 1), ("mine", 1), ("absent", 1), ("floor", 1), ("mine", 1),
                     ("floor", 1), ("mine", 1)]  # fmt: skip
    assert [s.seconds for s in floor.samples] == [1.0, 0.5, 1.0]
    assert [s.seconds for s in mine.samples] == [2.0, 4.0, 2.5]
    assert (mine.status, mine.rate, mine.wall_seconds) == ("ok", 50.0, 6.0)
    assert (absent.status, absent.reason) == ("skipped", "not installed")


def test_a_failed_round_is_named_and_a_case_with_no_sample_keeps_its_failure() -> None:
    failed = Result("mine", "mine", "error", "exit code 1: boom", wall_seconds=1.0)
    merged = merge_rounds([_ok("mine", 2.0), failed, _ok("mine", 1.0)], CONFIG)
    assert (merged.status, merged.rate) == ("ok", 100.0)
    assert merged.reason == "1 of 3 rounds failed: exit code 1: boom"
    timeout = dataclasses.replace(failed, status="timeout", reason="killed after 210 s")
    alone = merge_rounds([timeout, failed], CONFIG)
    assert (alone.status, alone.reason, alone.wall_seconds) == ("timeout", "killed after 210 s",
                                                                2.0)  # fmt: skip


def _rounds(key: str, *seconds: float) -> Result:
    return merge_rounds([_ok(key, s) for s in seconds], CONFIG)


def test_each_round_is_read_against_the_floor_of_the_same_round() -> None:
    # floor 1,000/s then 500/s (the machine slowed down); flowsim 320/s then 140/s
    floor = _rounds("floor-postgres", 0.1, 0.2)
    mine = dataclasses.replace(_rounds("flowsim-postgres", 0.3125, 0.7142857), label="fs")
    assert round_lines([floor, mine], CONFIG.children) == [
        "per round, against the floor of the same round: fs 0.320×, 0.280× (median 0.300×; "
        "0.299× asked, met in 1 of 2)"
    ]
    short = _rounds("floor-postgres", 0.1)  # a round lost: the samples no longer pair up
    assert round_lines([short, mine], CONFIG.children) == []
