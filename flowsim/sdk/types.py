"""Value types with hatchet_sdk's names and fields, so user code constructs them unchanged."""

from __future__ import annotations

import re
from datetime import timedelta
from enum import IntEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from flowsim.errors import ConfigurationError

JSONSerializableMapping = dict[str, Any]
Duration = timedelta | str | int | float


class EmptyModel(BaseModel):
    """Input of a workflow declared without ``input_validator`` (hatchet_sdk's EmptyModel)."""

    model_config = ConfigDict(extra="allow", frozen=True)


class Priority(IntEnum):
    LOW = 1
    MEDIUM = 2
    HIGH = 3


class ScheduleTriggerWorkflowOptions(BaseModel):
    """A scheduled run's options (``wf.schedule(options=...)``, deprecated in hatchet_sdk
    for the keywords): metadata and priority; the parent fields are refused there."""

    parent_id: str | None = None
    parent_step_run_id: str | None = None
    child_index: int | None = None
    child_key: str | None = None
    namespace: str | None = None
    additional_metadata: JSONSerializableMapping = Field(default_factory=dict)
    priority: int | None = None


class TriggerWorkflowOptions(ScheduleTriggerWorkflowOptions):
    """Per-run options, as in hatchet_sdk: metadata, priority, child key, placement."""

    desired_worker_id: str | None = None
    sticky: bool = False
    key: str | None = None
    #: hatchet_sdk's (singular) name: a list of DesiredWorkerLabel, or the deprecated dict
    desired_worker_label: Any = None


class WorkflowRunTriggerConfig:
    """One item of a bulk run, made by ``workflow.create_bulk_run_item(...)``, with
    hatchet_sdk's fields (``workflow_name``, ``input``, ``options``, ``key``).

    A slotted class rather than a pydantic model: a fan-out builds thousands of these, and
    two models per item were the largest single cost of ``aio_run_many``. The ``options``
    model is built only if someone reads it."""

    __slots__ = (
        "_options", "additional_metadata", "child_key", "input", "key", "priority", "sticky",
        "workflow_name",
    )  # fmt: skip

    def __init__(
        self,
        workflow_name: str,
        input: Any = None,
        options: TriggerWorkflowOptions | None = None,
        key: str | None = None,
        *,
        child_key: str | None = None,
        additional_metadata: JSONSerializableMapping | None = None,
        priority: int | None = None,
        sticky: bool = False,
    ) -> None:
        self.workflow_name = workflow_name
        self.input = input
        self.key = key
        self._options = options
        self.child_key = options.child_key if options is not None else child_key
        self.additional_metadata = (
            options.additional_metadata if options is not None else additional_metadata or {}
        )
        self.priority = options.priority if options is not None else priority
        self.sticky = options.sticky if options is not None else sticky

    def given_options(self) -> TriggerWorkflowOptions | None:
        """The options model the item was built with, if any (None: plain fields)."""
        return self._options

    @property
    def options(self) -> TriggerWorkflowOptions:
        if self._options is None:
            self._options = TriggerWorkflowOptions(
                child_key=self.child_key,
                additional_metadata=dict(self.additional_metadata),
                priority=self.priority,
                sticky=self.sticky,
            )
        return self._options

    def __repr__(self) -> str:
        return (
            f"WorkflowRunTriggerConfig(workflow_name={self.workflow_name!r}, "
            f"input={self.input!r}, child_key={self.child_key!r}, key={self.key!r})"
        )


def hatchet_parameters(params: Any, ours: int) -> Any:
    """hatchet_sdk's generics also take the workflow's input type (``Task[In, Out]``,
    ``Standalone[In, Out]``, ``TaskRunRef[In, Out]``, ``Depends[T, In]``), which flowsim's
    do not use: of hatchet_sdk's two, the one at ``ours`` is flowsim's only parameter. So
    a user's module whose annotations are evaluated at runtime imports unchanged, and
    flowsim's own spelling (one parameter) still works."""
    if isinstance(params, tuple) and len(params) == 2:
        return params[ours]
    return params


_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)\s*$")
_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}


def to_seconds(value: Duration, what: str) -> float:
    """Accept Hatchet's duration forms: timedelta, "30s"/"5m"/"1h", or plain seconds."""
    if isinstance(value, timedelta):
        seconds = value.total_seconds()
    elif isinstance(value, bool):
        raise ConfigurationError(f"{what} must be a duration, got {value!r}")
    elif isinstance(value, int | float):
        seconds = float(value)
    elif isinstance(value, str) and (match := _DURATION.match(value)):
        seconds = float(match.group(1)) * _UNIT_SECONDS[match.group(2)]
    else:
        raise ConfigurationError(
            f"{what} must be a timedelta, a number of seconds or a string like '30s', '5m', "
            f"'1h'; got {value!r}"
        )
    if seconds <= 0:
        raise ConfigurationError(f"{what} must be positive, got {value!r}")
    return seconds
