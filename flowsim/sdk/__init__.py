"""The user-facing API, named and shaped like hatchet_sdk 1.43."""

from flowsim.sdk.client import Hatchet
from flowsim.sdk.context import Context, DurableContext
from flowsim.sdk.refs import RunCancelledError, TaskRunRef, WorkflowRunRef
from flowsim.sdk.task import Task
from flowsim.sdk.types import (
    EmptyModel,
    Priority,
    TriggerWorkflowOptions,
    WorkflowRunTriggerConfig,
)
from flowsim.sdk.worker import Worker
from flowsim.sdk.workflow import BaseWorkflow, Standalone, Workflow

__all__ = [
    "BaseWorkflow",
    "Context",
    "DurableContext",
    "EmptyModel",
    "Hatchet",
    "Priority",
    "RunCancelledError",
    "Standalone",
    "Task",
    "TaskRunRef",
    "TriggerWorkflowOptions",
    "Worker",
    "Workflow",
    "WorkflowRunRef",
    "WorkflowRunTriggerConfig",
]
