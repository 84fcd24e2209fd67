"""``flowsim check``: run the checks ``[tool.flowsim]`` configures, and gate CI on them.

The report is printed as the checks finish (a CI log shows progress), failures in full at
the end; ``--junit`` and ``--json`` write the same results for the CI system and for tools.
Exit status: 0 when every check passes, 1 when one fails, 2 when the configuration is bad.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from flowsim.cli.common import EXIT_FAILED, EXIT_OK, bad_input, stdout

if TYPE_CHECKING:
    from flowsim.check.run import CheckResult


def check_command(
    config_path: Annotated[
        Path,
        typer.Option(
            "--config", metavar="PYPROJECT", help="The pyproject.toml holding [tool.flowsim]."
        ),
    ] = Path("pyproject.toml"),
    junit: Annotated[
        Path | None,
        typer.Option("--junit", metavar="XML", help="Write the results as JUnit XML."),
    ] = None,
    json_path: Annotated[
        Path | None,
        typer.Option("--json", metavar="JSON", help="Write the results as JSON."),
    ] = None,
) -> None:
    """Run the graph checks, scenarios and property checks configured in [tool.flowsim]
    of pyproject.toml (see docs/ci.md).

    Exit status: 0 when every check passes, 1 when one fails, 2 when the configuration is
    bad (the message names the key and what it expects).
    """
    # here, not at the top: the checks import the analysis, hypothesis and matplotlib
    from flowsim.check import report
    from flowsim.check.config import CheckConfigError, load_config
    from flowsim.check.junit import write_junit
    from flowsim.check.run import run_checks

    try:
        config = load_config(config_path)
    except CheckConfigError as exc:
        bad_input(str(exc))
    shown: list[str] = []

    def show(result: CheckResult) -> None:
        if not shown:  # printed with the first result: a bad configuration prints nothing
            _say(report.header(config.source))
        if not shown or shown[-1] != result.kind:
            shown.append(result.kind)
            _say("")
            _say(report.kind_heading(result.kind))
        _say(report.result_line(result), None if result.passed else "red")

    try:
        run = run_checks(config, on_result=show)
    except CheckConfigError as exc:
        bad_input(str(exc))
    for line in report.tail(run):
        _say(line, "bold red" if line.startswith("FAILED") else None)
    if junit is not None:
        _say(f"wrote JUnit XML to {write_junit(run, junit)}")
    if json_path is not None:
        _say(f"wrote JSON to {report.write_json(run, json_path)}")
    raise typer.Exit(EXIT_OK if run.ok else EXIT_FAILED)


def _say(line: str, style: str | None = None) -> None:
    # soft_wrap: deadlock reports are copied into issues and grepped; never rewrap them
    stdout.print(line, style=style, markup=False, highlight=False, soft_wrap=True)
