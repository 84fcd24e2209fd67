"""JUnit XML, the format CI systems (GitHub Actions reporters, GitLab, Jenkins) render as
test results: one ``<testsuite>`` per kind of check, one ``<testcase>`` per check.

A failed check carries ``<failure message="...">`` with the full explanation as its text;
a check that raised instead of reaching a verdict carries ``<error>`` with the traceback,
so a red build tells "flowsim found a bug" apart from "the check itself broke".
"""

from __future__ import annotations

import datetime
import xml.etree.ElementTree as ET
from pathlib import Path

from flowsim.check.plan import KINDS
from flowsim.check.run import CheckResult, CheckRun


def to_xml(run: CheckRun, timestamp: datetime.datetime | None = None) -> ET.Element:
    when = (timestamp or datetime.datetime.now(datetime.UTC)).isoformat(timespec="seconds")
    root = ET.Element(
        "testsuites",
        name="flowsim check",
        tests=str(len(run.results)),
        failures=str(sum(1 for r in run.results if not r.passed and not r.error)),
        errors=str(sum(1 for r in run.results if r.error)),
        time=_seconds(run.duration),
    )
    for kind in KINDS:
        results = run.of_kind(kind)
        if not results:
            continue
        suite = ET.SubElement(
            root,
            "testsuite",
            name=f"flowsim.{kind}",
            tests=str(len(results)),
            failures=str(sum(1 for r in results if not r.passed and not r.error)),
            errors=str(sum(1 for r in results if r.error)),
            skipped="0",
            time=_seconds(sum(r.duration for r in results)),
            timestamp=when,
        )
        properties = ET.SubElement(suite, "properties")
        ET.SubElement(properties, "property", name="config", value=str(run.config))
        for result in results:
            _testcase(suite, result)
    return root


def _testcase(suite: ET.Element, result: CheckResult) -> None:
    case = ET.SubElement(
        suite,
        "testcase",
        classname=f"flowsim.{result.kind}",
        name=result.name,
        time=_seconds(result.duration),
    )
    if result.passed:
        return
    tag = "error" if result.error else "failure"
    outcome = ET.SubElement(case, tag, message=result.message, type=f"flowsim.{result.kind}")
    outcome.text = f"{result.message}\n[{result.key}]\n\n{result.details}".rstrip() + "\n"


def _seconds(value: float) -> str:
    return f"{value:.3f}"


def write_junit(run: CheckRun, path: Path) -> Path:
    tree = ET.ElementTree(to_xml(run))
    ET.indent(tree)
    path.parent.mkdir(parents=True, exist_ok=True)
    tree.write(path, encoding="utf-8", xml_declaration=True)
    return path
