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


class TriggerWorkflowOptions(BaseModel):
    """Per-run options, as in hatchet_sdk: metadata, priority, child key."""

    parent_id: str | None = None
    parent_step_run_id: str | None = None
    child_index: int | None = None
    child_key: str | None = None
    namespace: str | None = None
    additional_metadata: JSONSerializableMapping = Field(default_factory=dict)
    priority: int | None = None
    desired_worker_id: str | None = None
    sticky: bool = False
    key: str | None = None


class WorkflowRunTriggerConfig(BaseModel):
    """One item of a bulk run, made by ``workflow.create_bulk_run_item(...)``."""

    model_config = ConfigDict(arbitrary_types_allowed=True)

    workflow_name: str
    input: Any = None
    options: TriggerWorkflowOptions = Field(default_factory=TriggerWorkflowOptions)
    key: str | None = None


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
