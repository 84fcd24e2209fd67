"""``hatchet.runs``: reading runs back and cancelling them, as hatchet_sdk's runs client does.

``get_status`` and ``cancel`` have Hatchet's names and shapes. ``view`` and ``views`` are
flowsim's own: they return the store's ``RunView`` (tasks, retry counts, attempts,
workers), the same on every backend, so a test can assert what happened without knowing
where it was stored.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from flowsim.engine.engine import Engine
from flowsim.errors import RunNotFoundError
from flowsim.rules import RunStatus
from flowsim.store.protocol import RunView


class RunsClient:
    def __init__(self, engine: Callable[[], Engine]) -> None:
        # the client's engine is looked up per call: a pytest reset replaces it
        self._engine = engine

    def view(self, workflow_run_id: str) -> RunView:
        """The stored run; ``RunNotFoundError`` if this backend has no such run."""
        (run,) = self._engine().run_views([workflow_run_id])
        return run

    def views(self) -> list[RunView]:
        """Every stored run, oldest first, children included."""
        return self._engine().run_views()

    def get_status(self, workflow_run_id: str) -> RunStatus:
        return self.view(workflow_run_id).status

    async def aio_get_status(self, workflow_run_id: str) -> RunStatus:
        return await asyncio.to_thread(self.get_status, workflow_run_id)

    def cancel(self, run_id: str) -> None:
        """Cancel a workflow run and every run spawned below it: queued tasks never start,
        running ones see ``ctx.exit_flag`` and async ones are cancelled; nothing is retried.
        Waiting callers get what hatchet_sdk gives for a cancelled run."""
        engine = self._engine()
        with _workflow_run_id_expected(run_id):
            engine.cancel(run_id, _reason(run_id))

    async def aio_cancel(self, run_id: str) -> None:
        engine = self._engine()
        with _workflow_run_id_expected(run_id):
            await engine.aio_cancel(run_id, _reason(run_id))


def _reason(run_id: str) -> str:
    return f"workflow run {run_id} was cancelled (hatchet.runs.cancel)"


@contextmanager
def _workflow_run_id_expected(run_id: str) -> Iterator[None]:
    try:
        yield
    except RunNotFoundError as exc:
        # hatchet_sdk also takes a task run id here; flowsim cancels whole workflow runs
        raise RunNotFoundError(
            f"hatchet.runs.cancel({run_id!r}): no workflow run with this id on this backend. "
            "Pass a workflow run id (ref.workflow_run_id or ctx.workflow_run_id); flowsim "
            "does not cancel a single task run of a DAG"
        ) from exc
