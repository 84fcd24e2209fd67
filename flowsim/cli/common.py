"""What every subcommand shares: where text goes, and how a bad input ends the command.

Errors the user can fix (a broken scenario file, a bad option) are printed as the message
alone, without a traceback, and exit with 2: the traceback would point into flowsim while
the mistake is in the user's file. Machine-readable output owns stdout, so anything said
alongside it goes to stderr.
"""

from __future__ import annotations

from pathlib import Path
from typing import NoReturn

import typer
from rich.console import Console

from flowsim.errors import FlowsimError
from flowsim.sim.scenario import Scenario, load_scenario

#: exit codes shared by the subcommands
EXIT_OK = 0
EXIT_FAILED = 1
EXIT_BAD_INPUT = 2

stdout = Console(highlight=False)
stderr = Console(stderr=True, highlight=False)


def bad_input(message: str) -> NoReturn:
    stderr.print(f"error: {message}", markup=False, soft_wrap=True)
    raise typer.Exit(EXIT_BAD_INPUT)


def load_or_exit(path: Path) -> Scenario:
    try:
        return load_scenario(path)
    except FlowsimError as exc:
        bad_input(str(exc))


def notes_console(machine_output: bool) -> Console:
    """Where to say "wrote X": stdout for people, stderr when stdout carries JSON."""
    return stderr if machine_output else stdout
