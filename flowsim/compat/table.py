"""The declared table: which ``hatchet_sdk`` modules the alias serves, and with what.

A declared table rather than a catch-all module: every name the alias serves is a flowsim
object a reviewer can check against hatchet-sdk 1.43.1, and every hatchet-sdk name flowsim
does not implement is listed with the feature it belongs to, so a refusal can say which
feature is missing instead of "cannot import name".

The module paths and public names were taken from hatchet-sdk 1.43.1 as installed from PyPI
(its ``__init__`` and the modules Hatchet's examples import from). ``hatchet_sdk`` itself is
complete: each of its 140 exports is served or refused. For submodules, the names users
import are listed; anything else is an ``AttributeError``, as for any module.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

from flowsim import errors, rules, sdk
from flowsim.engine import run_events
from flowsim.sdk import (
    concurrency,
    conditions,
    cron_client,
    dependencies,
    events,
    eviction,
    filters,
    filters_client,
    idempotency,
    labels,
    lifespan,
    listener,
    rate_limit,
    run_details,
    scheduling,
    serde,
    task_defaults,
)
from flowsim.sdk import runs as sdk_runs
from flowsim.sdk import types as sdk_types

ROOT: Final = "hatchet_sdk"

#: The objects flowsim implements, under their hatchet_sdk names.
FLOWSIM: Final[Mapping[str, object]] = {
    "Action": conditions.Action,
    "BaseWorkflow": sdk.BaseWorkflow,
    "ConcurrencyExpression": concurrency.ConcurrencyExpression,
    "ConcurrencyLimitStrategy": concurrency.ConcurrencyLimitStrategy,
    "Condition": conditions.Condition,
    "OrGroup": conditions.OrGroup,
    "ParentCondition": conditions.ParentCondition,
    "SleepCondition": conditions.SleepCondition,
    "UserEventCondition": conditions.UserEventCondition,
    "or_": conditions.or_,
    "remove_null_unicode_character": serde.remove_null_unicode_character,
    "Context": sdk.Context,
    "CronClient": cron_client.CronClient,
    "CronWorkflows": cron_client.CronWorkflows,
    "CronWorkflowsList": cron_client.CronWorkflowsList,
    "CronWorkflowsMethod": cron_client.CronWorkflowsMethod,
    "CronWorkflowsOrderByField": cron_client.CronWorkflowsOrderByField,
    "WorkflowRunOrderByDirection": cron_client.WorkflowRunOrderByDirection,
    "DEFAULT_DURABLE_TASK_EVICTION_POLICY": eviction.DEFAULT_DURABLE_TASK_EVICTION_POLICY,
    "EvictionPolicy": eviction.EvictionPolicy,
    "NonDeterminismError": errors.NonDeterminismError,
    "ScheduledClient": scheduling.ScheduledClient,
    "DurableContext": sdk.DurableContext,
    "EmptyModel": sdk.EmptyModel,
    "DefaultFilter": filters.DefaultFilter,
    "RunEventListener": run_events.RunEventListener,
    "RunEventListenerClient": listener.RunEventListenerClient,
    "WorkflowRunEventType": listener.WorkflowRunEventType,
    "StepRunEvent": run_events.StepRunEvent,
    "StepRunEventType": run_events.StepRunEventType,
    "BulkTriggerIdempotencyCollisionError": errors.BulkTriggerIdempotencyCollisionError,
    "IdempotencyCollisionError": errors.IdempotencyCollisionError,
    "IdempotencyMethod": idempotency.IdempotencyMethod,
    "StatusBasedIdempotencyConfig": idempotency.StatusBasedIdempotencyConfig,
    "TTLBasedIdempotencyConfig": idempotency.TTLBasedIdempotencyConfig,
    "TaskDefaults": task_defaults.TaskDefaults,
    "EventClient": events.EventClient,
    "PushEventOptions": events.PushEventOptions,
    "BulkPushEventOptions": events.BulkPushEventOptions,
    "BulkPushEventWithMetadata": events.BulkPushEventWithMetadata,
    "FailedTaskRunExceptionGroup": errors.FailedTaskRunExceptionGroup,
    "Hatchet": sdk.Hatchet,
    "IllegalTaskOutputError": errors.IllegalTaskOutputError,
    "LifespanSetupError": errors.LifespanSetupError,
    "LoopAlreadyRunningError": errors.LoopAlreadyRunningError,
    "InvalidDependencyError": errors.InvalidDependencyError,
    "Depends": dependencies.Depends,
    "DependencyFunc": dependencies.DependencyFunc,
    "LifespanFn": lifespan.LifespanFn,
    "LifespanGenerator": lifespan.LifespanGenerator,
    "NonRetryableException": errors.NonRetryableException,
    "RetryAfterException": errors.RetryAfterException,
    "BulkCancelReplayOpts": sdk_runs.BulkCancelReplayOpts,
    "RunFilter": sdk_runs.RunFilter,
    "V1TaskStatus": sdk_runs.V1TaskStatus,
    "V1TaskEvent": run_details.V1TaskEvent,
    "V1TaskEventType": run_details.V1TaskEventType,
    "V1TaskSummary": run_details.V1TaskSummary,
    "V1TaskSummaryList": run_details.V1TaskSummaryList,
    "PaginationResponse": run_details.PaginationResponse,
    "V1WorkflowRun": run_details.V1WorkflowRun,
    "V1WorkflowRunDetails": run_details.V1WorkflowRunDetails,
    "TaskRunDetail": run_details.TaskRunDetail,
    "WorkflowRunDetail": run_details.WorkflowRunDetail,
    "V1Filter": filters_client.V1Filter,
    "V1FilterList": filters_client.V1FilterList,
    "V1UpdateFilterRequest": filters_client.V1UpdateFilterRequest,
    "Priority": sdk.Priority,
    "RateLimit": rate_limit.RateLimit,
    "RateLimitDuration": rate_limit.RateLimitDuration,
    "RateLimitsClient": rate_limit.RateLimitsClient,
    "RunStatus": rules.RunStatus,
    "Standalone": sdk.Standalone,
    "Task": sdk.Task,
    "TaskRunError": errors.TaskRunError,
    "TaskRunRef": sdk.TaskRunRef,
    "TriggerWorkflowOptions": sdk.TriggerWorkflowOptions,
    "ScheduleTriggerWorkflowOptions": sdk_types.ScheduleTriggerWorkflowOptions,
    "Worker": sdk.Worker,
    "DesiredWorkerLabel": labels.DesiredWorkerLabel,
    "WorkerLabel": labels.WorkerLabel,
    "WorkerLabelComparator": labels.WorkerLabelComparator,
    "StickyStrategy": labels.StickyStrategy,
    "WorkerContext": labels.WorkerContext,
    "Workflow": sdk.Workflow,
    "WorkflowRunRef": sdk.WorkflowRunRef,
    "WorkflowRunTriggerConfig": sdk.WorkflowRunTriggerConfig,
}


def _names(features: Mapping[str, str]) -> dict[str, str]:
    """{feature: "Name Name ..."} -> {name: feature}: the table reads by feature."""
    return {name: feature for feature, names in features.items() for name in names.split()}


#: Every hatchet_sdk name flowsim refuses, whichever module it is imported from: a name
#: means the same thing throughout hatchet_sdk.
REFUSED_NAMES: Final[Mapping[str, str]] = _names(
    {
        "batch": "BatchMemberId BatchTaskConfig",
        "cel": "CELClient CELEvaluationResult CELFailure CELSuccess",
        "client-config": "Client ClientConfig ClientTLSConfig HealthcheckConfig TenacityConfig",
        "dedupe": "DedupeViolationError",
        "embedded": "EmbeddedHatchetConfig",
        "engine-version": "MinEngineVersion",
        "eviction": "EvictionNotSupportedError DurableSpawnResult MemoNowResult SleepResult",
        "grpc": "AdminClient CreateWorkflowVersionOpts DispatcherClient DurableEventListener",
        "internals": "ComputedTaskParameters P R StepType TaskIOValidator TWorkflowInput "
        "TypedTriggerWorkflowRunConfig WorkflowConfig",
        "logs": "LogsClient",
        "mcp": "MCPProvider",
        "metrics": "MetricsClient",
        "opentelemetry": "OTelAttribute OpenTelemetryConfig",
        "rest-api": "APIError APIErrors APIMeta APIMetaAuth APIMetaIntegration APIResourceMeta "
        "APIToken AcceptInviteRequest CreateAPITokenRequest CreateAPITokenResponse "
        "CreatePullRequestFromStepRun CreateTenantInviteRequest CreateTenantRequest Event "
        "EventData EventKeyList EventList EventOrderByDirection EventOrderByField "
        "EventWorkflowRunSummary GetStepRunDiffResponse Job JobRun JobRunStatus "
        "ListAPITokensResponse ListPullRequestsResponse LogLine LogLineLevel LogLineList "
        "LogLineOrderByDirection LogLineOrderByField PaginationResponse PullRequest "
        "PullRequestState RejectInviteRequest ReplayEventRequest RerunStepRunRequest StepRun "
        "StepRunDiff StepRunStatus Tenant TenantInvite TenantInviteList TenantList TenantMember "
        "TenantMemberList TenantMemberRole TriggerWorkflowRunRequest UpdateTenantInviteRequest "
        "User UserLoginRequest UserRegisterRequest UserTenantMembershipsList UserTenantPublic "
        "V1WebhookHMACAlgorithm V1WebhookHMACEncoding "
        "V1WebhookSourceName WorkerList Workflow WorkflowList WorkflowModel WorkflowRun "
        "WorkflowRunList WorkflowRunStatus WorkflowRunTriggeredBy WorkflowTag "
        "WorkflowTriggerCronRef WorkflowTriggerEventRef WorkflowTriggers WorkflowVersion "
        "WorkflowVersionDefinition WorkflowVersionMeta",
        "runs-api": "FiltersClient RunsClient",
        "serde": "is_in_hatchet_serialization_context",
        "slot-types": "SlotType",
        "stubs": "StubsClient",
        "webhooks": "WebhooksClient",
        "worker-internals": "WorkerStartOptions WorkerStatus",
        "workers-api": "WorkersClient",
        "workflows-api": "WorkflowsClient",
    }
)

#: Extra advice for a refused name whose Hatchet meaning is easy to mistake.
HINTS: Final[Mapping[tuple[str, str], str]] = {
    (ROOT, "Workflow"): (
        "hatchet_sdk.Workflow is the REST API's description of a registered workflow, not the "
        "object hatchet.workflow() returns; that one is served as "
        "hatchet_sdk.runnables.workflow.Workflow."
    ),
}

#: Submodules and subpackages refused as a whole, by path prefix (the longest one applies);
#: a path in ``MODULES`` too is served, its other names refused as the same feature.
REFUSED_MODULES: Final[Mapping[str, str]] = {
    f"{ROOT}.{path}": feature
    for path, feature in {
        "client": "client-config",
        "clients.dispatcher": "grpc",
        "clients.event_ts": "events",
        "clients.listeners.durable_event_listener": "grpc",
        "clients.listeners.legacy": "grpc",
        "clients.listeners.pooled_listener": "grpc",
        "clients.listeners.workflow_listener": "grpc",
        "clients.rest": "rest-api",
        "clients.v1": "rest-api",
        "config": "client-config",
        "connection": "grpc",
        "context.pre_eviction": "eviction",
        "contracts": "grpc",
        "deprecated": "internals",
        "embedded": "embedded",
        "engine_version": "engine-version",
        "features": "server-apis",
        "logger": "internals",
        "opentelemetry": "opentelemetry",
        "runnables.action": "internals",
        "runnables.contextvars": "internals",
        "runnables.mcp": "mcp",
        "serde": "serde",
        "token": "client-config",
        "types.slot_types": "slot-types",
        "utils": "internals",
        "worker.action_listener_process": "worker-internals",
        "worker.durable_eviction": "eviction",
        "worker.runner": "worker-internals",
        "worker.slot_types": "slot-types",
        "worker.slot_usage": "worker-internals",
    }.items()
}


@dataclass(frozen=True)
class AliasSpec:
    """One served module: the flowsim objects under their names, and the names refused."""

    served: Mapping[str, object]
    refused: frozenset[str] = frozenset()
    package: bool = False
    #: the feature refusing every name not served: for a module of hundreds of names of one
    #: feature (the REST client's models), of which flowsim serves a few
    others: str | None = None


#: the REST models ``hatchet.runs.get`` returns (``flowsim.sdk.run_details``)
_RUN_DETAILS = (
    "CronWorkflows CronWorkflowsList CronWorkflowsMethod CronWorkflowsOrderByField "
    "WorkflowRunOrderByDirection "
    "PaginationResponse V1Filter V1FilterList V1TaskEvent V1TaskEventType V1TaskStatus "
    "V1TaskSummary V1TaskSummaryList V1UpdateFilterRequest V1WorkflowRun V1WorkflowRunDetails"
)


def _spec(
    served: str, refused: str = "", *, package: bool = False, others: str | None = None
) -> AliasSpec:
    return AliasSpec(
        served={name: FLOWSIM[name] for name in served.split()},
        refused=frozenset(refused.split()),
        package=package,
        others=others,
    )


def refused_module(fullname: str) -> str | None:
    """The feature of a refused hatchet_sdk module path (longest prefix), or None."""
    parts = fullname.split(".")
    for end in range(len(parts), 1, -1):
        feature = REFUSED_MODULES.get(".".join(parts[:end]))
        if feature is not None:
            return feature
    return None


def children(package: str) -> frozenset[str]:
    """Direct submodule names of ``package`` that hatchet_sdk has, served or refused: an
    attribute access such as ``hatchet_sdk.runnables`` imports them, as after a real
    ``import hatchet_sdk``."""
    prefix = package + "."
    paths = [*MODULES, *REFUSED_MODULES]
    return frozenset(path[len(prefix) :].split(".")[0] for path in paths if path.startswith(prefix))


#: Every module the alias serves. Packages without served names exist so that their
#: submodules can be imported, as in hatchet_sdk.
MODULES: Final[Mapping[str, AliasSpec]] = {
    ROOT: _spec(
        "BulkCancelReplayOpts BulkPushEventOptions BulkPushEventWithMetadata "
        "BulkTriggerIdempotencyCollisionError "
        "DefaultFilter Depends IdempotencyCollisionError RunEventListener "
        "StatusBasedIdempotencyConfig StepRunEventType TTLBasedIdempotencyConfig "
        "ConcurrencyExpression ConcurrencyLimitStrategy Condition Context DesiredWorkerLabel "
        "DurableContext EmptyModel EvictionPolicy FailedTaskRunExceptionGroup Hatchet "
        "NonDeterminismError NonRetryableException OrGroup ParentCondition Priority "
        "PushEventOptions RateLimit RateLimitDuration RetryAfterException RunFilter RunStatus "
        "ScheduleTriggerWorkflowOptions SleepCondition StickyStrategy "
        "Task TaskDefaults TaskRunError TaskRunRef TriggerWorkflowOptions UserEventCondition "
        "V1TaskStatus Worker WorkerContext WorkerLabel WorkerLabelComparator WorkflowRunEventType "
        "WorkflowRunRef WorkflowRunTriggerConfig or_ remove_null_unicode_character",
        # every other export of hatchet_sdk 1.43.1
        "APIError APIErrors APIMeta APIMetaAuth APIMetaIntegration APIResourceMeta APIToken "
        "AcceptInviteRequest "
        "CELEvaluationResult CELFailure CELSuccess "
        "ClientConfig ClientTLSConfig CreateAPITokenRequest CreateAPITokenResponse "
        "CreatePullRequestFromStepRun CreateTenantInviteRequest CreateTenantRequest "
        "CreateWorkflowVersionOpts DedupeViolationError "
        "EmbeddedHatchetConfig Event EventData EventKeyList EventList EventOrderByDirection "
        "EventOrderByField EventWorkflowRunSummary EvictionNotSupportedError "
        "GetStepRunDiffResponse HealthcheckConfig Job JobRun "
        "JobRunStatus ListAPITokensResponse ListPullRequestsResponse LogLine LogLineLevel "
        "LogLineList LogLineOrderByDirection LogLineOrderByField OTelAttribute "
        "OpenTelemetryConfig PaginationResponse PullRequest PullRequestState RejectInviteRequest "
        "ReplayEventRequest RerunStepRunRequest "
        "SlotType StepRun "
        "StepRunDiff StepRunStatus "
        "TenacityConfig Tenant TenantInvite TenantInviteList TenantList TenantMember "
        "TenantMemberList TenantMemberRole TriggerWorkflowRunRequest UpdateTenantInviteRequest "
        "User UserLoginRequest UserRegisterRequest UserTenantMembershipsList UserTenantPublic "
        "V1WebhookHMACAlgorithm V1WebhookHMACEncoding V1WebhookSourceName "
        "WorkerList WorkerStartOptions WorkerStatus Workflow WorkflowConfig WorkflowList "
        "WorkflowRun WorkflowRunList WorkflowRunStatus "
        "WorkflowRunTriggeredBy WorkflowTag WorkflowTriggerCronRef WorkflowTriggerEventRef "
        "WorkflowTriggers WorkflowVersion WorkflowVersionDefinition WorkflowVersionMeta "
        "is_in_hatchet_serialization_context",
        package=True,
    ),
    f"{ROOT}.hatchet": _spec(
        "BaseWorkflow ConcurrencyExpression Context CronClient DefaultFilter DesiredWorkerLabel "
        "DurableContext EmptyModel EventClient EvictionPolicy Hatchet Priority "
        "RateLimit RateLimitsClient RunEventListenerClient ScheduledClient Standalone "
        "StatusBasedIdempotencyConfig StickyStrategy TTLBasedIdempotencyConfig TaskDefaults "
        "Worker Workflow",
        "CELClient Client ClientConfig DispatcherClient "
        "EmbeddedHatchetConfig FiltersClient LogsClient MetricsClient "
        "RunsClient StubsClient WebhooksClient "
        "WorkersClient WorkflowConfig WorkflowsClient",
    ),
    f"{ROOT}.clients": _spec("", package=True),
    f"{ROOT}.clients.listeners": _spec("", package=True),
    f"{ROOT}.clients.listeners.run_event_listener": _spec(
        "RunEventListener RunEventListenerClient StepRunEvent StepRunEventType "
        "WorkflowRunEventType",
    ),
    f"{ROOT}.clients.admin": _spec(
        "BulkTriggerIdempotencyCollisionError DesiredWorkerLabel IdempotencyCollisionError "
        "Priority RateLimitDuration RunStatus ScheduleTriggerWorkflowOptions "
        "TaskRunDetail TriggerWorkflowOptions V1TaskStatus WorkflowRunDetail WorkflowRunRef "
        "WorkflowRunTriggerConfig",
        "AdminClient ClientConfig DedupeViolationError",
    ),
    # the REST client's models of a run's details and listing (hatchet.runs.get / list)
    # and its status enum,
    # which tests import from here; every other name and module of the client is refused
    f"{ROOT}.clients.rest": _spec(_RUN_DETAILS, package=True, others="rest-api"),
    f"{ROOT}.clients.rest.models": _spec(_RUN_DETAILS, package=True, others="rest-api"),
    f"{ROOT}.clients.rest.models.v1_task_status": _spec("V1TaskStatus"),
    f"{ROOT}.clients.rest.models.v1_task_event": _spec("V1TaskEvent V1TaskEventType"),
    f"{ROOT}.clients.rest.models.v1_task_event_type": _spec("V1TaskEventType"),
    f"{ROOT}.clients.rest.models.v1_task_summary": _spec("V1TaskStatus V1TaskSummary"),
    f"{ROOT}.clients.rest.models.v1_task_summary_list": _spec(
        "PaginationResponse V1TaskSummary V1TaskSummaryList"
    ),
    f"{ROOT}.clients.rest.models.pagination_response": _spec("PaginationResponse"),
    f"{ROOT}.clients.rest.models.cron_workflows": _spec("CronWorkflows CronWorkflowsMethod"),
    f"{ROOT}.clients.rest.models.cron_workflows_list": _spec(
        "CronWorkflows CronWorkflowsList PaginationResponse"
    ),
    f"{ROOT}.clients.rest.models.cron_workflows_method": _spec("CronWorkflowsMethod"),
    f"{ROOT}.clients.rest.models.cron_workflows_order_by_field": _spec("CronWorkflowsOrderByField"),
    f"{ROOT}.clients.rest.models.workflow_run_order_by_direction": _spec(
        "WorkflowRunOrderByDirection"
    ),
    f"{ROOT}.clients.rest.models.v1_filter": _spec("V1Filter"),
    f"{ROOT}.clients.rest.models.v1_filter_list": _spec("PaginationResponse V1Filter V1FilterList"),
    f"{ROOT}.clients.rest.models.v1_update_filter_request": _spec("V1UpdateFilterRequest"),
    f"{ROOT}.clients.rest.models.v1_workflow_run": _spec("V1TaskStatus V1WorkflowRun"),
    f"{ROOT}.clients.rest.models.v1_workflow_run_details": _spec(
        "V1TaskEvent V1TaskSummary V1WorkflowRun V1WorkflowRunDetails"
    ),
    f"{ROOT}.clients.events": _spec(
        "BulkPushEventOptions BulkPushEventWithMetadata EventClient Priority PushEventOptions "
        "V1TaskStatus",
        "ClientConfig Event",
    ),
    f"{ROOT}.conditions": _spec(
        "Action Condition OrGroup ParentCondition SleepCondition UserEventCondition or_"
    ),
    f"{ROOT}.context": _spec("", package=True),
    f"{ROOT}.context.context": _spec(
        "Context DurableContext EventClient OrGroup SleepCondition TaskRunError "
        "UserEventCondition WorkerContext WorkerLabel WorkflowRunTriggerConfig",
        "AdminClient DispatcherClient DurableEventListener DurableSpawnResult MemoNowResult "
        "RunsClient SleepResult",
    ),
    f"{ROOT}.context.worker_context": _spec("WorkerContext WorkerLabel"),
    f"{ROOT}.exceptions": _spec(
        "BulkTriggerIdempotencyCollisionError FailedTaskRunExceptionGroup "
        "IdempotencyCollisionError IllegalTaskOutputError InvalidDependencyError "
        "LifespanSetupError LoopAlreadyRunningError "
        "NonDeterminismError NonRetryableException RetryAfterException TaskRunError",
        "DedupeViolationError EvictionNotSupportedError MinEngineVersion",
    ),
    f"{ROOT}.runnables": _spec("", package=True),
    f"{ROOT}.runnables.eviction": _spec("DEFAULT_DURABLE_TASK_EVICTION_POLICY EvictionPolicy"),
    f"{ROOT}.runnables.task": _spec(
        "ConcurrencyExpression Condition Context DesiredWorkerLabel DurableContext "
        "EvictionPolicy OrGroup ParentCondition Priority SleepCondition Task UserEventCondition "
        "WorkerContext DependencyFunc Depends InvalidDependencyError",
    ),
    f"{ROOT}.runnables.types": _spec(
        "ConcurrencyExpression DefaultFilter EmptyModel Priority StatusBasedIdempotencyConfig "
        "StickyStrategy TTLBasedIdempotencyConfig TaskDefaults",
        "BatchMemberId BatchTaskConfig P R StepType TWorkflowInput TaskIOValidator WorkflowConfig",
    ),
    f"{ROOT}.runnables.workflow": _spec(
        "BaseWorkflow ConcurrencyExpression Condition Context CronWorkflows DesiredWorkerLabel "
        "DurableContext EmptyModel EvictionPolicy OrGroup Priority RateLimit Standalone Task "
        "ScheduleTriggerWorkflowOptions TaskDefaults TaskRunRef TriggerWorkflowOptions "
        "V1Filter V1TaskStatus V1TaskSummary Workflow WorkflowRunRef WorkflowRunTriggerConfig",
        "ComputedTaskParameters MCPProvider "
        "TypedTriggerWorkflowRunConfig "
        "WorkflowConfig WorkflowModel",
    ),
    f"{ROOT}.types": _spec(
        "ConcurrencyExpression ConcurrencyLimitStrategy DesiredWorkerLabel Priority "
        "RateLimit RateLimitDuration StickyStrategy WorkerLabelComparator",
        "SlotType",
        package=True,
    ),
    f"{ROOT}.types.concurrency": _spec("ConcurrencyExpression ConcurrencyLimitStrategy"),
    f"{ROOT}.types.idempotency": _spec(
        "IdempotencyMethod StatusBasedIdempotencyConfig TTLBasedIdempotencyConfig"
    ),
    f"{ROOT}.types.priority": _spec("Priority"),
    f"{ROOT}.types.labels": _spec("DesiredWorkerLabel WorkerLabel WorkerLabelComparator"),
    f"{ROOT}.types.sticky": _spec("StickyStrategy"),
    f"{ROOT}.labels": _spec("DesiredWorkerLabel WorkerLabel"),
    f"{ROOT}.types.rate_limit": _spec("RateLimit RateLimitDuration"),
    f"{ROOT}.rate_limit": _spec("RateLimit RateLimitDuration"),
    f"{ROOT}.types.trigger": _spec(
        "BulkPushEventOptions BulkPushEventWithMetadata DesiredWorkerLabel Priority "
        "PushEventOptions ScheduleTriggerWorkflowOptions TriggerWorkflowOptions "
        "WorkflowRunTriggerConfig",
    ),
    f"{ROOT}.worker": _spec("", package=True),
    f"{ROOT}.worker.worker": _spec(
        "BaseWorkflow LifespanFn LifespanGenerator LifespanSetupError LoopAlreadyRunningError "
        "Task Worker WorkerLabel",
        "ClientConfig SlotType WorkerStartOptions WorkerStatus",
    ),
    f"{ROOT}.workflow_run": _spec(
        "FailedTaskRunExceptionGroup RunEventListener RunEventListenerClient TaskRunError "
        "WorkflowRunRef",
    ),
}


def served_markdown() -> str:
    """docs/hatchet-compatibility.md's "What is served" table, made from ``MODULES`` (a
    test holds the page to it, so the page cannot drift from what the alias serves)."""
    lines = ["| hatchet_sdk module | Served (flowsim's objects) |", "|---|---|"]
    for path, spec in MODULES.items():
        if spec.served:
            names = ", ".join(f"`{name}`" for name in sorted(spec.served, key=str.lower))
            lines.append(f"| `{path}` | {names} |")
    return "\n".join(lines)
