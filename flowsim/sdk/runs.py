"""``hatchet.runs``: reading runs back, as hatchet_sdk's runs client does from the server.

``get_status`` has Hatchet's name and shape. ``view`` and ``views`` are flowsim's own: they
return the store's ``RunView`` (tasks, retry counts, attempts, workers), the same on every
backend, so a test can assert what happened without knowing where it was stored.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from flowsim.engine.engine import Engine
from flowsim.errors import UnsupportedFeatureError
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
        raise _cancellation_refused("hatchet.runs.cancel()")

    async def aio_cancel(self, run_id: str) -> None:
        raise _cancellation_refused("hatchet.runs.aio_cancel()")


def _cancellation_refused(call: str) -> UnsupportedFeatureError:
    # refused by name rather than left undefined, so a test cannot pass by not cancelling
    return UnsupportedFeatureError(
        f"{call} is not modelled by flowsim yet; see docs/hatchet-compatibility.md"
    )
