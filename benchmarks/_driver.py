"""The machinery every side-by-side benchmark shares: one fresh subprocess per case (so a
case's peak RSS and import cost are its own), a hard timeout per subprocess, the best of
the repeats, and a table with ratios against a reference case and a floor.

A benchmark module (``benchmarks.fanout``, ``benchmarks.backends``) describes itself as a
``Suite`` of ``Case``s; the driver re-runs that module with ``--case KEY --config JSON`` for
each case and reads back one marked JSON line.
"""

from __future__ import annotations

import argparse
import dataclasses
import datetime
import importlib
import json
import os
import platform
import subprocess
import sys
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchmarks._common import Config, Sample, Skipped

ROOT = Path(__file__).resolve().parent.parent
MARKER = "__BENCHMARK_RESULT__ "
#: characters of a case's note shown in the table
NOTE_WIDTH = 120
#: seconds a case subprocess gets beyond its repeats' budgets (start, imports, set-up)
SUBPROCESS_SLACK = 60.0


@dataclass(frozen=True)
class Case:
    key: str
    label: str
    module: str
    function: str
    #: distribution whose version is reported (None: the standard library)
    dist: str | None
    description: str


@dataclass(frozen=True)
class Suite:
    """A benchmark module's cases, and the two cases its ratios are taken against."""

    #: the module run with ``-m`` for each case, e.g. ``benchmarks.fanout``
    module: str
    cases: list[Case]
    reference: str
    floor: str
    #: headers of the two ratio columns
    reference_header: str
    floor_header: str
    #: extra seconds a case subprocess may need beyond its budgets (e.g. starting workers)
    slack: float = SUBPROCESS_SLACK

    def by_key(self) -> dict[str, Case]:
        return {case.key: case for case in self.cases}


@dataclass
class Result:
    key: str
    label: str
    status: str  # ok | partial | skipped | error | timeout
    reason: str = ""
    version: str = ""
    samples: list[Sample] = field(default_factory=list)
    rate: float | None = None  # best runs/s
    peak_rss_mib: float | None = None
    wall_seconds: float = 0.0


# ------------------------------------------------------------------ the case subprocess


def max_rss_mib() -> float | None:
    """This process's peak resident set size so far, in MiB."""
    try:
        import resource
    except ImportError:  # not on Unix
        return None
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / (1024 * 1024) if sys.platform == "darwin" else peak / 1024


def version_of(dist: str | None) -> str:
    if dist is None:
        return f"Python {platform.python_version()}"
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(dist)
    except PackageNotFoundError:
        return "not installed"


def best_rate(samples: list[Sample], children: int, budget: float) -> tuple[str, float | None, str]:
    """(status, best runs/s, note): the best complete repeat, else the best partial one."""
    complete = [s for s in samples if s.completed >= children and s.seconds > 0]
    if complete:
        return "ok", max(s.completed / s.seconds for s in complete), ""
    partial = [s for s in samples if s.seconds > 0]
    if not partial:
        return "error", None, "no samples"
    sample = max(partial, key=lambda s: s.completed / s.seconds)
    note = (
        f"partial: {sample.completed:,}/{children:,} children done in {sample.seconds:.0f} s "
        f"(budget {budget:.0f} s)"
    )
    return "partial", sample.completed / sample.seconds, note


def run_case_here(case: Case, config: Config) -> Result:
    """Run one case in this process (the subprocess side). A case's function takes the
    config and returns its samples; a complete repeat reaches ``Sample.expected`` runs
    (``Config.children`` unless the case says otherwise)."""
    result = Result(case.key, case.label, "error", version=version_of(case.dist))
    try:
        module = importlib.import_module(case.module)
        function = getattr(module, case.function)
        result.samples = function(config)
        expected = max((s.expected for s in result.samples), default=0) or config.children
        result.status, result.rate, result.reason = best_rate(
            result.samples, expected, config.budget
        )
    except Skipped as exc:
        result.status, result.reason = "skipped", str(exc)
    except ImportError as exc:
        result.status, result.reason = "skipped", f"cannot import: {exc}"
    except Exception as exc:
        traceback.print_exc()
        result.status, result.reason = "error", f"{type(exc).__name__}: {exc}"
    result.peak_rss_mib = max_rss_mib()
    return result


def case_main(suite: Suite, key: str, config_json: str) -> int:
    config = Config(**json.loads(config_json))
    result = run_case_here(suite.by_key()[key], config)
    print(MARKER + json.dumps(dataclasses.asdict(result)), flush=True)
    return 0


# ------------------------------------------------------------------ the driver


def subprocess_env() -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    return env


def run_case_subprocess(suite: Suite, case: Case, config: Config) -> Result:
    """Run one case in a fresh interpreter and read its result line."""
    command = [
        sys.executable,
        "-m",
        suite.module,
        "--case",
        case.key,
        "--config",
        json.dumps(dataclasses.asdict(config)),
    ]
    hard_timeout = config.budget * config.repeat + suite.slack

    def failed(status: str, reason: str, wall: float) -> Result:
        version = version_of(case.dist)
        return Result(case.key, case.label, status, reason, version, wall_seconds=wall)

    start = time.perf_counter()
    proc = run_subprocess(command, hard_timeout)
    wall = time.perf_counter() - start
    if proc is None:
        return failed("timeout", f"subprocess killed after {hard_timeout:.0f} s", wall)
    data = marked_result(proc.stdout, MARKER)
    if data is None:
        tail = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        return failed("error", f"exit code {proc.returncode}: {tail}", wall)
    data["samples"] = [Sample(**s) for s in data["samples"]]
    data["wall_seconds"] = wall
    result = Result(**data)
    if result.status == "error" and proc.stderr.strip():
        sys.stderr.write(f"--- {case.label} failed:\n{proc.stderr[-4000:]}\n")
    return result


def run_subprocess(command: list[str], timeout: float) -> subprocess.CompletedProcess[str] | None:
    """Run a case's interpreter from the repository root; None if it was killed on timeout."""
    try:
        return subprocess.run(
            command,
            cwd=ROOT,
            env=subprocess_env(),
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return None


def marked_result(stdout: str, marker: str) -> dict[str, Any] | None:
    """The JSON on the last line that starts with ``marker``, or None."""
    for line in reversed(stdout.splitlines()):
        if line.startswith(marker):
            data: dict[str, Any] = json.loads(line[len(marker) :])
            return data
    return None


def run_cases(
    suite: Suite,
    keys: list[str],
    config: Config,
    run_one: Callable[[Suite, Case, Config], Result] = run_case_subprocess,
) -> list[Result]:
    """Every case in ``keys``, ``config.repeat`` times, in rounds: each round runs every
    case once (one subprocess each), so the repeats of a case and of its floor alternate.
    The machine's speed drifts by up to 2.5x over minutes; run one case's repeats back to
    back and its ratio to a floor measured minutes earlier takes the drift in. A case
    that cannot run here (skipped) is not tried again. Progress goes to stderr."""
    by_key = suite.by_key()
    rounds: dict[str, list[Result]] = {key: [] for key in keys}
    once = dataclasses.replace(config, repeat=1)
    for number in range(1, config.repeat + 1):
        for key in keys:
            if rounds[key] and rounds[key][0].status == "skipped":
                continue
            case = by_key[key]
            label = f"round {number}/{config.repeat}: {case.label}"
            print(f"  running {label} ...", end="", file=sys.stderr, flush=True)
            result = run_one(suite, case, once)
            shown = f"{fmt_rate(result.rate)} runs/s" if result.rate is not None else result.status
            print(f" {shown} ({result.wall_seconds:.1f} s)", file=sys.stderr, flush=True)
            rounds[key].append(result)
    return [merge_rounds(rounds[key], config) for key in keys]


def merge_rounds(rounds: list[Result], config: Config) -> Result:
    """One case's rounds as one result: every sample in round order, the best complete
    repeat as its rate, the sum of the wall times, the largest peak RSS. A round that
    failed is named in the reason; with no sample at all, the first failure is the
    result."""
    first = rounds[0]
    samples = [sample for result in rounds for sample in result.samples]
    wall = sum(result.wall_seconds for result in rounds)
    failures = [result for result in rounds if result.status in ("error", "timeout")]
    if not samples:
        failed = failures[0] if failures else first
        return dataclasses.replace(failed, wall_seconds=wall)
    expected = max((sample.expected for sample in samples), default=0) or config.children
    status, rate, reason = best_rate(samples, expected, config.budget)
    if failures:
        reason = "; ".join(filter(None, [reason, f"{len(failures)} of {len(rounds)} "
                                         f"rounds failed: {failures[0].reason}"]))  # fmt: skip
    peaks = [result.peak_rss_mib for result in rounds if result.peak_rss_mib is not None]
    return Result(
        first.key,
        first.label,
        status,
        reason,
        first.version,
        samples,
        rate,
        max(peaks, default=None),
        wall,
    )


def unknown_cases(suite: Suite, keys: list[str]) -> str | None:
    """A message naming the unknown case keys, or None."""
    unknown = [key for key in keys if key not in suite.by_key()]
    if not unknown:
        return None
    return f"unknown case(s): {', '.join(unknown)}; known: {', '.join(suite.by_key())}"


def fmt_rate(rate: float | None) -> str:
    if rate is None:
        return "—"
    return f"{rate:,.0f}" if rate >= 100 else f"{rate:.2g}"


def ratio(rate: float | None, reference: float | None) -> str:
    if rate is None or not reference:
        return "—"
    value = rate / reference
    if value < 0.001:
        return "<0.001×"
    return f"{value:.2f}×" if value >= 0.1 else f"{value:.2g}×"


def rate_of(results: list[Result], key: str) -> float | None:
    return next((r.rate for r in results if r.key == key), None)


def rows(suite: Suite, results: list[Result]) -> list[list[str]]:
    reference = rate_of(results, suite.reference)
    floor = rate_of(results, suite.floor)
    table = []
    for r in results:
        if r.status in ("ok", "partial"):
            rate = fmt_rate(r.rate)
            note = r.reason
        else:
            rate = "—"
            note = f"{r.status}: {r.reason}"
        if len(note) > NOTE_WIDTH:  # the whole reason is printed below the table, and in JSON
            note = note[: NOTE_WIDTH - 1] + "…"
        rss = f"{r.peak_rss_mib:,.0f}" if r.peak_rss_mib is not None else "—"
        table.append(
            [r.label, r.version, rate, ratio(r.rate, reference), ratio(r.rate, floor), rss, note]
        )
    return table


def print_table(headers: list[str], body: list[list[str]], numeric: set[int], plain: bool) -> None:
    """A rich table on a terminal, else a plain one that is also Markdown, so it can be
    pasted into the docs as is."""
    if not plain and sys.stdout.isatty():
        try:
            from rich.console import Console
            from rich.table import Table
        except ImportError:
            pass
        else:
            table = Table(*headers)
            for row in body:
                table.add_row(*row)
            Console().print(table)
            return
    widths = [max([len(h), *(len(row[i]) for row in body)]) for i, h in enumerate(headers)]

    def line(cells: list[str]) -> str:
        padded = [
            c.rjust(w) if i in numeric else c.ljust(w)
            for i, (c, w) in enumerate(zip(cells, widths, strict=True))
        ]
        return "| " + " | ".join(padded) + " |"

    print(line(headers))
    print(
        "|"
        + "|".join(
            ("-" * (w + 1) + ":") if i in numeric else "-" * (w + 2) for i, w in enumerate(widths)
        )
        + "|"
    )
    for row in body:
        print(line(row))


def print_rates(suite: Suite, results: list[Result], plain: bool) -> None:
    """The runs/s table: rate, the two ratios, peak RSS and a note per case."""
    headers = [
        "case",
        "version",
        "runs/s",
        suite.reference_header,
        suite.floor_header,
        "peak RSS MiB",
        "note",
    ]
    print_table(headers, rows(suite, results), {2, 3, 4, 5}, plain)


def print_not_run(results: list[Result]) -> None:
    for r in results:
        if r.status not in ("ok", "partial"):
            print(f"{r.status}: {r.label}: {r.reason}")


def _git(*args: str) -> str:
    return subprocess.run(
        ["git", *args], cwd=ROOT, capture_output=True, text=True, check=True, timeout=10
    ).stdout.strip()


def git_revision() -> str:
    try:
        head = _git("rev-parse", "--short", "HEAD")
        dirty = _git("status", "--porcelain", "--", "flowsim", "backends")
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return f"{head}{' (flowsim/ or backends/ modified)' if dirty else ''}"


def environment() -> dict[str, Any]:
    return {
        "date": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        #: other work on the machine moves every figure: the 1-minute load when the run began
        "load_average": round(os.getloadavg()[0], 1) if hasattr(os, "getloadavg") else None,
        "flowsim_revision": git_revision(),
    }


def describe_environment(env: dict[str, Any]) -> str:
    return (
        f"{env['date']}, {env['implementation']} {env['python']}, {env['cpus']} CPUs "
        f"(load average {env['load_average']}), {env['platform']}, "
        f"flowsim {env['flowsim_revision']}"
    )


def write_json(
    path: str,
    env: dict[str, Any],
    suite: Suite,
    keys: list[str],
    config: Config,
    results: list[Result],
    **extra: Any,
) -> None:
    """The run as JSON; ``env`` is ``environment()`` as it was when the run began."""
    payload = {
        "environment": env,
        "config": dataclasses.asdict(config),
        **extra,
        "cases": {c.key: c.description for c in suite.cases if c.key in keys},
        "results": [dataclasses.asdict(r) for r in results],
    }
    Path(path).write_text(json.dumps(payload, indent=2) + "\n")
    print(f"wrote {path}")


def parser_for(suite: Suite, prog: str, description: str, slots: int) -> argparse.ArgumentParser:
    """The options every suite takes; a suite adds its own before parsing."""
    parser = argparse.ArgumentParser(
        prog=prog,
        description=description
        + " Cases: "
        + "; ".join(f"{c.key}: {c.description}" for c in suite.cases),
    )
    parser.add_argument("--children", type=int, default=10_000, help="children per fan-out")
    parser.add_argument("--repeat", type=int, default=3, help="repeats per case; best is shown")
    parser.add_argument("--json", metavar="PATH", help="also write the results as JSON")
    parser.add_argument(
        "--slots", type=int, default=slots, help=f"flowsim worker slots (default {slots})"
    )
    parser.add_argument(
        "--budget",
        type=float,
        default=30.0,
        help="seconds one repeat may take before it is cut short and reported as partial",
    )
    parser.add_argument(
        "--cases", metavar="KEY,KEY", help=f"run only these cases ({', '.join(suite.by_key())})"
    )
    parser.add_argument("--plain", action="store_true", help="plain table even on a terminal")
    parser.add_argument("--case", choices=list(suite.by_key()), help=argparse.SUPPRESS)
    parser.add_argument("--config", help=argparse.SUPPRESS)
    return parser


def check_positive(parser: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    if args.children < 1 or args.repeat < 1 or args.slots < 1 or args.budget <= 0:
        parser.error("--children, --repeat, --slots and --budget must be positive")


def selected_keys(suite: Suite, args: argparse.Namespace) -> list[str]:
    return args.cases.split(",") if args.cases else [case.key for case in suite.cases]
