"""Running ``[tool.flowsim]``: plan every check (``plan.py``), then run them one by one.

Running catches what the user's code raises, so one broken check is reported as such
(an error, with its traceback) and the others still run.
"""

from __future__ import annotations

import sys
import time
import traceback
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from flowsim import compat
from flowsim.check.config import CheckConfigError, FlowsimConfig
from flowsim.check.plan import Kind, PlannedCheck, plan
from flowsim.errors import ConfigurationError


@dataclass(frozen=True)
class CheckResult:
    name: str
    kind: Kind
    passed: bool
    message: str
    details: str
    #: seconds of wall-clock time the check took
    duration: float
    #: where the check is configured, e.g. ``tool.flowsim.properties[1]``
    key: str
    #: the check raised instead of reaching a verdict (``details`` holds the traceback)
    error: bool = False
    data: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "kind": self.kind,
            "key": self.key,
            "passed": self.passed,
            "error": self.error,
            "message": self.message,
            "details": self.details,
            "duration": round(self.duration, 6),
            "data": self.data,
        }


@dataclass(frozen=True)
class CheckRun:
    config: Path
    results: tuple[CheckResult, ...]
    duration: float

    @property
    def ok(self) -> bool:
        return all(result.passed for result in self.results)

    @property
    def failed(self) -> list[CheckResult]:
        return [result for result in self.results if not result.passed]

    def of_kind(self, kind: Kind) -> list[CheckResult]:
        return [result for result in self.results if result.kind == kind]


def run_checks(
    config: FlowsimConfig, on_result: Callable[[CheckResult], None] | None = None
) -> CheckRun:
    """Every check of ``config``, in ``KINDS`` order; ``on_result`` hears each as it ends.
    Raises ``CheckConfigError`` if the configuration does not resolve."""
    started = time.perf_counter()
    results = []
    with project(config.root):
        for check in plan(config):
            result = execute(check)
            results.append(result)
            if on_result is not None:
                on_result(result)
    return CheckRun(config.source, tuple(results), time.perf_counter() - started)


@contextmanager
def project(root: Path) -> Iterator[None]:
    """The project importable by name, and its ``hatchet_sdk`` imports served by flowsim
    (unmodified Hatchet code is what is checked)."""
    entry = str(root)
    added = entry not in sys.path
    if added:
        sys.path.insert(0, entry)
    try:
        with compat.installed():
            yield
    finally:
        if added and entry in sys.path:
            sys.path.remove(entry)


def execute(check: PlannedCheck) -> CheckResult:
    started = time.perf_counter()
    try:
        verdict = check.run()
    except ConfigurationError as exc:  # a name or parameter the table gave that does not fit
        raise CheckConfigError(f"{check.key}: {exc}") from exc
    except Exception as exc:
        return CheckResult(
            check.name,
            check.kind,
            passed=False,
            message=f"the check raised {type(exc).__name__}: {str(exc).splitlines()[0]}",
            details="".join(traceback.format_exception(exc)),
            duration=time.perf_counter() - started,
            key=check.key,
            error=True,
        )
    return CheckResult(
        check.name,
        check.kind,
        verdict.passed,
        verdict.message,
        verdict.details,
        time.perf_counter() - started,
        check.key,
        data=verdict.data,
    )
