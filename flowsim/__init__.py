"""flowsim: run, test and simulate Hatchet workflow code without a Hatchet server.

``from flowsim import Hatchet, Context`` in place of ``from hatchet_sdk import ...`` runs a
user's workflow definitions unchanged on an in-process engine with Hatchet's semantics, and
reports slot deadlocks instead of hanging.
"""

from flowsim.clock import Clock, ManualClock, SystemClock
from flowsim.engine.deadlock import DeadlockReport
from flowsim.engine.run_events import RunEventListener, StepRunEvent, StepRunEventType
from flowsim.errors import (
    BlockingCallError,
    BulkTriggerIdempotencyCollisionError,
    ConfigurationError,
    CronNotFoundError,
    DatabaseLostError,
    FailedTaskRunExceptionGroup,
    FilterNotFoundError,
    FlowsimError,
    IdempotencyCollisionError,
    IllegalTaskOutputError,
    InvalidDependencyError,
    InvalidInputError,
    LifespanSetupError,
    LoopAlreadyRunningError,
    MockRunError,
    NonDeterminismError,
    NonRetryableException,
    NotModelledAttributeError,
    RetryAfterException,
    RunNotFinishedError,
    RunNotFoundError,
    SlotDeadlockError,
    StaleAttemptError,
    StreamDataError,
    TaskRunError,
    UnknownWorkflowError,
    UnsupportedFeatureError,
    WorkflowDefinitionError,
)
from flowsim.rules import RunStatus
from flowsim.sdk import (
    BaseWorkflow,
    Context,
    DurableContext,
    EmptyModel,
    Hatchet,
    Priority,
    RunCancelledError,
    Standalone,
    Task,
    TaskRunRef,
    TriggerWorkflowOptions,
    Worker,
    Workflow,
    WorkflowRunRef,
    WorkflowRunTriggerConfig,
)
from flowsim.sdk.concurrency import ConcurrencyExpression, ConcurrencyLimitStrategy
from flowsim.sdk.conditions import (
    Condition,
    OrGroup,
    ParentCondition,
    SleepCondition,
    UserEventCondition,
    or_,
)
from flowsim.sdk.dependencies import Depends
from flowsim.sdk.events import BulkPushEventOptions, BulkPushEventWithMetadata, PushEventOptions
from flowsim.sdk.eviction import EvictionPolicy
from flowsim.sdk.filters import DefaultFilter
from flowsim.sdk.idempotency import StatusBasedIdempotencyConfig, TTLBasedIdempotencyConfig
from flowsim.sdk.labels import (
    DesiredWorkerLabel,
    StickyStrategy,
    WorkerContext,
    WorkerLabel,
    WorkerLabelComparator,
)
from flowsim.sdk.listener import WorkflowRunEventType
from flowsim.sdk.rate_limit import RateLimit, RateLimitDuration
from flowsim.sdk.runs import BulkCancelReplayOpts, RunFilter, V1TaskStatus
from flowsim.sdk.serde import remove_null_unicode_character
from flowsim.sdk.task_defaults import TaskDefaults
from flowsim.sdk.types import ScheduleTriggerWorkflowOptions

__version__ = "0.1.0"

__all__ = [
    "BaseWorkflow",
    "BlockingCallError",
    "BulkCancelReplayOpts",
    "BulkPushEventOptions",
    "BulkPushEventWithMetadata",
    "BulkTriggerIdempotencyCollisionError",
    "Clock",
    "ConcurrencyExpression",
    "ConcurrencyLimitStrategy",
    "Condition",
    "ConfigurationError",
    "Context",
    "CronNotFoundError",
    "DatabaseLostError",
    "DeadlockReport",
    "DefaultFilter",
    "Depends",
    "DesiredWorkerLabel",
    "DurableContext",
    "EmptyModel",
    "EvictionPolicy",
    "FailedTaskRunExceptionGroup",
    "FilterNotFoundError",
    "FlowsimError",
    "Hatchet",
    "IdempotencyCollisionError",
    "IllegalTaskOutputError",
    "InvalidDependencyError",
    "InvalidInputError",
    "LifespanSetupError",
    "LoopAlreadyRunningError",
    "ManualClock",
    "MockRunError",
    "NonDeterminismError",
    "NonRetryableException",
    "NotModelledAttributeError",
    "OrGroup",
    "ParentCondition",
    "Priority",
    "PushEventOptions",
    "RateLimit",
    "RateLimitDuration",
    "RetryAfterException",
    "RunCancelledError",
    "RunEventListener",
    "RunFilter",
    "RunNotFinishedError",
    "RunNotFoundError",
    "RunStatus",
    "ScheduleTriggerWorkflowOptions",
    "SleepCondition",
    "SlotDeadlockError",
    "StaleAttemptError",
    "Standalone",
    "StatusBasedIdempotencyConfig",
    "StepRunEvent",
    "StepRunEventType",
    "StickyStrategy",
    "StreamDataError",
    "SystemClock",
    "TTLBasedIdempotencyConfig",
    "Task",
    "TaskDefaults",
    "TaskRunError",
    "TaskRunRef",
    "TriggerWorkflowOptions",
    "UnknownWorkflowError",
    "UnsupportedFeatureError",
    "UserEventCondition",
    "V1TaskStatus",
    "Worker",
    "WorkerContext",
    "WorkerLabel",
    "WorkerLabelComparator",
    "Workflow",
    "WorkflowDefinitionError",
    "WorkflowRunEventType",
    "WorkflowRunRef",
    "WorkflowRunTriggerConfig",
    "__version__",
    "or_",
    "remove_null_unicode_character",
]
