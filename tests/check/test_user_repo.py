"""``flowsim check`` on the sample repository (examples/user-repo), through the installed
console script, as its CI would run it.

What the report must say is derived here independently, in this process: each deployment
and scenario is simulated directly, and the property searches are run by calling the
helpers, not through ``[tool.flowsim]``.
"""

from __future__ import annotations

import dataclasses
import importlib
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest

from flowsim import compat
from flowsim.check.config import DeadlockFreeConfig, FlowsimConfig
from flowsim.sim import load_scenario, parse_scenario, simulate
from flowsim.strategies import DeadlockCase, DeadlockFoundError, assert_deadlock_free
from tests.check.entry_point import Checked, assert_no_traceback, run_pytest


@pytest.fixture(scope="module")
def shop(checked: Checked) -> Iterator[dict[str, ModuleType]]:
    """The sample's modules imported here (hatchet_sdk alias on), then forgotten again."""
    sys.path.insert(0, str(checked.repo))
    try:
        with compat.installed():
            yield {
                name: importlib.import_module(f"shop.{name}") for name in ("worker", "workflows")
            }
    finally:
        sys.path.remove(str(checked.repo))
        for name in [n for n in sys.modules if n == "shop" or n.startswith("shop.")]:
            del sys.modules[name]


def deadlocks(repo: Path, slots: int, items: int, parents: int = 1) -> bool:
    """Does one worker with ``slots`` slots deadlock on ``parents`` checkouts of ``items``?"""
    scenario = parse_scenario(
        {
            "module": "shop.workflows",
            "workers": [{"name": "w", "slots": slots}],
            "arrivals": [{"workflow": "checkout", "input": {"items": items}, "count": parents}],
            "durations": {"checkout": 0.001, "reserve-item": 0.001, "charge-card": 0.001},
        },
        source=repo / "derived.toml",
    )
    return bool(simulate(scenario).deadlocks)


def minimal_case(shop: dict[str, ModuleType], entry: DeadlockFreeConfig) -> DeadlockCase | None:
    try:
        assert_deadlock_free(
            shop["workflows"],
            entry.workflow,
            min_slots=entry.min_slots,
            max_slots=entry.max_slots,
            max_parents=entry.max_parents,
            max_children=entry.max_children,
        )
    except DeadlockFoundError as found:
        return found.case
    return None


@pytest.fixture(scope="module")
def expected_failures(checked: Checked, shop: dict[str, ModuleType]) -> dict[str, set[str]]:
    """Which checks must fail, per kind, found without flowsim check."""
    config = checked.config
    graph = {
        f"shop @ {deployment.name}"
        for deployment in config.deployments
        if deadlocks(checked.repo, getattr(shop["worker"], deployment.name)().slots, items=2)
    }
    scenarios = {
        str(entry.path)
        for entry in config.scenarios
        if not simulate(load_scenario(checked.repo / entry.path)).ok
    }
    properties = {
        entry.name or entry.workflow
        for entry in config.properties
        if isinstance(entry, DeadlockFreeConfig)
        and entry.deployment is None
        and minimal_case(shop, entry) is not None
    }
    return {"graph": graph, "scenario": scenarios, "property": properties}


def test_the_check_fails_the_build(checked: Checked) -> None:
    assert checked.proc.returncode == 1, checked.proc.stdout + checked.proc.stderr
    assert_no_traceback(checked.proc)
    assert checked.proc.stderr == ""


def test_exactly_the_deadlocking_configuration_fails(
    checked: Checked, expected_failures: dict[str, set[str]]
) -> None:
    # the sample is built so that one deployment, its scenario and the unbounded property
    # fail; if that stops being true the sample no longer shows what it should
    assert expected_failures == {
        "graph": {"shop @ small"},
        "scenario": {"scenarios/small.toml"},
        "property": {"checkout on a worker of any size"},
    }
    lines = checked.proc.stdout.splitlines()
    failed = [line for line in lines if line.startswith("  ✗ ")]
    passed = [line for line in lines if line.startswith("  ✓ ")]
    assert len(failed) == sum(map(len, expected_failures.values()))
    assert len(passed) + len(failed) == total_checks(checked.config)
    for names in expected_failures.values():
        for name in names:
            assert any(line.startswith(f"  ✗ {name}") for line in failed), name
    assert any(line.startswith("  ✓ shop @ production") for line in passed)


def test_the_report_names_the_deadlocked_deployment_and_why(checked: Checked) -> None:
    out = checked.proc.stdout
    small = next(line for line in out.splitlines() if line.startswith("  ✗ shop @ small"))
    assert 'worker "shop-worker" (1 slot): one run of "checkout" deadlocks it' in small
    assert "✗ graph: shop @ small  [tool.flowsim.deployments[1]]" in out
    # the scenario's failure carries the engine's deadlock report and its fixes
    section = out.split("✗ scenario: scenarios/small.toml", 1)[1].split("\n✗ ", 1)[0]
    assert "slot 1: checkout/checkout" in section
    assert "Wait-for cycle:" in section and "How to fix:" in section
    total = total_checks(checked.config)
    assert (
        out.rstrip()
        .splitlines()[-3]
        .startswith(f"FAILED: {total - 3} of {total} checks pass, 3 fail")
    )


def test_the_counterexample_is_minimal(checked: Checked, shop: dict[str, ModuleType]) -> None:
    entry = next(
        p for p in checked.config.properties if p.name == "checkout on a worker of any size"
    )
    assert isinstance(entry, DeadlockFreeConfig)
    case = minimal_case(shop, entry)
    assert case is not None
    # minimal: every number at its floor, or one less does not deadlock
    assert (case.slots, case.parents) == (entry.min_slots, 1)
    assert deadlocks(checked.repo, case.slots, case.input["items"])
    assert not deadlocks(checked.repo, case.slots, case.input["items"] - 1)
    assert case.input == {"items": 1}
    reported = next(c for c in checked.json["checks"] if c["name"] == entry.name)
    assert reported["data"]["case"] == dataclasses.asdict(case)
    assert f"  {case.describe('checkout')}\n" in checked.proc.stdout
    assert "1 child run was spawned before it stuck." in checked.proc.stdout


def test_the_junit_xml_is_valid_and_counts_right(
    checked: Checked, expected_failures: dict[str, set[str]]
) -> None:
    root = checked.junit
    total = total_checks(checked.config)
    failures = sum(map(len, expected_failures.values()))
    assert root.tag == "testsuites"
    assert (root.get("tests"), root.get("failures"), root.get("errors")) == (
        str(total),
        str(failures),
        "0",
    )
    suites = {suite.get("name"): suite for suite in root.findall("testsuite")}
    assert set(suites) == {"flowsim.graph", "flowsim.scenario", "flowsim.property"}
    for kind, names in expected_failures.items():
        suite = suites[f"flowsim.{kind}"]
        cases = suite.findall("testcase")
        assert suite.get("tests") == str(len(cases))
        failed = [case for case in cases if case.find("failure") is not None]
        assert suite.get("failures") == str(len(failed)) == str(len(names))
        for name in names:
            assert any(case.get("name", "").startswith(name) for case in failed), name
    small = next(
        case for case in suites["flowsim.graph"] if case.get("name") == "shop @ small"
    ).find("failure")
    assert small is not None
    assert 'one run of "checkout" deadlocks it' in small.get("message", "")
    assert "With its 1 slot" in (small.text or "")
    assert sum(len(suite.findall("testcase")) for suite in suites.values()) == total


def test_the_json_says_the_same(checked: Checked) -> None:
    data = checked.json
    root = checked.junit
    cases = [case for suite in root.findall("testsuite") for case in suite.findall("testcase")]
    assert [c["name"] for c in data["checks"]] == [case.get("name") for case in cases]
    assert [c["passed"] for c in data["checks"]] == [case.find("failure") is None for case in cases]
    assert data["ok"] is False
    assert data["summary"]["total"] == int(root.get("tests", "-1"))
    assert data["summary"]["failed"] == int(root.get("failures", "-1"))
    assert data["summary"]["errors"] == 0


def test_the_sample_repositorys_own_tests_pass(checked: Checked) -> None:
    proc = run_pytest(checked.repo)

    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert " passed" in proc.stdout and "failed" not in proc.stdout


def total_checks(config: FlowsimConfig) -> int:
    return len(config.deployments) + len(config.scenarios) + len(config.properties)
