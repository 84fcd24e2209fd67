"""``flowsim worker MODULE:ATTR --backend URL``: serve a worker process.

Two or more such processes on one Postgres database (or one SQLite file) share the work:
each claims task runs with a lease, renews it by heartbeat, and a process killed mid-task
loses nothing; its runs are claimed again when the lease expires.
"""

from __future__ import annotations

import asyncio
import os
import sys
from typing import Annotated, Any

import typer

from flowsim import backend, compat, targets
from flowsim.cli.gc_policy import serve_with_frozen_startup
from flowsim.dsn import mask_url
from flowsim.errors import ConfigurationError, DatabaseLostError, FlowsimError
from flowsim.sdk.worker import Worker
from flowsim.sdk.workflow import BaseWorkflow


def load_worker(target: str) -> Worker:
    """``package.module:attribute``, a Worker or a function that returns one. The module
    is imported with ``hatchet_sdk`` aliased to flowsim (as ``flowsim check`` and ``flowsim
    graph`` import it), so a worker module written against Hatchet's SDK is served as is."""
    compat.install()  # for the life of the process: tasks may import hatchet_sdk later
    try:
        value = targets.built(target, targets.resolve(target), Worker)
    except targets.TargetError as exc:
        raise ConfigurationError(f"{target!r}: {exc}") from exc
    if not isinstance(value, Worker):
        what = "a workflow or task" if isinstance(value, BaseWorkflow) else "not a worker"
        raise ConfigurationError(
            f"{target!r} is {type(value).__name__} ({what}): point flowsim worker at a worker "
            "made with hatchet.worker(..., workflows=[...]) or a function returning one"
        )
    return value


def _exit_when_the_database_is_lost(
    loop: asyncio.AbstractEventLoop, context: dict[str, Any]
) -> None:
    """A store call that gave up after the reconnect window ends the process at once,
    with the error and exit code 2, as a SIGKILL would: the runs it held are re-run by
    the other workers when their leases lapse. Draining instead would wait out the
    window again for every store call it makes, and a worker that carried on would keep
    claiming what it can no longer finish."""
    error = context.get("exception")
    if isinstance(error, DatabaseLostError):
        typer.echo(f"flowsim worker: {error}", err=True)
        sys.stderr.flush()
        os._exit(2)
    loop.default_exception_handler(context)


async def _serve(worker: Worker) -> None:
    asyncio.get_running_loop().set_exception_handler(_exit_when_the_database_is_lost)
    await worker._serve_until_signal()


def worker_command(
    target: Annotated[str, typer.Argument(help="The worker, as MODULE:ATTRIBUTE.")],
    backend_url: Annotated[
        str | None,
        typer.Option(
            "--backend",
            help="sqlite:///file.db or postgresql://...; default $FLOWSIM_BACKEND.",
        ),
    ] = None,
    lease_seconds: Annotated[
        float | None,
        typer.Option(help="How long a claim lives without a heartbeat (default 30)."),
    ] = None,
) -> None:
    """Serve a worker process until SIGINT or SIGTERM (then drain)."""
    try:
        url = backend.resolve_url(backend_url)
        if url.startswith("memory://"):
            raise ConfigurationError(
                "flowsim worker needs a backend other processes can reach: pass --backend "
                "sqlite:///path/to/file.db or --backend postgresql://... (memory:// lives "
                "inside one process)"
            )
        if lease_seconds is not None:
            backend.checked_lease(lease_seconds, "--lease-seconds")
            os.environ[backend.LEASE_VAR] = str(lease_seconds)
        with backend.redirected(url):
            worker = load_worker(target)
            backend.engine_for(url)  # open and migrate now: a bad URL fails before serving
            names = ", ".join(wf.name for wf in worker.workflows)
            typer.echo(
                f"flowsim worker {worker.name!r} on {mask_url(url)}: "
                f"slots {worker.slot_config}, workflows {names}",
                err=True,
            )
            serve_with_frozen_startup()
            asyncio.run(_serve(worker))  # worker.start(), watching for a lost database
    except FlowsimError as exc:
        typer.echo(f"flowsim worker: {exc}", err=True)
        raise typer.Exit(2) from None
