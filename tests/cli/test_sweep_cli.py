"""``flowsim sweep`` through the real entry point: the answer, the CSV, the heatmap."""

from __future__ import annotations

import csv
from pathlib import Path

from tests.cli.runner import PNG_SIGNATURE, SEED_DEADLOCK, assert_no_traceback, run_flowsim


def test_seed_sweep_finds_two_slots_and_writes_csv_and_heatmap(tmp_path: Path) -> None:
    out_csv, out_png = tmp_path / "grid.csv", tmp_path / "grid.png"
    proc = run_flowsim(
        "sweep", SEED_DEADLOCK, "--slots", "1..3", "--workers", "1",
        "--csv", out_csv, "--heatmap", out_png,
    )  # fmt: skip

    assert proc.returncode == 0, proc.stdout + proc.stderr
    # one parent holds a slot while its children need another: two slots on one worker
    expected = "smallest safe configuration: 1 worker(s) x 2 slots (2 total slots) at load 1"
    assert expected in proc.stdout
    with out_csv.open(newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert [int(row["slots"]) for row in rows] == [1, 2, 3]
    assert {row["workers"] for row in rows} == {"1"}
    assert [row["deadlock"] for row in rows] == ["true", "false", "false"]
    assert [row["all_checks_pass"] for row in rows] == ["false", "true", "true"]
    assert list(rows[0]) == [
        "load", "workers", "slots", "deadlock", "all_checks_pass", "makespan",
        "p99_latency", "failed_runs", "utilisation_mean",
    ]  # fmt: skip
    assert int(rows[0]["failed_runs"]) >= 1  # the stuck parent fails
    data = out_png.read_bytes()
    assert data.startswith(PNG_SIGNATURE)
    assert len(data) > 10_000


def test_no_safe_configuration_exits_1() -> None:
    proc = run_flowsim("sweep", SEED_DEADLOCK, "--slots", "1", "--workers", "1")

    assert proc.returncode == 1
    assert "no safe configuration at load 1" in proc.stdout
    assert "smallest safe configuration" not in proc.stdout


def test_a_load_without_a_safe_configuration_fails_the_sweep() -> None:
    """Two parents at once hold both slots of a 2-slot worker: safe at load 1, not at 2."""
    proc = run_flowsim("sweep", SEED_DEADLOCK, "--slots", "2", "--workers", "1", "--load", "1,2")

    assert proc.returncode == 1
    assert "1 worker(s) x 2 slots (2 total slots) at load 1" in proc.stdout
    assert "no safe configuration at load 2" in proc.stdout


def test_bad_ranges_and_names_exit_2(tmp_path: Path) -> None:
    for args, named in (
        (("--slots", "3..1", "--workers", "1"), "--slots"),
        (("--slots", "1..x", "--workers", "1"), "--slots"),
        (("--slots", "1", "--workers", "0"), "--workers"),
        (("--slots", "1", "--workers", "1", "--load", "0"), "--load"),
        (("--slots", "1", "--workers", "1", "--worker", "nobody"), "nobody"),
    ):
        proc = run_flowsim("sweep", SEED_DEADLOCK, *args)
        assert proc.returncode == 2, args
        assert named in proc.stderr, (args, proc.stderr)
        assert_no_traceback(proc)

    broken = tmp_path / "broken.toml"
    broken.write_text("workers = 3\n")
    proc = run_flowsim("sweep", broken, "--slots", "1", "--workers", "1")
    assert proc.returncode == 2
    assert "broken.toml" in proc.stderr
    assert_no_traceback(proc)
