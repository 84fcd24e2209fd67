"""What flowsim does not model is refused by name, never stubbed: a hatchet_sdk name of an
unmodelled feature raises UnsupportedHatchetImportError naming the symbol and the feature,
and an option of one raises UnsupportedFeatureError naming the option.

The feature tests below are the proof column of the "not" rows in
docs/hatchet-compatibility.md: if flowsim starts modelling one of these features, its test
fails here and the table row must change with it."""

import importlib
from datetime import UTC, datetime, timedelta
from types import ModuleType

import pytest

import flowsim
from flowsim import BulkPushEventWithMetadata as FlowsimBulkPushEvent
from flowsim import (
    Context,
    EmptyModel,
    Hatchet,
    NotModelledAttributeError,
    Standalone,
    UnsupportedFeatureError,
    WorkflowDefinitionError,
)
from flowsim import IdempotencyCollisionError as FlowsimIdempotencyCollisionError
from flowsim import TTLBasedIdempotencyConfig as FlowsimTTLConfig
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
        ("from hatchet_sdk import SlotType", "hatchet_sdk.SlotType", "slot types"),
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
            "from hatchet_sdk.exceptions import DedupeViolationError",
            "hatchet_sdk.exceptions.DedupeViolationError",
            "de-duplication",
        ),
        (
            "from hatchet_sdk.hatchet import FiltersClient",
            "hatchet_sdk.hatchet.FiltersClient",
            "hatchet.filters are served",
        ),
        (
            "from hatchet_sdk.worker.worker import WorkerStartOptions",
            "hatchet_sdk.worker.worker.WorkerStartOptions",
            "worker start options",
        ),
        ("import hatchet_sdk.features.runs", "hatchet_sdk.features", "hatchet.runs"),
        (
            "from hatchet_sdk.clients.rest.models.v1_log_line_list import V1LogLineList",
            "hatchet_sdk.clients.rest.models.v1_log_line_list",
            "REST API",
        ),
        (
            "from hatchet_sdk.clients.rest import V1LogLineList",
            "hatchet_sdk.clients.rest.V1LogLineList",
            "REST API",
        ),
        (
            "from hatchet_sdk.clients.rest.models import V1TaskFilter",
            "hatchet_sdk.clients.rest.models.V1TaskFilter",
            "REST API",
        ),
        ("import hatchet_sdk.clients.rest.api", "hatchet_sdk.clients.rest.api", "REST API"),
        (
            "from hatchet_sdk.features.runs import RunsClient",
            "hatchet_sdk.features",
            "the clients of a Hatchet server",
        ),
        (
            "from hatchet_sdk.worker.durable_eviction import DurableEvictionManager",
            "hatchet_sdk.worker.durable_eviction",
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
        from hatchet_sdk import DedupeViolationError  # noqa: F401
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

    error = refusal("from hatchet_sdk import DedupeViolationError")
    copy = pickle.loads(pickle.dumps(error))
    assert (type(copy), str(copy), copy.symbol) == (type(error), str(error), error.symbol)


def test_refusals_carry_import_errors_fields(hatchet_sdk: ModuleType) -> None:
    name = refusal("from hatchet_sdk.exceptions import DedupeViolationError")
    assert (name.name, name.is_module) == ("hatchet_sdk.exceptions", False)
    module = refusal("import hatchet_sdk.config")
    assert (module.name, module.is_module) == ("hatchet_sdk.config", True)


def test_the_table_is_consistent() -> None:
    for name, spec in table.MODULES.items():
        assert not set(spec.served) & spec.refused, name
        assert spec.refused <= set(table.REFUSED_NAMES), name
        parent = name.rpartition(".")[0]
        assert not parent or table.MODULES[parent].package, f"{name}: parent not a package"
    assert set(table.REFUSED_NAMES.values()) <= set(FEATURES)
    assert set(table.REFUSED_MODULES.values()) <= set(FEATURES)
    # a module both served and refused is a package serving a few names of a feature
    # refused as a whole: its other names and submodules are refused as that feature
    for name in set(table.MODULES) & set(table.REFUSED_MODULES):
        assert table.MODULES[name].others == table.REFUSED_MODULES[name], name
    for module, name in table.HINTS:
        assert name in table.MODULES[module].refused


# ---------------------------------------------------------------- features (the "not" rows)


def test_concurrency_strategies_and_options_not_modelled_are_refused_by_name(
    hatchet_sdk: ModuleType, hatchet: Hatchet
) -> None:
    from hatchet_sdk import ConcurrencyExpression, ConcurrencyLimitStrategy

    for strategy in ("QUEUE_NEWEST", "QUEUE_OLDEST"):  # in the SDK's enum, not the engine's
        limit = ConcurrencyExpression(
            expression="input.group",
            max_runs=1,
            limit_strategy=ConcurrencyLimitStrategy(strategy),
        )
        with pytest.raises(UnsupportedFeatureError, match=f"strategy {strategy} .* engine"):
            hatchet.workflow(name="limited", concurrency=limit)


def test_rate_limits_are_served_and_pausing_or_listing_keys_is_refused_by_name(
    hatchet_sdk: ModuleType, hatchet: Hatchet
) -> None:
    from datetime import UTC, datetime

    from hatchet_sdk import RateLimit, RateLimitDuration
    from hatchet_sdk.rate_limit import RateLimit as FromRateLimit
    from hatchet_sdk.types.rate_limit import RateLimitDuration as FromTypes

    assert (RateLimit, RateLimitDuration) == (FromRateLimit, FromTypes)
    with pytest.raises(WorkflowDefinitionError, match="must be RateLimit"):
        hatchet.workflow(name="limited").task(rate_limits=[object()])
    with pytest.raises(UnsupportedFeatureError, match="pausing keys"):
        hatchet.rate_limits.pause("key", datetime.now(UTC))
    with pytest.raises(UnsupportedFeatureError, match="listing them"):
        hatchet.rate_limits.list()


def test_per_trigger_placement_that_hatchet_ignores_is_refused(
    hatchet_sdk: ModuleType, hatchet: Hatchet
) -> None:
    """Labels and sticky strategies are served; a trigger's labels for a sticky workflow
    (Hatchet's scheduler ignores them) and a worker id without sticky=True (hatchet_sdk
    drops it) do nothing in Hatchet, and are refused saying so."""
    from hatchet_sdk import DesiredWorkerLabel, StickyStrategy, WorkerContext  # served

    assert (StickyStrategy.HARD.value, WorkerContext.__name__) == ("HARD", "WorkerContext")
    placed = hatchet.workflow(name="placed", sticky=StickyStrategy.SOFT)
    placed.task()(lambda input, ctx: None)
    with pytest.raises(UnsupportedFeatureError, match="desired_worker_labels"):
        placed.run(
            desired_worker_labels=[DesiredWorkerLabel(key="gpu", value="a100")],
            wait_for_result=False,
        )
    with pytest.raises(UnsupportedFeatureError, match="desired_worker_id"):
        placed.run(desired_worker_id="worker-1", wait_for_result=False)


def test_the_filters_api_is_served_and_namespaces_are_refused_by_name(
    hatchet_sdk: ModuleType, hatchet: Hatchet
) -> None:
    refusal("from hatchet_sdk.hatchet import FiltersClient")  # the class; hatchet.filters is
    from hatchet_sdk import BulkPushEventOptions, DefaultFilter, PushEventOptions  # served
    from hatchet_sdk.clients.events import BulkPushEventWithMetadata  # as Hatchet's example
    from hatchet_sdk.clients.rest.models.v1_filter import V1Filter
    from hatchet_sdk.clients.rest.models.v1_update_filter_request import V1UpdateFilterRequest
    from hatchet_sdk.hatchet import EventClient

    assert BulkPushEventWithMetadata is FlowsimBulkPushEvent

    assert isinstance(hatchet.event, EventClient)
    with pytest.raises(UnsupportedFeatureError, match="namespace"):
        hatchet.event.push("k", {}, options=PushEventOptions(namespace="ns"))
    with pytest.raises(UnsupportedFeatureError, match="namespace"):
        hatchet.event.bulk_push([], options=BulkPushEventOptions(namespace="ns"))
    assert DefaultFilter(expression="true", scope="s").payload == {}
    workflow = hatchet.workflow(name="filtered", on_events=["k"])
    made = hatchet.filters.create(workflow.id, "input.x == 1", "s", {"p": 1})
    assert isinstance(made, V1Filter) and made.workflow_id == workflow.id
    changed = hatchet.filters.update(made.metadata.id, V1UpdateFilterRequest(scope="t"))
    assert (changed.scope, changed.expression) == ("t", "input.x == 1")


def test_the_cron_api_is_served_with_hatchets_rest_models(
    hatchet_sdk: ModuleType, hatchet: Hatchet
) -> None:
    from hatchet_sdk.clients.rest.models.cron_workflows import CronWorkflows
    from hatchet_sdk.clients.rest.models.cron_workflows_list import CronWorkflowsList
    from hatchet_sdk.clients.rest.models.cron_workflows_method import CronWorkflowsMethod
    from hatchet_sdk.clients.rest.models.cron_workflows_order_by_field import (
        CronWorkflowsOrderByField,
    )
    from hatchet_sdk.clients.rest.models.workflow_run_order_by_direction import (
        WorkflowRunOrderByDirection,
    )

    @hatchet.task(name="nightly")
    def nightly(input: EmptyModel, ctx: Context) -> None:
        return None

    # Hatchet's examples/cron/programatic-sync.py, its calls as written there
    cron_trigger = nightly.create_cron(
        cron_name="customer-a-daily-report",
        expression="0 12 * * *",
        input=EmptyModel(),
        additional_metadata={"customer_id": "customer-a"},
    )
    assert isinstance(cron_trigger, CronWorkflows)
    cron_triggers = hatchet.cron.list(
        order_by_field=CronWorkflowsOrderByField.CREATEDAT,
        order_by_direction=WorkflowRunOrderByDirection.DESC,
    )
    assert isinstance(cron_triggers, CronWorkflowsList)
    assert cron_triggers.rows == [cron_trigger]
    got = hatchet.cron.get(cron_id=cron_trigger.metadata.id)
    assert got.method is CronWorkflowsMethod.API
    hatchet.cron.delete(cron_id=cron_trigger.metadata.id)
    assert hatchet.cron.list().rows == []


def test_scheduled_options_are_served_and_a_scheduled_child_is_refused(
    hatchet_sdk: ModuleType, hatchet: Hatchet
) -> None:
    from hatchet_sdk import ScheduleTriggerWorkflowOptions, TriggerWorkflowOptions
    from hatchet_sdk.hatchet import CronClient, ScheduledClient  # served

    assert isinstance(hatchet.cron, CronClient)
    assert isinstance(hatchet.scheduled, ScheduledClient)
    assert issubclass(TriggerWorkflowOptions, ScheduleTriggerWorkflowOptions)  # as there
    later = hatchet.workflow(name="later", default_additional_metadata={"team": "a"})
    later.task()(lambda input, ctx: None)
    when = datetime.now(UTC) + timedelta(hours=1)
    options = ScheduleTriggerWorkflowOptions(additional_metadata={"k": "v"}, priority=3)
    with pytest.warns(DeprecationWarning, match="Passing options to the run\\(\\), schedule"):
        scheduled = later.schedule(when, options=options, priority=1)  # options win, as there
    view = hatchet.runs.view(scheduled.workflow_run_id)
    assert (view.additional_metadata, view.priority) == ({"team": "a", "k": "v"}, 3)
    with pytest.raises(UnsupportedFeatureError, match="child_key='one' is not modelled"):
        later.schedule(when, child_key="one")
    with pytest.raises(UnsupportedFeatureError, match="parent_id='p' is not modelled"):
        later.schedule(when, options=ScheduleTriggerWorkflowOptions(parent_id="p"))
    for field, value in (("parent_step_run_id", "s"), ("child_index", 2), ("namespace", "ns")):
        options = TriggerWorkflowOptions(**{field: value})
        with pytest.raises(UnsupportedFeatureError, match=f"options {field}=.* not modelled"):
            later.run(options=options, wait_for_result=False)
        with pytest.raises(UnsupportedFeatureError, match=f"options {field}=.* not modelled"):
            later.create_bulk_run_item(options=options)


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


def test_branching_a_durable_task_is_refused_by_name_and_replay_is_served(
    hatchet_sdk: ModuleType, hatchet: Hatchet
) -> None:
    from hatchet_sdk import BulkCancelReplayOpts, RunFilter

    from flowsim.sdk import runs

    assert RunFilter is runs.RunFilter
    refusal("from hatchet_sdk.features.runs import RunsClient")
    for name in ("reset_durable_task", "aio_reset_durable_task"):
        refused_attribute(hatchet.runs, name, rf"hatchet\.runs\.{name} belongs to")
    for name in ("replay", "aio_bulk_replay", "bulk_cancel_by_filters_with_pagination"):
        assert callable(getattr(hatchet.runs, name))
    with pytest.raises(ValueError, match="ids or filters must be set"):
        BulkCancelReplayOpts()
    with pytest.raises(ValueError, match="since"):
        BulkCancelReplayOpts(filters={"until": "yesterday"})


def test_durable_eviction_internals_are_refused_by_name(hatchet_sdk: ModuleType) -> None:
    refusal("from hatchet_sdk import EvictionNotSupportedError")
    refusal("from hatchet_sdk.context.context import SleepResult")


def test_dedupe_is_refused_by_name_and_idempotency_is_served(hatchet_sdk: ModuleType) -> None:
    refusal("from hatchet_sdk import DedupeViolationError")
    refusal("from hatchet_sdk.clients.admin import DedupeViolationError")
    from hatchet_sdk import IdempotencyCollisionError, TTLBasedIdempotencyConfig
    from hatchet_sdk.types.idempotency import IdempotencyMethod

    assert IdempotencyCollisionError is FlowsimIdempotencyCollisionError
    assert TTLBasedIdempotencyConfig is FlowsimTTLConfig
    assert IdempotencyMethod("STATUS").value == "STATUS"


def test_server_configuration_and_apis_are_refused_by_name(
    hatchet_sdk: ModuleType, hatchet: Hatchet
) -> None:
    refusal("from hatchet_sdk import ClientConfig")
    refusal("from hatchet_sdk.config import ClientConfig")
    refusal("from hatchet_sdk import WorkflowRunList")
    for api in ("workflows", "workers", "logs", "metrics", "webhooks", "cel"):
        refused_attribute(hatchet, api, rf"hatchet\.{api} belongs to a Hatchet server's REST")
    for name in ("config", "tenant_id", "stubs", "from_embedded"):
        refused_attribute(hatchet, name, rf"hatchet\.{name} .*connection to a Hatchet server")


@pytest.fixture
def unit(hatchet: Hatchet) -> Standalone[dict[str, int]]:
    """A standalone task to look refused names up on."""

    @hatchet.task(name="unit")
    def unit(input: EmptyModel, ctx: Context) -> dict[str, int]:
        return {"n": 1}

    return unit


def test_server_side_workflow_management_is_refused_by_name(
    unit: Standalone[dict[str, int]],
) -> None:
    for missing in ("list_runs", "pause", "delete"):
        refused_attribute(unit, missing, rf"workflow 'unit'\.{missing} .*hatchet\.runs\.views")
    refused_attribute(unit, "config", r"workflow 'unit'\.config .*WorkflowConfig.*wf\.name")


def test_server_records_and_streams_of_the_other_clients_are_refused_by_name(
    hatchet: Hatchet, unit: Standalone[dict[str, int]]
) -> None:
    for name in ("get", "list", "update", "bulk_delete", "aio_bulk_update"):
        refused_attribute(hatchet.scheduled, name, r"hatchet\.runs\.view\(scheduled\.id\)")
    for name in ("get", "list"):
        refused_attribute(hatchet.event, name, r"Event\.workflow_run_ids")
    refused_attribute(hatchet.event, "log", r"log with ctx\.log")


async def test_context_names_of_unmodelled_features_are_refused_by_name(
    hatchet: Hatchet,
) -> None:
    refused: dict[str, str] = {}

    @hatchet.task(name="curious")
    async def curious(input: EmptyModel, ctx: Context) -> None:
        for name in ("pause_rate_limit", "trigger_data", "workflow_id"):
            with pytest.raises(NotModelledAttributeError) as caught:
                getattr(ctx, name)
            refused[name] = str(caught.value)

    async with hatchet.worker("w", slots=1, workflows=[curious]):
        await curious.aio_run()
    assert "hatchet.rate_limits.put" in refused["pause_rate_limit"]
    assert "in its input" in refused["trigger_data"]
    assert "server's workflow ids" in refused["workflow_id"]


def refused_attribute(obj: object, name: str, message: str) -> None:
    """Looking ``name`` up raises NotModelledAttributeError with ``message``; it is an
    AttributeError as well, so ``hasattr`` says no and ``getattr`` takes a default."""
    with pytest.raises(NotModelledAttributeError, match=message) as caught:
        getattr(obj, name)
    assert isinstance(caught.value, UnsupportedFeatureError | AttributeError)
    assert (caught.value.name, caught.value.obj) == (name, obj)
    assert not hasattr(obj, name)
    assert getattr(obj, name, "default") == "default"


def test_worker_start_options_are_refused_and_the_loop_error_is_served(
    hatchet_sdk: ModuleType,
) -> None:
    refusal("from hatchet_sdk.worker.worker import WorkerStartOptions")
    from hatchet_sdk.exceptions import LoopAlreadyRunningError
    from hatchet_sdk.worker.worker import LoopAlreadyRunningError as FromWorker

    assert LoopAlreadyRunningError is FromWorker is flowsim.LoopAlreadyRunningError
