"""``flowsim sweep``: the smallest deployment that neither deadlocks nor breaks an assertion.

The grid itself lives in ``flowsim.sim.sweep``; this module parses the ranges, shows
progress on stderr (stdout stays a clean table), and turns the answer into an exit code.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from flowsim.cli import render
from flowsim.cli.common import EXIT_FAILED, EXIT_OK, bad_input, load_or_exit, stderr, stdout
from flowsim.cli.simulate import ScenarioArg
from flowsim.errors import FlowsimError
from flowsim.sim.sweep import SweepPoint, by_load, smallest_safe, sweep, write_csv

RANGE_HELP = "A..B (inclusive) or a comma list, e.g. 1..8 or 1,2,4"


def sweep_command(
    scenario_path: ScenarioArg,
    slots: Annotated[
        str, typer.Option("--slots", metavar="RANGE", help=f"Slots per worker: {RANGE_HELP}.")
    ],
    workers: Annotated[
        str, typer.Option("--workers", metavar="RANGE", help=f"Worker replicas: {RANGE_HELP}.")
    ],
    load: Annotated[
        str,
        typer.Option(
            "--load", metavar="FACTORS", help="Arrival load factors, e.g. 1,2,4 or 0.5,1."
        ),
    ] = "1",
    worker: Annotated[
        str | None,
        typer.Option("--worker", metavar="NAME", help="Vary only this worker (default: all)."),
    ] = None,
    seed: Annotated[
        int | None, typer.Option("--seed", help="Random seed (default: the scenario's).")
    ] = None,
    csv_path: Annotated[
        Path | None, typer.Option("--csv", metavar="CSV", help="Write every grid point as CSV.")
    ] = None,
    heatmap: Annotated[
        Path | None,
        typer.Option("--heatmap", metavar="PNG", help="Draw makespan over workers x slots."),
    ] = None,
) -> None:
    """Simulate a scenario over a grid of loads x workers x slots and report, per load,
    the smallest safe configuration: no deadlock and every check passing, fewest total
    slots first, then fewest workers.

    Exit status: 0 when every load has a safe configuration, 1 when some load has none,
    2 on bad input.
    """
    slot_values = parse_ints(slots, "--slots")
    worker_values = parse_ints(workers, "--workers")
    loads = parse_loads(load)
    scenario = load_or_exit(scenario_path)
    if seed is not None:
        scenario = scenario.with_seed(seed)
    total = len(slot_values) * len(worker_values) * len(loads)
    try:
        with _progress() as bar:
            task = bar.add_task("simulating", total=total)

            def advance(point: SweepPoint) -> None:
                bar.update(task, advance=1, description=_describe(point))

            points = sweep(scenario, slot_values, worker_values, loads, worker, advance)
    except FlowsimError as exc:
        bad_input(str(exc))
    groups = by_load(points)
    answers = {factor: smallest_safe(group) for factor, group in groups.items()}
    stdout.print(render.sweep_table(points, [p for p in answers.values() if p is not None]))
    for factor, best in answers.items():
        if best is None:
            stdout.print(
                f"no safe configuration at load {factor:g} in this grid",
                style="red",
                soft_wrap=True,
            )
        else:
            stdout.print(
                f"smallest safe configuration: {best.workers} worker(s) x {best.slots} slots "
                f"({best.total_slots} total slots) at load {factor:g}",
                soft_wrap=True,
            )
    if csv_path is not None:
        stdout.print(f"wrote {len(points)} rows to {write_csv(points, csv_path)}", markup=False)
    if heatmap is not None:
        from flowsim.sim.heatmap import render_heatmap

        drawn = render_heatmap(points, heatmap, title=scenario.title)
        stdout.print(f"wrote heatmap to {drawn}", markup=False)
    safe_everywhere = all(best is not None for best in answers.values())
    raise typer.Exit(EXIT_OK if safe_everywhere else EXIT_FAILED)


def parse_ints(text: str, option: str) -> list[int]:
    """``A..B`` or ``a,b,c`` as a list of distinct positive integers, in the given order."""
    try:
        if ".." in text:
            low, high = (int(part) for part in text.split("..", 1))
            if high < low:
                raise ValueError(f"{high} < {low}")
            values = list(range(low, high + 1))
        else:
            values = [int(part) for part in text.split(",") if part.strip()]
    except ValueError as exc:
        bad_input(f"{option} {text!r}: expected {RANGE_HELP} ({exc})")
    if not values or min(values) < 1:
        bad_input(f"{option} {text!r}: give at least one value, all >= 1")
    return list(dict.fromkeys(values))


def parse_loads(text: str) -> list[float]:
    if ".." in text:
        return [float(v) for v in parse_ints(text, "--load")]
    try:
        values = [float(part) for part in text.split(",") if part.strip()]
    except ValueError as exc:
        bad_input(f"--load {text!r}: expected numbers like 1,2,4 ({exc})")
    if not values or any(not 0 < v < float("inf") for v in values):
        bad_input(f"--load {text!r}: give at least one factor, all > 0")
    return list(dict.fromkeys(values))


def _progress() -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=stderr,
        transient=True,
        # a log file gains nothing from a bar, only stray blank lines
        disable=not stderr.is_terminal,
    )


def _describe(point: SweepPoint) -> str:
    return f"load {point.load:g}, {point.workers} worker(s) x {point.slots} slots"
