"""``flowsim simulate``: run one scenario in virtual time and say whether it holds up.

The exit code is the scenario's verdict (its assertions, ``no_deadlock`` on by default),
so the command can gate CI; the deadlock explanation is printed in full because it is
what the person reading a red build needs.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from flowsim.cli import render
from flowsim.cli.common import (
    EXIT_FAILED,
    EXIT_OK,
    bad_input,
    load_or_exit,
    notes_console,
    stdout,
)
from flowsim.errors import ConfigurationError
from flowsim.sim.results import SimulationResult
from flowsim.sim.runner import simulate

ScenarioArg = Annotated[
    Path, typer.Argument(help="Scenario TOML file.", metavar="SCENARIO", show_default=False)
]


def simulate_command(
    scenario_path: ScenarioArg,
    seed: Annotated[
        int | None, typer.Option("--seed", help="Random seed (default: the scenario's).")
    ] = None,
    as_json: Annotated[
        bool,
        typer.Option("--json", help="Print the result as JSON on stdout, and nothing else."),
    ] = False,
    gantt: Annotated[
        Path | None,
        typer.Option("--gantt", metavar="PNG", help="Write a Gantt chart of slot use."),
    ] = None,
    dot: Annotated[
        Path | None,
        typer.Option("--dot", metavar="DOT", help="Write the deadlock's wait-for graph (DOT)."),
    ] = None,
    deadlock_png: Annotated[
        Path | None,
        typer.Option("--deadlock-png", metavar="PNG", help="Draw the deadlock's wait-for graph."),
    ] = None,
) -> None:
    """Simulate a scenario: its workflows on its workers, in virtual time.

    Exit status: 0 when every check passes, 1 when one fails (a slot deadlock fails the
    default no_deadlock check; its explanation is printed), 2 when the scenario cannot be
    loaded.
    """
    scenario = load_or_exit(scenario_path)
    try:
        result = simulate(scenario, seed=seed)
    except ConfigurationError as exc:  # names in the file that the module does not have
        bad_input(str(exc))
    if as_json:
        sys.stdout.write(json.dumps(result.to_dict(), indent=2) + "\n")
    else:
        _print_human(result)
    notes = notes_console(as_json)
    if gantt is not None:
        from flowsim.sim.plots import render_gantt

        notes.print(f"wrote Gantt chart to {render_gantt(result, gantt)}", markup=False)
    _write_deadlock_files(result, dot, deadlock_png, notes)
    raise typer.Exit(EXIT_OK if result.ok else EXIT_FAILED)


def _print_human(result: SimulationResult) -> None:
    stdout.print(render.header(result))
    stdout.print()
    stdout.print(render.metrics_tables(result))
    stdout.print()
    stdout.print(render.checks(result), soft_wrap=True)
    report = result.deadlock
    if report is not None:
        stdout.print()
        # soft_wrap: the report's lines are copied into issues and grepped; never rewrap them
        stdout.print(report.render(), markup=False, soft_wrap=True)
        for later in result.deadlocks[1:]:
            stdout.print(
                f"(another slot deadlock at t={later.at:g}s: {len(later.holders)} holder(s); "
                "see --json for every report)",
                markup=False,
            )
    verdict = "OK" if result.ok else "FAILED"
    failed = sum(1 for check in result.checks if not check.passed)
    stdout.print()
    stdout.print(f"{verdict}: {len(result.checks) - failed} of {len(result.checks)} checks pass")


def _write_deadlock_files(
    result: SimulationResult, dot: Path | None, png: Path | None, notes: Console
) -> None:
    if dot is None and png is None:
        return
    report = result.deadlock
    if report is None:
        skipped = ", ".join(str(p) for p in (dot, png) if p is not None)
        notes.print(f"no deadlock: nothing written to {skipped}", markup=False)
        return
    if dot is not None:
        dot.write_text(report.to_dot() + "\n", encoding="utf-8")
        notes.print(f"wrote wait-for graph to {dot}", markup=False)
    if png is not None:
        from flowsim.sim.plots import render_deadlock

        notes.print(f"wrote wait-for graph to {render_deadlock(report, png)}", markup=False)
