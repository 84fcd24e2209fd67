"""``hatchet.listener``: hatchet_sdk's run event listener client, over the listeners that
``ref.stream()`` returns (``flowsim.engine.run_events``).

hatchet_sdk 1.43's client: ``stream(workflow_run_id)``, its deprecated spelling
``stream_by_run_id`` and the deprecated ``on(workflow_run_id, handler)`` (each with
hatchet_sdk's warning); ``stream_by_additional_metadata`` is refused, as Hatchet's v1
engine does not support it (hatchet_sdk warns so and the stream yields nothing).
"""

from __future__ import annotations

import warnings
from collections.abc import Callable
from enum import StrEnum
from typing import Any

from flowsim.engine.run_events import RunEventListener, StepRunEvent
from flowsim.sdk.not_modelled import refuse
from flowsim.sdk.runs import RunsClient


class WorkflowRunEventType(StrEnum):
    """hatchet_sdk's names and values. Exported there, yielded by none of its 1.43 APIs
    (a run's end comes as a ``StepRunEvent``), nor by flowsim's."""

    WORKFLOW_RUN_EVENT_TYPE_STARTED = "WORKFLOW_RUN_EVENT_TYPE_STARTED"
    WORKFLOW_RUN_EVENT_TYPE_COMPLETED = "WORKFLOW_RUN_EVENT_TYPE_COMPLETED"
    WORKFLOW_RUN_EVENT_TYPE_FAILED = "WORKFLOW_RUN_EVENT_TYPE_FAILED"
    WORKFLOW_RUN_EVENT_TYPE_CANCELLED = "WORKFLOW_RUN_EVENT_TYPE_CANCELLED"
    WORKFLOW_RUN_EVENT_TYPE_TIMED_OUT = "WORKFLOW_RUN_EVENT_TYPE_TIMED_OUT"


def _deprecated(message: str) -> None:
    warnings.warn(message, DeprecationWarning, stacklevel=3)


@refuse(
    "hatchet.listener",
    "streaming the runs of an additional metadata pair (Hatchet's v1 engine does not "
    "support it: hatchet_sdk warns so)",
    "listen to each run: hatchet.listener.stream(workflow_run_id)",
    "stream_by_additional_metadata",
)
class RunEventListenerClient:
    def __init__(self, runs: RunsClient) -> None:
        self._runs = runs

    def stream(self, workflow_run_id: str) -> RunEventListener:
        """The run's events from now on until it ends: what ``ref.stream()`` yields."""
        return self._runs.get_run_ref(workflow_run_id).stream()

    def stream_by_run_id(self, workflow_run_id: str) -> RunEventListener:
        _deprecated(
            "The `stream_by_run_id` method is deprecated and will be removed in v2.0.0. Use "
            "`hatchet.runs.subscribe_to_stream` instead."
        )
        return self.stream(workflow_run_id)

    async def on(
        self, workflow_run_id: str, handler: Callable[[StepRunEvent], Any] | None = None
    ) -> None:
        """Call ``handler`` with each event of the run until it ends."""
        _deprecated(
            "The `on` method is deprecated and will be removed in v2.0.0. Use "
            "`hatchet.runs.subscribe_to_stream` instead."
        )
        async for event in self.stream(workflow_run_id):
            if handler is not None:
                handler(event)
