"""The report of a ``flowsim check`` run: text for the person reading the CI log, JSON for
tools.

The text has three parts: one line per check as it finishes (so a long run shows
progress), then every failure in full (the findings, the deadlock report, the minimal
counterexample: what the reader needs to act), then the verdict. Lines are never wrapped
here; deadlock reports are copied into issues and grepped.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from flowsim.check.plan import KINDS
from flowsim.check.run import CheckResult, CheckRun

PASS, FAIL = "✓", "✗"


def header(config: Path) -> str:
    try:
        shown = config.relative_to(Path.cwd())
    except ValueError:
        shown = config
    return f"flowsim check: {shown}"


def kind_heading(kind: str) -> str:
    return {"graph": "graph checks", "scenario": "scenarios", "property": "properties"}[kind]


def result_line(result: CheckResult) -> str:
    mark = PASS if result.passed else FAIL
    status = "ERROR " if result.error else ""
    return f"  {mark} {status}{result.name} ({result.duration:.2f}s): {result.message}"


def section(result: CheckResult, mark: str) -> str:
    """One check in full: which, where it is configured, and why."""
    title = f"{mark} {result.kind}: {result.name}  [{result.key}]"
    body = result.details or result.message
    return title + "\n" + "\n".join(f"    {line}" if line else "" for line in body.splitlines())


def verdict(run: CheckRun) -> str:
    total, failed = len(run.results), len(run.failed)
    errors = sum(1 for result in run.results if result.error)
    raised = f", {errors} of them could not run" if errors else ""
    if failed:
        return (
            f"FAILED: {total - failed} of {total} checks pass, {failed} fail{raised} "
            f"({run.duration:.1f}s)"
        )
    return f"OK: {total} of {total} checks pass ({run.duration:.1f}s)"


def render(run: CheckRun) -> str:
    """The whole report, as ``flowsim check`` prints it."""
    lines = [header(run.config)]
    for kind in KINDS:
        results = run.of_kind(kind)
        if results:
            lines += ["", kind_heading(kind), *(result_line(r) for r in results)]
    lines += tail(run)
    return "\n".join(lines)


def tail(run: CheckRun) -> list[str]:
    """What follows the per-check lines: warnings of passing checks (a deployment that
    holds today but deadlocks at some concurrency), the failures in full, the verdict."""
    warned = [result for result in run.results if result.passed and result.details]
    lines: list[str] = []
    for title, mark, results in (("Warnings", "!", warned), ("Failures", FAIL, run.failed)):
        if results:
            lines += ["", title]
            for result in results:
                lines += ["", section(result, mark)]
    return [*lines, "", verdict(run)]


def to_dict(run: CheckRun) -> dict[str, Any]:
    summary: dict[str, Any] = {
        "total": len(run.results),
        "passed": len(run.results) - len(run.failed),
        "failed": len(run.failed),
        "errors": sum(1 for result in run.results if result.error),
        "by_kind": {
            kind: {
                "total": len(run.of_kind(kind)),
                "failed": sum(1 for result in run.of_kind(kind) if not result.passed),
            }
            for kind in KINDS
        },
    }
    return {
        "config": str(run.config),
        "ok": run.ok,
        "duration": round(run.duration, 6),
        "summary": summary,
        "checks": [result.to_dict() for result in run.results],
    }


def write_json(run: CheckRun, path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(to_dict(run), indent=2, default=str) + "\n", encoding="utf-8")
    return path
