"""``flowsim simulate`` through the real entry point: exit codes, output, files written."""

from __future__ import annotations

import importlib.metadata
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import flowsim
from flowsim.sim import load_scenario, simulate
from tests.cli.runner import (
    PNG_SIGNATURE,
    SCENARIOS,
    SEED_DEADLOCK,
    SEED_FIXED,
    assert_no_traceback,
    run_flowsim,
)


def test_deadlock_scenario_exits_1_and_prints_the_whole_explanation() -> None:
    proc = run_flowsim("simulate", SEED_DEADLOCK)

    assert proc.returncode == 1, proc.stderr
    report = simulate(load_scenario(SEED_DEADLOCK)).deadlock
    assert report is not None
    # the first line names this process's backend URL; every other line must be verbatim
    for line in report.render().splitlines()[1:]:
        assert line in proc.stdout
    for expected in ("slot 1: parent/parent", "Wait-for cycle:", "How to fix:", "slots=2"):
        assert expected in proc.stdout
    assert "✗ no_deadlock" in proc.stdout
    assert "seed deadlock (slots = 1)" in proc.stdout
    assert "FAILED: 0 of 2 checks pass" in proc.stdout
    assert_no_traceback(proc)


def test_fixed_scenario_exits_0_with_checks_and_metrics() -> None:
    proc = run_flowsim("simulate", SEED_FIXED)

    assert proc.returncode == 0, proc.stdout + proc.stderr
    result = simulate(load_scenario(SEED_FIXED))
    for check in result.checks:
        assert f"✓ {check.name}: {check.detail}" in proc.stdout
    assert "Slot deadlock" not in proc.stdout
    assert f"OK: {len(result.checks)} of {len(result.checks)} checks pass" in proc.stdout
    assert "makespan" in proc.stdout and f"{result.metrics.makespan:.4g}s" in proc.stdout
    assert "test-worker" in proc.stdout  # the utilisation table
    assert proc.stderr == ""


def test_json_is_the_only_stdout_and_carries_the_deadlock(tmp_path: Path) -> None:
    dot = tmp_path / "cycle.dot"
    proc = run_flowsim("simulate", SEED_DEADLOCK, "--json", "--seed", "123", "--dot", dot)

    assert proc.returncode == 1
    data = json.loads(proc.stdout)  # fails if anything but the JSON reached stdout
    assert data["ok"] is False
    assert data["seed"] == 123
    assert len(data["deadlocks"]) == 1
    assert [h["workflow"] for h in data["deadlocks"][0]["holders"]] == ["parent"]
    assert {c["name"]: c["passed"] for c in data["checks"]}["no_deadlock"] is False
    # the note about the file goes to stderr, and the file is the report's DOT
    assert str(dot) in proc.stderr
    text = dot.read_text()
    assert text.startswith("digraph deadlock {")
    assert '"pool:test-worker/default"' in text


def test_dot_without_a_deadlock_writes_nothing(tmp_path: Path) -> None:
    dot = tmp_path / "none.dot"
    proc = run_flowsim("simulate", SEED_FIXED, "--dot", dot)

    assert proc.returncode == 0
    assert not dot.exists()
    assert "no deadlock" in proc.stdout


def test_bad_toml_exits_2_naming_the_file_without_traceback(tmp_path: Path) -> None:
    bad = tmp_path / "broken-syntax.toml"
    bad.write_text('name = "x"\n[[workers]\nname = "w"\n')
    proc = run_flowsim("simulate", bad)

    assert proc.returncode == 2
    assert "broken-syntax.toml" in proc.stderr
    assert "not valid TOML" in proc.stderr
    assert proc.stdout == ""
    assert_no_traceback(proc)


def test_schema_error_exits_2_naming_file_and_key(tmp_path: Path) -> None:
    bad = tmp_path / "typo.toml"
    bad.write_text(
        'module = "seed.py"\nhorizon = "soon"\n\n[[workers]]\nname = "w"\nslotz = 2\n\n'
        '[[arrivals]]\nworkflow = "parent"\n'
    )
    proc = run_flowsim("simulate", bad)

    assert proc.returncode == 2
    assert "typo.toml" in proc.stderr
    assert "workers[0].slotz" in proc.stderr
    assert "horizon" in proc.stderr
    assert_no_traceback(proc)


def test_names_the_module_lacks_exit_2(tmp_path: Path) -> None:
    """Caught after loading, when the scenario is checked against its module."""
    bad = tmp_path / "unknown-workflow.toml"
    module = (SCENARIOS / "seed.py").as_posix()
    bad.write_text(
        f'module = "{module}"\n[[workers]]\nname = "w"\n[[arrivals]]\nworkflow = "nope"\n'
    )
    proc = run_flowsim("simulate", bad)

    assert proc.returncode == 2
    assert "arrivals[0].workflow" in proc.stderr and "'nope'" in proc.stderr
    assert_no_traceback(proc)


def test_missing_file_exits_2(tmp_path: Path) -> None:
    proc = run_flowsim("simulate", tmp_path / "absent.toml")

    assert proc.returncode == 2
    assert "absent.toml" in proc.stderr
    assert_no_traceback(proc)


def test_gantt_and_deadlock_png_are_written(tmp_path: Path) -> None:
    gantt, graph = tmp_path / "gantt.png", tmp_path / "graph.png"
    proc = run_flowsim("simulate", SEED_DEADLOCK, "--gantt", gantt, "--deadlock-png", graph)

    assert proc.returncode == 1, proc.stderr
    for png in (gantt, graph):
        data = png.read_bytes()
        assert data.startswith(PNG_SIGNATURE)
        assert len(data) > 5_000
        assert str(png) in proc.stdout


def test_version_and_help() -> None:
    version = run_flowsim("--version")
    assert version.returncode == 0
    assert version.stdout.strip() == f"flowsim {flowsim.__version__}"
    assert flowsim.__version__ == importlib.metadata.version("flowsim")

    top = run_flowsim("--help")
    assert top.returncode == 0
    assert "simulate" in top.stdout and "sweep" in top.stdout

    sub = run_flowsim("simulate", "--help")
    assert sub.returncode == 0
    for option in ("--seed", "--json", "--gantt", "--dot", "--deadlock-png", "Exit status"):
        assert option in sub.stdout


def test_installed_console_script_runs() -> None:
    script = shutil.which("flowsim", path=os.path.dirname(sys.executable))
    assert script is not None, "flowsim console script not installed next to the interpreter"

    proc = subprocess.run(
        [script, "simulate", str(SEED_FIXED), "--json"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert proc.returncode == 0, proc.stderr
    assert json.loads(proc.stdout)["ok"] is True


def test_a_scenario_that_allows_deadlocks_is_judged_by_its_assertions(tmp_path: Path) -> None:
    """``no_deadlock = false`` says the deadlock is expected: the report is still printed,
    but the exit code follows the scenario's assertions, which all hold."""
    text = SEED_DEADLOCK.read_text()
    module = (SCENARIOS / "seed.py").as_posix()
    text = text.replace('module = "seed.py"', f'module = "{module}"')
    text = text.replace("no_deadlock = true\nall_succeed = true", "no_deadlock = false")
    allowed = tmp_path / "allowed.toml"
    allowed.write_text(text)

    proc = run_flowsim("simulate", allowed)

    assert proc.returncode == 0, proc.stdout
    assert "How to fix:" in proc.stdout
    assert "checks: none asserted" in proc.stdout
