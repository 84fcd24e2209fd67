"""The JUnit and JSON writers, and how a check that raises is recorded: as an error, not a
failure, so a red build tells a bug flowsim found from a check that broke."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET
from pathlib import Path

from flowsim.check import report
from flowsim.check.checks import Verdict
from flowsim.check.junit import write_junit
from flowsim.check.plan import PlannedCheck
from flowsim.check.run import CheckRun, execute


def broken() -> Verdict:
    raise RuntimeError("the user's task code blew up\nsecond line")


def run_of_three() -> CheckRun:
    checks = [
        PlannedCheck("fine", "scenario", "tool.flowsim.scenarios[0]", lambda: Verdict(True, "ok")),
        PlannedCheck(
            "bad <&> one",
            "property",
            "tool.flowsim.properties[0]",
            lambda: Verdict(False, 'found "it"', "the details\n  indented"),
        ),
        PlannedCheck("broken", "property", "tool.flowsim.properties[1]", broken),
    ]
    return CheckRun(Path("/p/pyproject.toml"), tuple(execute(c) for c in checks), 1.5)


def test_a_check_that_raises_is_an_error_with_its_traceback() -> None:
    result = execute(PlannedCheck("broken", "graph", "tool.flowsim.modules", broken))

    assert (result.passed, result.error) == (False, True)
    assert result.message == "the check raised RuntimeError: the user's task code blew up"
    assert "Traceback" in result.details and "in broken" in result.details


def test_junit_has_failures_errors_and_escaped_text(tmp_path: Path) -> None:
    path = write_junit(run_of_three(), tmp_path / "deep" / "junit.xml")

    root = ET.parse(path).getroot()
    assert (root.get("tests"), root.get("failures"), root.get("errors")) == ("3", "1", "1")
    assert [s.get("name") for s in root.findall("testsuite")] == [
        "flowsim.scenario",
        "flowsim.property",
    ]
    prop = root.findall("testsuite")[1]
    assert (prop.get("tests"), prop.get("failures"), prop.get("errors")) == ("2", "1", "1")
    bad, broke = prop.findall("testcase")
    failure = bad.find("failure")
    assert bad.get("name") == "bad <&> one"
    assert failure is not None and failure.get("message") == 'found "it"'
    assert failure.text == 'found "it"\n[tool.flowsim.properties[0]]\n\nthe details\n  indented\n'
    error = broke.find("error")
    assert error is not None and "RuntimeError" in (error.text or "")
    assert root.findall("testsuite")[0].find("testcase/failure") is None


def test_json_and_text_report_agree(tmp_path: Path) -> None:
    run = run_of_three()
    data = json.loads(report.write_json(run, tmp_path / "r.json").read_text())

    assert data["summary"] == {
        "total": 3,
        "passed": 1,
        "failed": 2,
        "errors": 1,
        "by_kind": {
            "graph": {"total": 0, "failed": 0},
            "scenario": {"total": 1, "failed": 0},
            "property": {"total": 2, "failed": 2},
        },
    }
    text = report.render(run)
    assert "  ✗ ERROR broken" in text
    assert (
        "✗ property: bad <&> one  [tool.flowsim.properties[0]]\n    the details\n      indented"
        in text
    )
    assert text.endswith("FAILED: 1 of 3 checks pass, 2 fail, 1 of them could not run (1.5s)")
