"""Simulator benchmark: flowsim's simulator beside a hand-written simpy model of one fan-out.

    python -m benchmarks.simulator [--quick] [--repeat 3] [--profile] [--json out.json]

The system simulated: one worker with 64 slots, one parent task that fans out N children
with ``aio_run_many`` and holds its slot while it waits, each child taking 1 s of virtual
time. flowsim simulates it by running the real engine and the workflow code in
``benchmarks/_sim_workflows.py`` in virtual time (``flowsim.sim.simulate``); the yardstick is
the same system written directly in simpy (``benchmarks/_simpy_model.py``), as is and with
a deque for simpy's request queue (simpy's own list makes the model quadratic in N). All
must report the closed-form makespan ``ceil(N / (slots - 1)) * duration``; a mismatch is
printed loudly.

Every (model, N) case runs in a fresh subprocess (``--case``), so peak RSS is its own, and
is repeated ``--repeat`` times on fresh state (the best is reported; 1,000,000 children run
once). ``--profile`` also runs flowsim once under cProfile and prints where the time goes.
"""

from __future__ import annotations

import argparse
import cProfile
import dataclasses
import gc
import io
import json
import math
import os
import pstats
import sys
import time
import traceback
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from benchmarks._driver import environment, marked_result, max_rss_mib, run_subprocess

ROOT = Path(__file__).resolve().parent.parent
MARKER = "__SIMULATOR_RESULT__ "
MODELS = ("flowsim", "simpy", "simpy-deque")
LABELS = {
    "flowsim": "flowsim simulate()",
    "simpy": "hand-written simpy model",
    "simpy-deque": "same, deque request queue",
}
#: the model the 3x target is set against (the one the issue measured at 77-97k/s)
YARDSTICK = "simpy"
SIZES = (1_000, 10_000, 100_000, 1_000_000)
#: the size of the side-by-side comparison (also a row of the scaling table)
COMPARE_AT = 100_000
#: sizes at or above this run once, whatever ``--repeat`` says (one run takes a minute)
RUN_ONCE_FROM = 1_000_000
#: flowsim's rate must be at least this share of the hand-written model's ("within 3x")
TARGET_RATIO = 0.33
TARGET_MILLION_SECONDS = 60.0
#: a full-collection threshold no run reaches; see ``gc_policy``
_NEVER = 2**30
#: records sampled to estimate the memory a SimulationResult holds
_SAMPLE = 2_000


@dataclass
class Sample:
    """One timed repeat."""

    #: wall seconds of the whole simulation: ``simulate(scenario)``, or the simpy model
    seconds: float
    children: int
    makespan: float
    #: flowsim only: of ``seconds``, building the SimulationResult (records, metrics)
    results_seconds: float | None = None
    #: flowsim only: memory the SimulationResult's records hold, MiB (estimated)
    results_mib: float | None = None
    #: flowsim only: reading ``result.trace_hash`` afterwards (computed when first read)
    hash_seconds: float | None = None


@dataclass
class Result:
    model: str
    children: int
    status: str  # ok | error | timeout
    reason: str = ""
    samples: list[Sample] = field(default_factory=list)
    #: what the run produced that it should not have (wrong makespan, failed runs, ...)
    problems: list[str] = field(default_factory=list)
    peak_rss_mib: float | None = None

    @property
    def best(self) -> Sample | None:
        return min(self.samples, key=lambda s: s.seconds) if self.samples else None

    @property
    def rate(self) -> float | None:
        best = self.best
        return best.children / best.seconds if best is not None and best.seconds > 0 else None


def closed_form(children: int, slots: int, duration: float) -> float:
    """The parent holds one slot; children run ``slots - 1`` at a time."""
    return math.ceil(children / (slots - 1)) * duration if children else 0.0


# ------------------------------------------------------------------ the case subprocess


@contextmanager
def gc_policy() -> Iterator[None]:
    """The simpy models run under the collector policy ``simulate()`` sets for itself (no
    full collections while it runs: ``flowsim.sim.results.no_full_collections``, copied
    so this subprocess does not import flowsim), so the ratio compares models, not two
    garbage-collector settings. Under the default policy the simpy model measured 50-65k
    children/s here instead of 80-95k."""
    thresholds = gc.get_threshold()
    gc.set_threshold(thresholds[0], thresholds[1], _NEVER)
    try:
        yield
    finally:
        gc.set_threshold(*thresholds)


def scenario_data(children: int, slots: int, duration: float) -> dict[str, Any]:
    from benchmarks import _sim_workflows as workflows

    return {
        "name": f"simulator benchmark: {children:,} children on {slots} slots",
        "module": "benchmarks._sim_workflows",
        "horizon": 2 * closed_form(children, slots, duration) + 100,
        "workers": [{"name": "bench", "slots": slots}],
        "arrivals": [{"workflow": workflows.PARENT, "input": {"children": children}}],
        "durations": {workflows.CHILD: duration},
        "assertions": {"no_deadlock": True, "all_succeed": True},
    }


class ResultTimer:
    """Times ``_World._result`` (building the records and metrics) inside ``simulate()``.
    It is private to the runner, so this degrades to no split if it is renamed."""

    def __init__(self) -> None:
        self.seconds: float | None = None

    @contextmanager
    def installed(self) -> Iterator[None]:
        from flowsim.sim import runner

        world = getattr(runner, "_World", None)
        original: Callable[..., Any] | None = getattr(world, "_result", None)
        if world is None or original is None:
            yield
            return
        timer = self

        def timed(self: Any, *args: Any, **kwargs: Any) -> Any:
            start = time.perf_counter()
            value = original(self, *args, **kwargs)
            timer.seconds = time.perf_counter() - start
            return value

        world._result = timed
        try:
            yield
        finally:
            world._result = original


def deep_size(value: Any, seen: set[int]) -> int:
    """Bytes of ``value`` and what it references, each object counted once in ``seen``."""
    if value is None or isinstance(value, bool) or id(value) in seen:
        return 0
    seen.add(id(value))
    size = sys.getsizeof(value)
    if isinstance(value, dict):
        size += sum(deep_size(k, seen) + deep_size(v, seen) for k, v in value.items())
    elif isinstance(value, list | tuple):
        size += sum(deep_size(item, seen) for item in value)
    elif dataclasses.is_dataclass(value):
        size += sum(deep_size(getattr(value, f.name), seen) for f in dataclasses.fields(value))
    return size


def records_mib(result: Any) -> float:
    """Memory the result's run and attempt records hold (with the inputs and outputs they
    keep alive once the engine is gone), estimated from an even sample of each: RSS says
    nothing here, as the records reuse memory the finished simulation freed. Objects all
    records share (workflow names, statuses) count once per sample, so about nothing."""
    total = 0.0
    for records in (result.runs, result.attempts):
        if not records:
            continue
        step = max(1, len(records) // _SAMPLE)
        sample = records[::step]
        seen: set[int] = set()
        per_record = sum(deep_size(record, seen) for record in sample) / len(sample)
        total += per_record * len(records) + sys.getsizeof(records)
    return total / (1024 * 1024)


def check_flowsim(result: Any, children: int, expected: float) -> list[str]:
    from benchmarks._sim_workflows import PARENT

    problems = []
    if not result.ok:
        failed = "; ".join(f"{c.name}: {c.detail}" for c in result.checks if not c.passed)
        problems.append(f"assertions failed: {failed}")
    if result.metrics.runs_by_status != {"COMPLETED": children + 1}:
        problems.append(f"runs by status {result.metrics.runs_by_status}")
    parents = [run for run in result.runs if run.workflow == PARENT]
    if len(parents) != 1 or parents[0].output != {PARENT: {"children": children}}:
        problems.append(f"parent output {[p.output for p in parents]}")
    if not math.isclose(result.metrics.makespan, expected, rel_tol=1e-9):
        problems.append(f"makespan {result.metrics.makespan:g} s, closed form {expected:g} s")
    return problems


def run_flowsim(children: int, slots: int, duration: float, repeat: int) -> Result:
    from flowsim.sim import parse_scenario, simulate

    out = Result("flowsim", children, "ok")
    expected = closed_form(children, slots, duration)
    timer = ResultTimer()
    for _ in range(repeat):
        scenario = parse_scenario(scenario_data(children, slots, duration))
        gc.collect()
        with timer.installed():
            start = time.perf_counter()
            result = simulate(scenario)
            seconds = time.perf_counter() - start
        start = time.perf_counter()
        _ = result.trace_hash
        hashed = time.perf_counter() - start
        out.problems.extend(check_flowsim(result, children, expected))
        mib = records_mib(result)
        sample = Sample(seconds, children, result.metrics.makespan, timer.seconds, mib, hashed)
        out.samples.append(sample)
        del result
    return out


def run_simpy(
    children: int, slots: int, duration: float, repeat: int, *, deque: bool = False
) -> Result:
    from benchmarks._simpy_model import fan_out

    out = Result("simpy-deque" if deque else "simpy", children, "ok")
    expected = closed_form(children, slots, duration)
    for _ in range(repeat):
        gc.collect()
        with gc_policy():
            start = time.perf_counter()
            makespan, finished = fan_out(children, slots, duration, fifo_queue=deque)
            seconds = time.perf_counter() - start
        if finished != children:
            out.problems.append(f"{finished} of {children} children finished")
        if not math.isclose(makespan, expected, rel_tol=1e-9):
            out.problems.append(f"makespan {makespan:g} s, closed form {expected:g} s")
        out.samples.append(Sample(seconds, children, makespan))
    return out


def case_main(args: argparse.Namespace) -> int:
    try:
        if args.case == "flowsim":
            result = run_flowsim(args.children, args.slots, args.duration, args.repeat)
        else:
            deque = args.case == "simpy-deque"
            result = run_simpy(args.children, args.slots, args.duration, args.repeat, deque=deque)
    except Exception as exc:
        traceback.print_exc()
        result = Result(args.case, args.children, "error", f"{type(exc).__name__}: {exc}")
    result.peak_rss_mib = max_rss_mib()
    print(MARKER + json.dumps(dataclasses.asdict(result)), flush=True)
    # skip the interpreter's teardown: freeing a million runs' objects takes longer than
    # a benchmark should wait for, and nothing is left to flush
    os._exit(0)


# ------------------------------------------------------------------ profiling


def area_of(filename: str) -> str:
    """Where a profiled function lives, for the summary by area."""
    path = filename.replace(os.sep, "/")
    for marker, area in (
        ("/flowsim/engine/", "flowsim engine"),
        ("/flowsim/store/", "flowsim store"),
        ("/flowsim/sdk/", "flowsim SDK"),
        ("/flowsim/sim/", "flowsim simulator"),
        ("/flowsim/", "flowsim (other)"),
        ("/benchmarks/", "workflow code"),
        ("/asyncio/", "asyncio"),
        ("/simpy/", "simpy"),
        ("/pydantic", "pydantic"),
        ("/dataclasses.py", "dataclasses"),
        ("/json/", "json"),
    ):
        if marker in path:
            return area
    return "builtins (C)" if filename == "~" else "other Python"


def profile_main(args: argparse.Namespace) -> int:
    """One flowsim simulation under cProfile: top functions by own time, and own time by
    area. cProfile adds a fixed cost per call, so call-heavy code looks dearer than it is;
    read the shares, not the seconds."""
    from flowsim.sim import parse_scenario, simulate

    scenario = parse_scenario(scenario_data(args.children, args.slots, args.duration))
    profiler = cProfile.Profile()
    start = time.perf_counter()
    profiler.enable()
    simulate(scenario)
    profiler.disable()
    wall = time.perf_counter() - start
    stats = pstats.Stats(profiler, stream=io.StringIO())
    table: dict[Any, Any] = stats.stats  # type: ignore[attr-defined]
    total = sum(entry[2] for entry in table.values()) or 1.0
    areas: dict[str, float] = defaultdict(float)
    for (filename, _line, _name), entry in table.items():
        areas[area_of(filename)] += entry[2]
    print(
        f"cProfile of one simulation of {args.children:,} children (wall {wall:.1f} s under "
        f"the profiler; own time {total:.1f} s):\n"
    )
    print("| own time by area | share |\n|---|---:|")
    for area, seconds in sorted(areas.items(), key=lambda kv: -kv[1]):
        print(f"| {area} | {seconds / total:.1%} |")
    print(f"\n| top {args.top} functions by own time | calls | own s | share | cumulative s |")
    print("|---|---:|---:|---:|---:|")
    ranked = sorted(table.items(), key=lambda kv: -kv[1][2])[: args.top]
    for (filename, line, name), (_cc, calls, own, cumulative, _callers) in ranked:
        where = name if filename == "~" else f"{name} ({short_path(filename)}:{line})"
        print(f"| `{where}` | {calls:,} | {own:.2f} | {own / total:.1%} | {cumulative:.2f} |")
    sys.stdout.flush()
    os._exit(0)


def short_path(filename: str) -> str:
    path = filename.replace(os.sep, "/")
    for anchor in ("/flowsim/", "/benchmarks/", "/site-packages/", "/lib/python3"):
        if anchor in path:
            index = path.index(anchor)
            return path[index + 1 :]
    return Path(path).name


# ------------------------------------------------------------------ the driver


def subprocess_command(args: argparse.Namespace, *extra: str) -> list[str]:
    return [
        sys.executable,
        "-m",
        "benchmarks.simulator",
        "--slots",
        str(args.slots),
        "--duration",
        str(args.duration),
        *extra,
    ]


def run_case(args: argparse.Namespace, model: str, children: int) -> Result:
    repeat = 1 if children >= RUN_ONCE_FROM else args.repeat
    command = subprocess_command(
        args, "--case", model, "--children", str(children), "--repeat", str(repeat)
    )
    proc = run_subprocess(command, args.timeout)
    if proc is None:
        return Result(model, children, "timeout", f"killed after {args.timeout:.0f} s")
    data = marked_result(proc.stdout, MARKER)
    if data is None:
        tail = (proc.stderr.strip().splitlines() or ["no output"])[-1]
        return Result(model, children, "error", f"exit code {proc.returncode}: {tail}")
    data["samples"] = [Sample(**s) for s in data["samples"]]
    result = Result(**data)
    if result.status == "error":
        sys.stderr.write(f"--- {model} {children:,} failed:\n{proc.stderr[-4000:]}\n")
    return result


def run_profile(args: argparse.Namespace) -> str:
    command = subprocess_command(
        args, "--profile-case", "--children", str(args.profile_children), "--top", str(args.top)
    )
    proc = run_subprocess(command, args.timeout)
    if proc is None:
        return f"(profile killed after {args.timeout:.0f} s)"
    if proc.returncode != 0:
        return f"profile failed (exit code {proc.returncode}):\n{proc.stderr[-4000:]}"
    return proc.stdout


def fmt(value: float | None, spec: str = ",.0f") -> str:
    return "—" if value is None else format(value, spec)


Results = dict[tuple[str, int], Result]


def ratio_of(results: Results, children: int, against: str) -> float | None:
    flowsim, other = results.get(("flowsim", children)), results.get((against, children))
    if flowsim is None or other is None or not flowsim.rate or not other.rate:
        return None
    return flowsim.rate / other.rate


def markdown(headers: list[str], rows: list[list[str]]) -> str:
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(headers)]

    def line(cells: list[str]) -> str:
        padded = [
            cell.ljust(width) if i == 0 else cell.rjust(width)
            for i, (cell, width) in enumerate(zip(cells, widths, strict=True))
        ]
        return "| " + " | ".join(padded) + " |"

    # the first column left-aligned, the numbers right-aligned
    rule = "|".join("-" * (w + 2) if i == 0 else "-" * (w + 1) + ":" for i, w in enumerate(widths))
    return "\n".join([line(headers), f"|{rule}|", *(line(r) for r in rows)])


def comparison_table(results: Results, children: int) -> str:
    rows = []
    for model in MODELS:
        result = results.get((model, children))
        best = result.best if result is not None else None
        ratio = 1.0 if model == "flowsim" else ratio_of(results, children, model)
        rows.append(
            [
                LABELS[model],
                fmt(result.rate if result else None),
                fmt(best.seconds if best else None, ".2f"),
                fmt(best.makespan if best else None, ",.1f"),
                fmt(result.peak_rss_mib if result else None),
                "—" if model == "flowsim" else fmt(ratio, ".2f"),
            ]
        )
    headers = ["model", "children/s", "wall s", "makespan s", "peak RSS MiB", "flowsim ×"]
    return markdown(headers, rows)


def flowsim_table(results: Results, sizes: list[int]) -> str:
    rows = []
    for children in sizes:
        result = results.get(("flowsim", children))
        best = result.best if result else None
        rows.append(
            [
                f"{children:,}",
                fmt(best.seconds if best else None, ".2f"),
                fmt(result.rate if result else None),
                fmt(result.peak_rss_mib if result else None),
                fmt(best.results_seconds if best else None, ".2f"),
                fmt(best.results_mib if best else None),
                fmt(best.hash_seconds if best else None, ".2f"),
                fmt(ratio_of(results, children, "simpy"), ".2f"),
                fmt(ratio_of(results, children, "simpy-deque"), ".2f"),
            ]
        )
    headers = [
        "children",
        "wall s",
        "children/s",
        "peak RSS MiB",
        "of which results s",
        "results MiB",
        "trace hash s",
        "× simpy",
        "× simpy deque",
    ]
    return markdown(headers, rows)


def simpy_table(results: Results, sizes: list[int]) -> str:
    rows = []
    for children in sizes:
        row = [f"{children:,}"]
        for model in ("simpy", "simpy-deque"):
            result = results.get((model, children))
            best = result.best if result else None
            row += [
                fmt(best.seconds if best else None, ".2f"),
                fmt(result.rate if result else None),
                fmt(result.peak_rss_mib if result else None),
            ]
        rows.append(row)
    headers = ["children", "simpy wall s", "children/s", "peak RSS MiB"]
    headers += ["deque wall s", "children/s", "peak RSS MiB"]
    return markdown(headers, rows)


def verdict(results: Results, args: argparse.Namespace, sizes: list[int]) -> list[str]:
    lines = []
    ratio = ratio_of(results, COMPARE_AT, YARDSTICK)
    if ratio is not None:
        flowsim, yardstick = results[("flowsim", COMPARE_AT)], results[(YARDSTICK, COMPARE_AT)]
        met = "MET" if ratio >= TARGET_RATIO else "NOT MET"
        lines.append(
            f"target: flowsim within 3x of the hand-written simpy model at {COMPARE_AT:,} "
            f"children (ratio >= {TARGET_RATIO}): {met} (ratio {ratio:.2f}: flowsim "
            f"{fmt(flowsim.rate)}/s, simpy model {fmt(yardstick.rate)}/s)"
        )
    million = results.get(("flowsim", 1_000_000))
    if million is not None and million.best is not None:
        seconds = million.best.seconds
        met = "MET" if seconds < TARGET_MILLION_SECONDS and not million.problems else "NOT MET"
        lines.append(
            f"target: 1,000,000 children in under {TARGET_MILLION_SECONDS:.0f} s wall: {met} "
            f"({seconds:.1f} s)"
        )
    elif 1_000_000 not in sizes:
        lines.append("target: 1,000,000 children in under 60 s wall: not measured (--quick)")
    for children in sizes:
        expected = closed_form(children, args.slots, args.duration)
        spans = {
            model: best.makespan
            for model in MODELS
            if (result := results.get((model, children))) and (best := result.best)
        }
        shown = ", ".join(f"{model} {span:,.1f} s" for model, span in spans.items())
        agree = all(math.isclose(span, expected, rel_tol=1e-9) for span in spans.values())
        if agree and len(spans) == len(MODELS):
            lines.append(f"makespan at {children:,}: closed form {expected:,.1f} s = {shown}: OK")
        else:
            lines.append(
                f"*** MAKESPAN MISMATCH at {children:,} children: closed form "
                f"ceil(N/(S-1))*d = {expected:,.1f} s; {shown or 'no result'} ***"
            )
    for result in results.values():
        for problem in dict.fromkeys(result.problems):
            lines.append(f"*** PROBLEM: {result.model} at {result.children:,}: {problem} ***")
        if result.status != "ok":
            lines.append(
                f"*** {result.status.upper()}: {result.model} at {result.children:,}: "
                f"{result.reason} ***"
            )
    return lines


def driver_main(args: argparse.Namespace) -> int:
    sizes = sorted(set(args.sizes) | {COMPARE_AT})
    if args.quick:
        sizes = [n for n in sizes if n < RUN_ONCE_FROM]
    env = environment()
    print(
        f"simulator benchmark: one parent fans out N children (aio_run_many) on one worker "
        f"with {args.slots} slots, each child {args.duration:g} s of virtual time; best of "
        f"{args.repeat} (sizes >= {RUN_ONCE_FROM:,}: one run)\n"
        f"{env['date']}, {env['implementation']} {env['python']}, {env['cpus']} CPUs, "
        f"{env['platform']}, flowsim {env['flowsim_revision']}",
        flush=True,
    )
    results: Results = {}
    for children in sizes:
        for model in MODELS:
            print(f"  {model} {children:,} ...", end="", file=sys.stderr, flush=True)
            start = time.perf_counter()
            result = run_case(args, model, children)
            rate = f"{result.rate:,.0f} children/s" if result.rate else result.status
            elapsed = time.perf_counter() - start
            print(f" {rate} ({elapsed:.0f} s)", file=sys.stderr, flush=True)
            results[(model, children)] = result
    print(f"\n{COMPARE_AT:,} children on {args.slots} slots, side by side:\n")
    print(comparison_table(results, COMPARE_AT))
    ratio = ratio_of(results, COMPARE_AT, YARDSTICK)
    print(f"\nratio flowsim / simpy model: {fmt(ratio, '.2f')} (target >= {TARGET_RATIO})")
    print(
        "\nflowsim by size (wall s: the whole simulate() call; results: of it, building the "
        "SimulationResult,\nand the memory its records hold; trace hash: reading "
        "result.trace_hash afterwards, not in wall s):\n"
    )
    print(flowsim_table(results, sizes))
    print("\nthe simpy models by size:\n")
    print(simpy_table(results, sizes))
    print()
    for line in verdict(results, args, sizes):
        print(line)
    profile = run_profile(args) if args.profile else None
    if profile is not None:
        print("\n" + profile)
    if args.json:
        payload = {
            "environment": env,
            "config": {"slots": args.slots, "duration": args.duration, "repeat": args.repeat},
            "results": [dataclasses.asdict(r) for r in results.values()],
            "profile": profile,
        }
        Path(args.json).write_text(json.dumps(payload, indent=2) + "\n")
        print(f"wrote {args.json}")
    return 0


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.simulator",
        description="flowsim's simulator beside a hand-written simpy model of one fan-out: "
        "children/s, ratio, makespan check, and a scaling table with peak RSS.",
    )
    parser.add_argument("--quick", action="store_true", help="skip 1,000,000 children")
    parser.add_argument(
        "--sizes",
        type=lambda text: [int(n) for n in text.split(",")],
        default=list(SIZES),
        metavar="N,N",
        help=f"children per case (default {','.join(map(str, SIZES))}; "
        f"{COMPARE_AT:,} is always run)",
    )
    parser.add_argument("--repeat", type=int, default=3, help="repeats per case; best is shown")
    parser.add_argument("--slots", type=int, default=64, help="worker slots (default 64)")
    parser.add_argument("--duration", type=float, default=1.0, help="child duration, seconds")
    parser.add_argument(
        "--timeout", type=float, default=900.0, help="seconds before a case is killed"
    )
    parser.add_argument(
        "--profile", action="store_true", help="also profile flowsim once (cProfile)"
    )
    parser.add_argument("--profile-children", type=int, default=COMPARE_AT, help=argparse.SUPPRESS)
    parser.add_argument("--top", type=int, default=20, help="functions shown by --profile")
    parser.add_argument("--json", metavar="PATH", help="also write the results as JSON")
    parser.add_argument("--case", choices=MODELS, help=argparse.SUPPRESS)
    parser.add_argument("--profile-case", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--children", type=int, default=COMPARE_AT, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.repeat < 1 or args.slots < 2 or args.duration <= 0 or min(args.sizes) < 1:
        parser.error("--repeat and --sizes must be positive, --slots >= 2, --duration > 0")
    return args


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if args.case:
        return case_main(args)
    if args.profile_case:
        return profile_main(args)
    return driver_main(args)


if __name__ == "__main__":
    sys.exit(main())
