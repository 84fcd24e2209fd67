"""Fan-out benchmark: N children through flowsim, beside the asyncio floor and peers.

    python -m benchmarks.fanout [--children 10000] [--repeat 3] [--json out.json]

Each case runs in a fresh subprocess (``python -m benchmarks.fanout --case KEY``), so its
peak RSS (``ru_maxrss``) is its own and no library's import cost or memory leaks into
another's figure. Each case is repeated ``--repeat`` times on fresh state and the best
repeat is reported. Every repeat has a time budget (``--budget``) and every subprocess a
hard timeout, so the benchmark always finishes; a case that runs out of budget is reported
as partial, with the rate it reached, and a peer that is not installed as skipped.
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
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchmarks._common import Config, Sample, Skipped

ROOT = Path(__file__).resolve().parent.parent
MARKER = "__FANOUT_RESULT__ "
TARGET_RUNS_PER_SECOND = 50_000
#: Worker slots for the flowsim cases. On 2 cores, 10,000 slots (all children claimed in one
#: dispatch pass) ran aio_run_many ~8% faster than 1,000 (16.8k vs 15.5k runs/s); gather
#: and the parent-task case measured the same with either.
DEFAULT_SLOTS = 10_000


@dataclass(frozen=True)
class Case:
    key: str
    label: str
    module: str
    function: str
    #: distribution whose version is reported (None: the standard library)
    dist: str | None
    description: str


CASES = [
    Case(
        "floor",
        "asyncio.gather floor",
        "benchmarks._peer_cases",
        "floor",
        None,
        "asyncio.gather of N trivial coroutines returning a dict; no engine",
    ),
    Case(
        "flowsim-run-many",
        "flowsim aio_run_many",
        "benchmarks._flowsim_cases",
        "run_many",
        "flowsim",
        "await child.aio_run_many([N bulk items]) from the top-level coroutine",
    ),
    Case(
        "flowsim-gather",
        "flowsim gather(aio_run)",
        "benchmarks._flowsim_cases",
        "gather",
        "flowsim",
        "await asyncio.gather(*(child.aio_run(...) for N)) from the top-level coroutine",
    ),
    Case(
        "flowsim-parent",
        "flowsim parent task fan-out",
        "benchmarks._flowsim_cases",
        "parent",
        "flowsim",
        "a parent task awaits child.aio_run_many([N bulk items]); timed around parent.aio_run()",
    ),
    Case(
        "celery",
        "Celery eager group",
        "benchmarks._peer_cases",
        "celery",
        "celery",
        "task_always_eager=True; group(child.s(i) for i in range(N))().get()",
    ),
    Case(
        "pgqueuer",
        "pgqueuer in-memory",
        "benchmarks._peer_cases",
        "pgqueuer",
        "pgqueuer",
        "PgQueuer.in_memory(): enqueue N, then qm.run(mode=drain) until the queue is empty",
    ),
    Case(
        "procrastinate",
        "procrastinate in-memory",
        "benchmarks._peer_cases",
        "procrastinate",
        "procrastinate",
        "InMemoryConnector: batch_defer_async N, then run_worker_async(wait=False)",
    ),
]
BY_KEY = {case.key: case for case in CASES}
REFERENCE = "flowsim-run-many"
FLOOR = "floor"


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
    """Run one case in this process (the subprocess side)."""
    result = Result(case.key, case.label, "error", version=version_of(case.dist))
    try:
        module = importlib.import_module(case.module)
        function = getattr(module, case.function)
        result.samples = function(config)
        result.status, result.rate, result.reason = best_rate(
            result.samples, config.children, config.budget
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


def case_main(key: str, config: Config) -> int:
    result = run_case_here(BY_KEY[key], config)
    print(MARKER + json.dumps(dataclasses.asdict(result)), flush=True)
    return 0


# ------------------------------------------------------------------ the driver


def run_case_subprocess(case: Case, config: Config) -> Result:
    """Run one case in a fresh interpreter and read its result line."""
    command = [
        sys.executable,
        "-m",
        "benchmarks.fanout",
        "--case",
        case.key,
        "--children",
        str(config.children),
        "--repeat",
        str(config.repeat),
        "--slots",
        str(config.slots),
        "--budget",
        str(config.budget),
    ]
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), env.get("PYTHONPATH")]))
    # budget per repeat, plus interpreter start, imports, and draining after a timeout
    hard_timeout = config.budget * config.repeat + 60
    start = time.perf_counter()
    try:
        proc = subprocess.run(
            command,
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            timeout=hard_timeout,
            check=False,
        )
    except subprocess.TimeoutExpired:
        return Result(
            case.key,
            case.label,
            "timeout",
            reason=f"subprocess killed after {hard_timeout:.0f} s",
            version=version_of(case.dist),
            wall_seconds=time.perf_counter() - start,
        )
    wall = time.perf_counter() - start
    for line in reversed(proc.stdout.splitlines()):
        if line.startswith(MARKER):
            data: dict[str, Any] = json.loads(line[len(MARKER) :])
            data["samples"] = [Sample(**s) for s in data["samples"]]
            data["wall_seconds"] = wall
            result = Result(**data)
            if result.status == "error" and proc.stderr.strip():
                sys.stderr.write(f"--- {case.label} failed:\n{proc.stderr[-4000:]}\n")
            return result
    tail = (proc.stderr.strip().splitlines() or ["no output"])[-1]
    return Result(
        case.key,
        case.label,
        "error",
        reason=f"exit code {proc.returncode}: {tail}",
        version=version_of(case.dist),
        wall_seconds=wall,
    )


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


def rows(results: list[Result]) -> list[list[str]]:
    by_key = {r.key: r for r in results}
    reference = by_key[REFERENCE].rate if REFERENCE in by_key else None
    floor = by_key[FLOOR].rate if FLOOR in by_key else None
    table = []
    for r in results:
        if r.status in ("ok", "partial"):
            rate = fmt_rate(r.rate)
            note = r.reason
        else:
            rate = "—"
            note = f"{r.status}: {r.reason}"
        rss = f"{r.peak_rss_mib:,.0f}" if r.peak_rss_mib is not None else "—"
        table.append(
            [r.label, r.version, rate, ratio(r.rate, reference), ratio(r.rate, floor), rss, note]
        )
    return table


HEADERS = ["case", "version", "runs/s", "× flowsim aio_run_many", "× asyncio floor", "peak RSS MiB"]


def print_table(results: list[Result], plain: bool) -> None:
    body = rows(results)
    headers = [*HEADERS, "note"]
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
    # a plain table that is also Markdown, so it can be pasted into docs as is
    widths = [max(len(h), *(len(row[i]) for row in body)) for i, h in enumerate(headers)]
    numeric = {2, 3, 4, 5}

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


def verdict(results: list[Result]) -> list[str]:
    by_key = {r.key: r for r in results}
    lines = []
    reference = by_key.get(REFERENCE)
    if reference is not None and reference.rate is not None:
        met = reference.rate >= TARGET_RUNS_PER_SECOND and reference.status == "ok"
        lines.append(
            f"target: flowsim aio_run_many >= {TARGET_RUNS_PER_SECOND:,} child runs/s: "
            f"{'MET' if met else 'NOT MET'} ({reference.rate:,.0f} runs/s, "
            f"{reference.rate / TARGET_RUNS_PER_SECOND:.2f}× the target)"
        )
    peers = [
        r
        for r in results
        if not r.key.startswith("flowsim") and r.key != FLOOR and r.status == "ok" and r.rate
    ]
    if peers and reference is not None and reference.rate:
        best = max(peers, key=lambda r: r.rate or 0.0)
        assert best.rate is not None
        lines.append(
            f"best peer: {best.label} at {best.rate:,.0f} runs/s; flowsim aio_run_many is "
            f"{reference.rate / best.rate:.2f}× that"
        )
    return lines


def git_revision() -> str:
    try:
        head = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
            timeout=10,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--", "flowsim"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
            timeout=10,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return f"{head}{' (flowsim/ modified)' if dirty else ''}"


def environment() -> dict[str, Any]:
    return {
        "date": datetime.datetime.now(datetime.UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "python": platform.python_version(),
        "implementation": platform.python_implementation(),
        "platform": platform.platform(),
        "cpus": os.cpu_count(),
        "flowsim_revision": git_revision(),
    }


def driver_main(args: argparse.Namespace, config: Config) -> int:
    keys = args.cases.split(",") if args.cases else [case.key for case in CASES]
    unknown = [key for key in keys if key not in BY_KEY]
    if unknown:
        print(f"unknown case(s): {', '.join(unknown)}; known: {', '.join(BY_KEY)}")
        return 2
    env = environment()
    print(
        f"fan-out of {config.children:,} children, best of {config.repeat} repeat(s), "
        f"flowsim worker slots={config.slots}, budget {config.budget:.0f} s per repeat\n"
        f"{env['date']}, {env['implementation']} {env['python']}, {env['cpus']} CPUs, "
        f"{env['platform']}, flowsim {env['flowsim_revision']}",
        flush=True,
    )
    results = []
    for key in keys:
        case = BY_KEY[key]
        print(f"  running {case.label} ...", end="", file=sys.stderr, flush=True)
        result = run_case_subprocess(case, config)
        shown = f"{fmt_rate(result.rate)} runs/s" if result.rate is not None else result.status
        print(f" {shown} ({result.wall_seconds:.1f} s)", file=sys.stderr, flush=True)
        results.append(result)
    print()
    print_table(results, args.plain)
    print()
    for line in verdict(results):
        print(line)
    skipped = [r for r in results if r.status not in ("ok", "partial")]
    for r in skipped:
        print(f"{r.status}: {r.label}: {r.reason}")
    if args.json:
        payload = {
            "environment": env,
            "config": dataclasses.asdict(config),
            "target_runs_per_second": TARGET_RUNS_PER_SECOND,
            "cases": {c.key: c.description for c in CASES if c.key in keys},
            "results": [dataclasses.asdict(r) for r in results],
        }
        Path(args.json).write_text(json.dumps(payload, indent=2) + "\n")
        print(f"wrote {args.json}")
    return 0


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.fanout",
        description="Fan out N children through flowsim and peers; print runs/s, ratios, "
        "peak RSS. Cases: " + "; ".join(f"{c.key}: {c.description}" for c in CASES),
    )
    parser.add_argument("--children", type=int, default=10_000, help="children per fan-out")
    parser.add_argument("--repeat", type=int, default=3, help="repeats per case; best is shown")
    parser.add_argument("--json", metavar="PATH", help="also write the results as JSON")
    parser.add_argument(
        "--slots",
        type=int,
        default=DEFAULT_SLOTS,
        help=f"flowsim worker slots (default {DEFAULT_SLOTS})",
    )
    parser.add_argument(
        "--budget",
        type=float,
        default=30.0,
        help="seconds one repeat may take before it is cut short and reported as partial",
    )
    parser.add_argument(
        "--cases", metavar="KEY,KEY", help=f"run only these cases ({', '.join(BY_KEY)})"
    )
    parser.add_argument("--plain", action="store_true", help="plain table even on a terminal")
    parser.add_argument("--case", choices=list(BY_KEY), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.children < 1 or args.repeat < 1 or args.slots < 1 or args.budget <= 0:
        parser.error("--children, --repeat, --slots and --budget must be positive")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    config = Config(args.children, args.repeat, args.slots, args.budget)
    if args.case:
        return case_main(args.case, config)
    return driver_main(args, config)


if __name__ == "__main__":
    sys.exit(main())
