"""The ``flowsim`` command: one typer app whose subcommands live in sibling modules.

To add a subcommand, write ``flowsim/cli/<name>.py`` with a command function and register
it below. Import matplotlib inside the command function that draws, so ``flowsim --help``
and the commands that draw nothing stay quick.
"""

from __future__ import annotations

from typing import Annotated

import typer

from flowsim import __version__
from flowsim.cli.check import check_command
from flowsim.cli.graph import graph_command
from flowsim.cli.simulate import simulate_command
from flowsim.cli.sweep import sweep_command
from flowsim.cli.worker import worker_command

app = typer.Typer(
    name="flowsim",
    no_args_is_help=True,
    add_completion=False,
    rich_markup_mode="markdown",
    pretty_exceptions_show_locals=False,
)

app.command("simulate", no_args_is_help=True)(simulate_command)
app.command(
    "sweep", no_args_is_help=True, short_help="Find the smallest deployment that does not deadlock."
)(sweep_command)


app.command("worker", no_args_is_help=True)(worker_command)
app.command(
    "graph", no_args_is_help=True, short_help="Draw the workflows and spawns; find deadlocks."
)(graph_command)
app.command("check", short_help="Run the checks [tool.flowsim] configures (for CI).")(check_command)


def _print_version(value: bool) -> None:
    if value:
        typer.echo(f"flowsim {__version__}")
        raise typer.Exit()


@app.callback()
def _root(
    version: Annotated[
        bool,
        typer.Option(
            "--version", callback=_print_version, is_eager=True, help="Show the version and exit."
        ),
    ] = False,
) -> None:
    """Run and simulate Hatchet workflow code without a Hatchet server, and find slot
    deadlocks before production."""


def main() -> None:
    app(prog_name="flowsim")


if __name__ == "__main__":
    main()
