"""``[tool.flowsim]``: a bad table is refused with the key and what it expects (exit 2,
before anything runs); a good one runs, with paths relative to the pyproject."""

from __future__ import annotations

import shutil
import textwrap
from pathlib import Path

import pytest

from flowsim.check import CheckConfigError, load_config, parse_config, run_checks
from flowsim.check.config import DeadlockFreeConfig
from tests.check.entry_point import SCENARIOS, assert_no_traceback, run_flowsim


def write_pyproject(directory: Path, table: str) -> Path:
    path = directory / "pyproject.toml"
    path.write_text('[project]\nname = "app"\n\n' + textwrap.dedent(table), encoding="utf-8")
    return path


@pytest.mark.parametrize(
    ("table", "expected"),
    [
        pytest.param(
            '[tool.flowsim]\nmodules = ["app"]\nmodulez = ["app"]\n',
            ["tool.flowsim.modulez: unknown key"],
            id="unknown-key",
        ),
        pytest.param(
            """\
            [tool.flowsim]
            [[tool.flowsim.properties]]
            kind = "deadlock_free"
            workflow = "parent"
            max_slots = "eight"
            """,
            ["tool.flowsim.properties[0].max_slots:", "valid integer", "got 'eight'"],
            id="wrong-type",
        ),
        pytest.param(
            '[tool.flowsim]\nmodules = ["no_such_app"]\n',
            ["tool.flowsim.modules[0]:", "'no_such_app': no such module"],
            id="missing-module",
        ),
    ],
)
def test_a_bad_table_exits_2_naming_the_key(
    tmp_path: Path, table: str, expected: list[str]
) -> None:
    write_pyproject(tmp_path, table)

    proc = run_flowsim("check", "--junit", "junit.xml", cwd=tmp_path)

    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert proc.stderr.startswith("error: ")
    assert proc.stdout == ""  # nothing ran, so no report
    for text in expected:
        assert text in proc.stderr
    assert_no_traceback(proc)
    assert not (tmp_path / "junit.xml").exists()


def test_a_good_table_passes_with_paths_relative_to_the_pyproject(tmp_path: Path) -> None:
    project = tmp_path / "project"
    project.mkdir()
    for name in ("seed.py", "seed-fixed.toml", "seed-deadlock.toml"):  # module = "seed.py"
        shutil.copy(SCENARIOS / name, project / name)
    config = write_pyproject(
        project,
        """\
        [tool.flowsim]
        modules = ["seed.py"]

        [[tool.flowsim.deployments]]
        name = "four-slots"
        workers = [{ name = "w", slots = 4 }]

        [[tool.flowsim.scenarios]]
        path = "seed-fixed.toml"

        [[tool.flowsim.scenarios]]
        path = "seed-deadlock.toml"
        expect = "deadlock"

        [[tool.flowsim.properties]]
        kind = "deadlock_free"
        workflow = "parent"
        deployment = "four-slots"
        max_parents = 3
        max_examples = 10
        """,
    )

    proc = run_flowsim("check", "--config", config, "--json", "out/report.json", cwd=tmp_path)

    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "✓ seed.py @ four-slots" in proc.stdout
    assert "✓ seed-deadlock.toml: seed deadlock (slots = 1)" in proc.stdout
    assert "deadlocks at t=0.1s, as expected" in proc.stdout
    assert "slots 4..4, up to 3 concurrent run(s)" in proc.stdout
    assert proc.stdout.rstrip().splitlines()[-2].startswith("OK: 4 of 4 checks pass")
    assert (tmp_path / "out" / "report.json").is_file()  # relative to where it ran


def test_expect_deadlock_fails_when_the_scenario_no_longer_deadlocks(tmp_path: Path) -> None:
    table = {"scenarios": [{"path": str(SCENARIOS / "seed-fixed.toml"), "expect": "deadlock"}]}

    run = run_checks(parse_config(table, source=tmp_path / "pyproject.toml"))

    [result] = run.results
    assert not result.passed and not result.error
    assert result.message == 'expect = "deadlock", but it did not deadlock'


def test_a_missing_table_is_named(tmp_path: Path) -> None:
    path = tmp_path / "pyproject.toml"
    path.write_text('[project]\nname = "x"\n')
    with pytest.raises(CheckConfigError, match=r"no \[tool\.flowsim\] table"):
        load_config(path)


@pytest.mark.parametrize(
    ("table", "expected"),
    [
        ({}, "tool.flowsim: nothing to check"),
        ({"scenarios": [{"name": "x"}]}, "tool.flowsim.scenarios[0].path: required key is missing"),
        (
            {"properties": [{"kind": "safe", "workflow": "w"}]},
            "tool.flowsim.properties[0].kind: expected one of 'deadlock_free', 'retries_converge'",
        ),
        (
            {"properties": [{"kind": "deadlock_free", "workflow": "w", "min_slots": 0}]},
            "tool.flowsim.properties[0].min_slots: Input should be greater than or equal to 1",
        ),
        (
            {
                "properties": [
                    {"kind": "deadlock_free", "workflow": "w", "min_slots": 5, "max_slots": 2}
                ]
            },
            "tool.flowsim.properties[0]: min_slots (5) must be <= max_slots (2)",
        ),
        (
            {
                "modules": ["app"],
                "properties": [
                    {"kind": "retries_converge", "workflow": "w", "deployment": "d", "slots": 2}
                ],
            },
            "tool.flowsim.properties[0]: give deployment or slots / durable_slots, not both",
        ),
        (
            {"modules": ["app"], "deployments": [{"name": "d"}]},
            "tool.flowsim.deployments[0]: give exactly one of workers = [...] and workers_from",
        ),
        (
            {"modules": ["app"], "deployments": [{"name": "d", "workers_from": "app.worker"}]},
            "tool.flowsim.deployments[0].workers_from: expected 'package.module:attribute'",
        ),
        (
            {
                "modules": ["app"],
                "deployments": [{"name": "d", "workers": [{"name": "w", "slot": 1}]}],
            },
            "tool.flowsim.deployments[0].workers[0].slot: unknown key",
        ),
    ],
)
def test_table_errors_name_the_key_and_what_it_expects(
    table: dict[str, object], expected: str
) -> None:
    with pytest.raises(CheckConfigError) as caught:
        parse_config(table)
    assert expected in str(caught.value)


@pytest.fixture
def seed_project(tmp_path: Path) -> Path:
    shutil.copy(SCENARIOS / "seed.py", tmp_path / "app.py")
    return tmp_path


@pytest.mark.parametrize(
    ("table", "expected"),
    [
        (
            {"deployments": [{"name": "d", "workers": [{"name": "w", "workflows": ["parnet"]}]}]},
            "tool.flowsim.deployments[0].workers[0].workflows: no workflow 'parnet' in app.py; "
            "it defines first-task, parent",
        ),
        (
            {"deployments": [{"name": "d", "workers_from": "app:nothing"}]},
            "tool.flowsim.deployments[0].workers_from: module 'app' has no attribute 'nothing'",
        ),
        (
            {"deployments": [{"name": "d", "workers_from": "app:parent"}]},
            "tool.flowsim.deployments[0].workers_from: app:parent is Standalone; expected a "
            "Worker made with hatchet.worker(...)",
        ),
        (
            {"properties": [{"kind": "deadlock_free", "workflow": "parnet"}]},
            "tool.flowsim.properties[0].workflow: no workflow 'parnet'",
        ),
        (
            {"properties": [{"kind": "deadlock_free", "workflow": "parent", "deployment": "big"}]},
            "tool.flowsim.properties[0].deployment: no deployment 'big'; configured: none",
        ),
        (
            {
                "deployments": [
                    {"name": "split", "workers": [{"name": "a"}, {"name": "b"}]},
                ],
                "properties": [
                    {"kind": "retries_converge", "workflow": "parent", "deployment": "split"}
                ],
            },
            "tool.flowsim.properties[0].deployment: 'split' has 2 workers",
        ),
        (
            {"scenarios": [{"path": "missing.toml"}]},
            "tool.flowsim.scenarios[0].path: ",
        ),
    ],
)
def test_names_that_do_not_resolve_are_config_errors(
    seed_project: Path, table: dict[str, object], expected: str
) -> None:
    config = parse_config({"modules": ["app.py"], **table}, source=seed_project / "pyproject.toml")

    with pytest.raises(CheckConfigError) as caught:
        run_checks(config)
    assert expected in str(caught.value)


def test_a_property_takes_its_slots_from_the_deployment(seed_project: Path) -> None:
    table = {
        "modules": ["app.py"],
        "deployments": [{"name": "one", "workers": [{"name": "w", "slots": 1}]}],
        "properties": [{"kind": "deadlock_free", "workflow": "parent", "deployment": "one"}],
    }
    config = parse_config(table, source=seed_project / "pyproject.toml")
    assert isinstance(config.properties[0], DeadlockFreeConfig)

    run = run_checks(config)

    graph, prop = run.results
    assert (graph.name, graph.passed) == ("app.py @ one", False)
    assert (prop.name, prop.passed) == ("deadlock_free parent @ one", False)
    assert prop.data["case"]["slots"] == 1
