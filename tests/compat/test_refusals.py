"""What flowsim does not model is refused by name, never stubbed: a hatchet_sdk name of an
unmodelled feature raises UnsupportedHatchetImportError naming the symbol and the feature,
and an option of one raises UnsupportedFeatureError naming the option.

The feature tests below are the proof column of the "not" rows in
docs/hatchet-compatibility.md: if flowsim starts modelling one of these features, its test
fails here and the table row must change with it."""

import importlib
from types import ModuleType

import pytest

from flowsim import (
    Context,
    EmptyModel,
    FailedTaskRunExceptionGroup,
    Hatchet,
    UnsupportedFeatureError,
)
from flowsim.compat import (
    UnknownHatchetModuleError,
    UnknownHatchetNameError,
    UnsupportedHatchetImportError,
    table,
)
from flowsim.compat.features import DOCS, FEATURES

#: Every public name of hatchet_sdk 1.43.1's top-level module (from PyPI), as a snapshot
#: independent of flowsim/compat/table.py: each must be served or refused by name.
HATCHET_SDK_1_43_1 = """
APIError APIErrors APIMeta APIMetaAuth APIMetaIntegration APIResourceMeta APIToken
AcceptInviteRequest BulkCancelReplayOpts BulkPushEventOptions BulkPushEventWithMetadata
BulkTriggerIdempotencyCollisionError CELEvaluationResult CELFailure CELSuccess ClientConfig
ClientTLSConfig ConcurrencyExpression ConcurrencyLimitStrategy Condition Context
CreateAPITokenRequest CreateAPITokenResponse CreatePullRequestFromStepRun
CreateTenantInviteRequest CreateTenantRequest CreateWorkflowVersionOpts DedupeViolationError
DefaultFilter Depends DesiredWorkerLabel DurableContext EmbeddedHatchetConfig EmptyModel Event
EventData EventKeyList EventList EventOrderByDirection EventOrderByField
EventWorkflowRunSummary EvictionNotSupportedError EvictionPolicy FailedTaskRunExceptionGroup
GetStepRunDiffResponse Hatchet HealthcheckConfig IdempotencyCollisionError Job JobRun
JobRunStatus ListAPITokensResponse ListPullRequestsResponse LogLine LogLineLevel LogLineList
LogLineOrderByDirection LogLineOrderByField NonDeterminismError NonRetryableException
OTelAttribute OpenTelemetryConfig OrGroup PaginationResponse ParentCondition Priority
PullRequest PullRequestState PushEventOptions RateLimit RateLimitDuration RejectInviteRequest
ReplayEventRequest RerunStepRunRequest RetryAfterException RunEventListener RunFilter
RunStatus ScheduleTriggerWorkflowOptions SleepCondition SlotType StatusBasedIdempotencyConfig
StepRun StepRunDiff StepRunEventType StepRunStatus StickyStrategy TTLBasedIdempotencyConfig
Task TaskDefaults TaskRunError TaskRunRef TenacityConfig Tenant TenantInvite TenantInviteList
TenantList TenantMember TenantMemberList TenantMemberRole TriggerWorkflowOptions
TriggerWorkflowRunRequest UpdateTenantInviteRequest User UserEventCondition UserLoginRequest
UserRegisterRequest UserTenantMembershipsList UserTenantPublic V1TaskStatus
V1WebhookHMACAlgorithm V1WebhookHMACEncoding V1WebhookSourceName Worker WorkerContext
WorkerLabel WorkerLabelComparator WorkerList WorkerStartOptions WorkerStatus Workflow
WorkflowConfig WorkflowList WorkflowRun WorkflowRunEventType WorkflowRunList WorkflowRunRef
WorkflowRunStatus WorkflowRunTriggerConfig WorkflowRunTriggeredBy WorkflowTag
WorkflowTriggerCronRef WorkflowTriggerEventRef WorkflowTriggers WorkflowVersion
WorkflowVersionDefinition WorkflowVersionMeta is_in_hatchet_serialization_context or_
remove_null_unicode_character
""".split()  # noqa: SIM905 - a snapshot, easier to compare as text


def refusal(statement: str) -> UnsupportedHatchetImportError:
    with pytest.raises(UnsupportedHatchetImportError) as caught:
        exec(statement, {})
    return caught.value


# ---------------------------------------------------------------- imports


def test_every_hatchet_sdk_export_is_served_or_refused_by_name(hatchet_sdk: ModuleType) -> None:
    assert len(HATCHET_SDK_1_43_1) == 140
    for name in HATCHET_SDK_1_43_1:
        try:
            getattr(hatchet_sdk, name)
        except UnsupportedHatchetImportError as error:
            assert error.symbol == f"hatchet_sdk.{name}"
            assert FEATURES[error.feature] in str(error)
    spec = table.MODULES["hatchet_sdk"]
    assert set(spec.served) | spec.refused == set(HATCHET_SDK_1_43_1)


@pytest.mark.parametrize(
    ("statement", "symbol", "feature"),
    [
        ("from hatchet_sdk import RateLimit", "hatchet_sdk.RateLimit", "rate limits"),
        (
            "from hatchet_sdk import ConcurrencyExpression",
            "hatchet_sdk.ConcurrencyExpression",
            "concurrency limits",
        ),
        (
            "from hatchet_sdk import ClientConfig",
            "hatchet_sdk.ClientConfig",
            "client configuration",
        ),
        (
            "from hatchet_sdk import DedupeViolationError",
            "hatchet_sdk.DedupeViolationError",
            "de-duplication",
        ),
        (
            "from hatchet_sdk.exceptions import RetryAfterException",
            "hatchet_sdk.exceptions.RetryAfterException",
            "delayed retries",
        ),
        (
            "from hatchet_sdk.runnables.types import TaskDefaults",
            "hatchet_sdk.runnables.types.TaskDefaults",
            "task defaults",
        ),
        (
            "from hatchet_sdk.runnables.task import Depends",
            "hatchet_sdk.runnables.task.Depends",
            "dependency injection",
        ),
        ("import hatchet_sdk.features.runs", "hatchet_sdk.features", "hatchet.runs"),
        (
            "from hatchet_sdk.clients.rest.models.v1_task_status import V1TaskStatus",
            "hatchet_sdk.clients.rest",
            "REST API",
        ),
        ("from hatchet_sdk.rate_limit import RateLimit", "hatchet_sdk.rate_limit", "rate limits"),
        (
            "from hatchet_sdk.runnables.eviction import EvictionPolicy",
            "hatchet_sdk.runnables.eviction",
            "eviction",
        ),
    ],
)
def test_unsupported_names_fail_on_import_naming_symbol_and_feature(
    hatchet_sdk: ModuleType, statement: str, symbol: str, feature: str
) -> None:
    error = refusal(statement)
    assert isinstance(error, UnsupportedFeatureError) and isinstance(error, ImportError)
    assert error.symbol == symbol
    assert f"{symbol} is not available under flowsim" in str(error)
    assert feature in str(error) and DOCS in str(error)


def test_top_level_workflow_is_the_rest_model_and_the_refusal_says_where_the_runnable_is(
    hatchet_sdk: ModuleType,
) -> None:
    error = refusal("from hatchet_sdk import Workflow")
    assert "hatchet_sdk.runnables.workflow.Workflow" in str(error)
    from hatchet_sdk.runnables.workflow import Workflow

    assert Workflow is importlib.import_module("flowsim").Workflow


def test_except_import_error_guards_see_a_refusal_as_a_missing_name(
    hatchet_sdk: ModuleType,
) -> None:
    try:
        from hatchet_sdk import RateLimit  # noqa: F401
    except ImportError:
        guarded = True
    else:
        guarded = False
    assert guarded


def test_names_hatchet_sdk_does_not_have_are_ordinary_missing_names(
    hatchet_sdk: ModuleType,
) -> None:
    assert not hasattr(hatchet_sdk, "RateLimt")  # a typo: AttributeError, so hasattr works
    with pytest.raises(UnknownHatchetNameError, match="'RateLimt'"):
        hatchet_sdk.RateLimt  # noqa: B018
    with pytest.raises(ImportError, match="cannot import name 'RateLimt'"):
        exec("from hatchet_sdk import RateLimt", {})
    with pytest.raises(UnknownHatchetModuleError, match=r"'hatchet_sdk\.nothing_here'"):
        importlib.import_module("hatchet_sdk.nothing_here")


def test_refusals_pickle(hatchet_sdk: ModuleType) -> None:
    import pickle

    error = refusal("from hatchet_sdk import RateLimit")
    copy = pickle.loads(pickle.dumps(error))
    assert (type(copy), str(copy), copy.symbol) == (type(error), str(error), error.symbol)


def test_refusals_carry_import_errors_fields(hatchet_sdk: ModuleType) -> None:
    name = refusal("from hatchet_sdk.exceptions import RetryAfterException")
    assert (name.name, name.is_module) == ("hatchet_sdk.exceptions", False)
    module = refusal("import hatchet_sdk.labels")
    assert (module.name, module.is_module) == ("hatchet_sdk.labels", True)


def test_the_table_is_consistent() -> None:
    for name, spec in table.MODULES.items():
        assert not set(spec.served) & spec.refused, name
        assert spec.refused <= set(table.REFUSED_NAMES), name
        parent = name.rpartition(".")[0]
        assert not parent or table.MODULES[parent].package, f"{name}: parent not a package"
    assert set(table.REFUSED_NAMES.values()) <= set(FEATURES)
    assert set(table.REFUSED_MODULES.values()) <= set(FEATURES)
    assert not set(table.MODULES) & set(table.REFUSED_MODULES)
    for module, name in table.HINTS:
        assert name in table.MODULES[module].refused


# ---------------------------------------------------------------- features (the "not" rows)


def test_concurrency_is_refused_by_name(hatchet_sdk: ModuleType, hatchet: Hatchet) -> None:
    refusal("from hatchet_sdk import ConcurrencyExpression, ConcurrencyLimitStrategy")
    with pytest.raises(UnsupportedFeatureError, match="concurrency"):
        hatchet.workflow(name="limited", concurrency=2)
    with pytest.raises(UnsupportedFeatureError, match="concurrency"):
        hatchet.workflow(name="tasks").task(concurrency=2)


def test_rate_limits_are_refused_by_name(hatchet_sdk: ModuleType, hatchet: Hatchet) -> None:
    refusal("from hatchet_sdk import RateLimit, RateLimitDuration")
    with pytest.raises(UnsupportedFeatureError, match="rate_limits"):
        hatchet.workflow(name="limited").task(rate_limits=[object()])


def test_worker_affinity_is_refused_by_name(hatchet_sdk: ModuleType, hatchet: Hatchet) -> None:
    refusal("from hatchet_sdk import DesiredWorkerLabel")
    refusal("from hatchet_sdk import WorkerLabelComparator")
    refusal("from hatchet_sdk import WorkerContext")  # ctx.worker, with its runtime labels
    with pytest.raises(UnsupportedFeatureError, match="desired_worker_labels"):
        hatchet.task(name="placed", desired_worker_labels={"gpu": object()})


def test_sticky_assignment_is_refused_by_name(hatchet_sdk: ModuleType, hatchet: Hatchet) -> None:
    refusal("from hatchet_sdk import StickyStrategy")
    with pytest.raises(UnsupportedFeatureError, match="sticky"):
        hatchet.workflow(name="sticky", sticky="SOFT")


def test_event_filters_and_bulk_pushes_are_refused_by_name(
    hatchet_sdk: ModuleType, hatchet: Hatchet
) -> None:
    refusal("from hatchet_sdk import DefaultFilter")
    refusal("from hatchet_sdk import BulkPushEventWithMetadata")
    from hatchet_sdk import PushEventOptions  # served
    from hatchet_sdk.hatchet import EventClient

    assert isinstance(hatchet.event, EventClient)
    with pytest.raises(UnsupportedFeatureError, match="namespace"):
        hatchet.event.push("k", {}, options=PushEventOptions(namespace="ns"))
    with pytest.raises(UnsupportedFeatureError, match="default_filters"):
        hatchet.task(name="filtered", on_events=["k"], default_filters=[object()])
    with pytest.raises(UnsupportedFeatureError, match="bulk_push"):
        hatchet.event.bulk_push([])


def test_scheduled_options_and_deleting_a_schedule_are_refused_by_name(
    hatchet_sdk: ModuleType, hatchet: Hatchet
) -> None:
    refusal("from hatchet_sdk import ScheduleTriggerWorkflowOptions")
    from hatchet_sdk.hatchet import CronClient, ScheduledClient  # served

    assert isinstance(hatchet.cron, CronClient)
    assert isinstance(hatchet.scheduled, ScheduledClient)
    with pytest.raises(UnsupportedFeatureError, match="cancellation"):
        hatchet.scheduled.delete("some-id")


def test_conditions_are_served(hatchet_sdk: ModuleType, hatchet: Hatchet) -> None:
    from hatchet_sdk import ParentCondition, SleepCondition, UserEventCondition, or_
    from hatchet_sdk.conditions import Action

    from flowsim.sdk import conditions

    assert (SleepCondition, UserEventCondition, ParentCondition, or_) == (
        conditions.SleepCondition, conditions.UserEventCondition,
        conditions.ParentCondition, conditions.or_,
    )  # fmt: skip
    assert Action.SKIP.value == 3
    with pytest.raises(TypeError, match="wait_for"):
        hatchet.task(wait_for=[SleepCondition(1)])  # hatchet.task has no such option


def test_bulk_cancel_and_replay_are_refused_by_name(
    hatchet_sdk: ModuleType, hatchet: Hatchet
) -> None:
    refusal("from hatchet_sdk import BulkCancelReplayOpts")
    refusal("from hatchet_sdk.features.runs import RunsClient")
    assert not hasattr(hatchet.runs, "bulk_cancel") and not hasattr(hatchet.runs, "replay")


def test_durable_eviction_is_refused_by_name(hatchet_sdk: ModuleType, hatchet: Hatchet) -> None:
    refusal("from hatchet_sdk import EvictionPolicy")
    refusal("from hatchet_sdk import NonDeterminismError")
    with pytest.raises(UnsupportedFeatureError, match="eviction_policy"):
        hatchet.durable_task(name="evictable", eviction_policy=object())


async def test_streaming_is_refused_by_name(hatchet: Hatchet) -> None:
    @hatchet.task(name="streamer")
    def streamer(input: EmptyModel, ctx: Context) -> None:
        ctx.put_stream("chunk")

    async with hatchet.worker("w", slots=1, workflows=[streamer]):
        with pytest.raises(FailedTaskRunExceptionGroup, match=r"ctx.put_stream\(\)"):
            await streamer.aio_run()


def test_idempotency_and_dedupe_are_refused_by_name(
    hatchet_sdk: ModuleType, hatchet: Hatchet
) -> None:
    refusal("from hatchet_sdk import TTLBasedIdempotencyConfig")
    refusal("from hatchet_sdk import IdempotencyCollisionError")
    refusal("from hatchet_sdk import DedupeViolationError")
    with pytest.raises(UnsupportedFeatureError, match="idempotency"):
        hatchet.workflow(name="once", idempotency=object())


def test_lifespans_and_dependency_injection_are_refused_by_name(
    hatchet_sdk: ModuleType, hatchet: Hatchet
) -> None:
    refusal("from hatchet_sdk import Depends")
    refusal("from hatchet_sdk.worker.worker import LifespanFn")
    with pytest.raises(UnsupportedFeatureError, match="lifespan"):
        hatchet.worker("w", lifespan=object())


def test_server_configuration_and_apis_are_refused_by_name(
    hatchet_sdk: ModuleType, hatchet: Hatchet
) -> None:
    refusal("from hatchet_sdk import ClientConfig")
    refusal("from hatchet_sdk.config import ClientConfig")
    refusal("from hatchet_sdk import V1TaskStatus")
    for api in ("workflows", "workers", "logs", "metrics"):
        with pytest.raises(AttributeError, match=f"'{api}'"):
            getattr(hatchet, api)


def test_mock_run_is_not_defined(hatchet: Hatchet) -> None:
    @hatchet.task(name="unit")
    def unit(input: EmptyModel, ctx: Context) -> dict[str, int]:
        return {"n": 1}

    for missing in ("mock_run", "aio_mock_run"):
        with pytest.raises(AttributeError, match=f"'{missing}'"):
            getattr(unit, missing)
