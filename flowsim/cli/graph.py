"""``flowsim graph TARGET``: the workflows, workers and spawns of a user's code, drawn,
with what is wrong with them.

The target is imported with the ``hatchet_sdk`` alias on, so code written against Hatchet
is analysed unchanged. The exit code is the analysis's verdict: 1 when a finding is an
error (the code as declared deadlocks or hangs with a single run), so the command can
gate CI on its own; ``flowsim check`` runs the same analysis per deployment.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from flowsim import compat
from flowsim.cli.common import EXIT_FAILED, EXIT_OK, bad_input, stdout
from flowsim.errors import FlowsimError


def graph_command(
    target: Annotated[
        str,
        typer.Argument(
            help="A dotted module or package name, a .py file, or a package directory.",
            metavar="TARGET",
            show_default=False,
        ),
    ],
    out: Annotated[
        Path,
        typer.Option("--out", metavar="DIR", help="Where to write STEM.dot, .mmd and .png."),
    ] = Path("."),
    simulate: Annotated[
        bool,
        typer.Option(
            "--simulate/--no-simulate",
            help="Run the code in virtual time to confirm spawns and deadlock thresholds "
            "(--no-simulate: read the code only, run none of it).",
        ),
    ] = True,
    max_parents: Annotated[
        int | None,
        typer.Option(
            "--max-parents",
            min=1,
            max=64,
            metavar="N",
            help="Concurrent parent runs for which each deadlock threshold is shown (default 4).",
            show_default=False,
        ),
    ] = None,
) -> None:
    """Discover the workflows and workers in TARGET, print the graph and its findings (spawn
    cycles, children no worker registers, and per worker the slot counts below which a
    deadlock is reachable), and write it as DOT, Mermaid and PNG.

    Exit status: 0 when no finding is an error, 1 when one is, 2 when TARGET cannot be
    imported or analysed.
    """
    # here, not at the top: the analysis imports matplotlib, and `flowsim --help` should not
    from flowsim.analysis.analyse import analyse
    from flowsim.analysis.thresholds import MAX_PARENTS

    try:
        with compat.installed():
            analysis = analyse(target, simulate=simulate, max_parents=max_parents or MAX_PARENTS)
    except FlowsimError as exc:
        bad_input(str(exc))
    # soft_wrap: findings are copied into issues and grepped; never rewrap them
    stdout.print(analysis.render(), markup=False, highlight=False, soft_wrap=True)
    written = analysis.write(out, stem_of(target))
    stdout.print()
    stdout.print(f"wrote {', '.join(str(p) for p in written)}", markup=False, soft_wrap=True)
    raise typer.Exit(EXIT_FAILED if analysis.errors else EXIT_OK)


def stem_of(target: str) -> str:
    """File names for the drawings: ``app/flows.py`` -> ``flows``, ``app/`` -> ``app``,
    ``app.flows`` -> ``app.flows`` (a dotted name has no suffix to strip)."""
    path = Path(target)
    if target.endswith(".py") or path.is_dir():
        return path.resolve().stem if path.is_dir() else path.stem
    return target
