"""Bad definitions fail at definition time with a message that says what to change."""

from typing import Any

import pytest
from pydantic import BaseModel

from flowsim import (
    ConfigurationError,
    Context,
    EmptyModel,
    Hatchet,
    TriggerWorkflowOptions,
    UnsupportedFeatureError,
    WorkflowDefinitionError,
)
from flowsim.errors import InvalidInputError
from flowsim.sdk.task import validate_input, validate_inputs


def test_a_parent_from_another_workflow_is_rejected(hatchet: Hatchet) -> None:
    first = hatchet.workflow(name="first")
    second = hatchet.workflow(name="second")

    @first.task()
    def a(input: EmptyModel, ctx: Context) -> None: ...

    with pytest.raises(WorkflowDefinitionError, match="a task of another workflow"):

        @second.task(parents=[a])
        def b(input: EmptyModel, ctx: Context) -> None: ...


def test_a_cycle_is_rejected_naming_its_tasks(hatchet: Hatchet) -> None:
    wf = hatchet.workflow(name="loopy")

    @wf.task(parents=["b"])
    def a(input: EmptyModel, ctx: Context) -> None: ...

    with pytest.raises(WorkflowDefinitionError, match=r"cycle \((a -> b -> a|b -> a -> b)\)"):

        @wf.task(parents=[a])
        def b(input: EmptyModel, ctx: Context) -> None: ...


def test_an_unknown_parent_name_is_rejected_before_anything_runs(hatchet: Hatchet) -> None:
    wf = hatchet.workflow(name="typo")

    @wf.task(parents=["stpe1"])
    def step2(input: EmptyModel, ctx: Context) -> None: ...

    with pytest.raises(WorkflowDefinitionError, match="names parent 'stpe1'"):
        wf.run(wait_for_result=False)
    with pytest.raises(WorkflowDefinitionError, match="names parent 'stpe1'"):
        hatchet.worker("w", workflows=[wf])


def test_duplicate_task_names_and_empty_workflows_are_rejected(hatchet: Hatchet) -> None:
    wf = hatchet.workflow(name="dupes")

    @wf.task(name="Same")
    def one(input: EmptyModel, ctx: Context) -> None: ...

    with pytest.raises(WorkflowDefinitionError, match="already has a task named 'same'"):

        @wf.task(name="same")
        def two(input: EmptyModel, ctx: Context) -> None: ...

    with pytest.raises(WorkflowDefinitionError, match="has no tasks"):
        hatchet.workflow(name="empty").run(wait_for_result=False)


def test_invalid_settings_are_configuration_errors(hatchet: Hatchet) -> None:
    with pytest.raises(ConfigurationError, match="slots must be a whole number >= 1"):
        hatchet.worker("w", slots=0)
    with pytest.raises(ConfigurationError, match="retries must be >= 0"):
        hatchet.task(name="neg", retries=-1)(lambda i, c: None)
    with pytest.raises(ConfigurationError, match="execution_timeout"):
        hatchet.task(name="bad-timeout", execution_timeout="soon")(lambda i, c: None)
    with pytest.raises(ConfigurationError, match="took a task"):
        pass_task_not_workflow(hatchet)
    with pytest.raises(ConfigurationError, match="unknown flowsim backend URL 'redis://x'"):
        Hatchet("redis://x")


def pass_task_not_workflow(hatchet: Hatchet) -> None:
    wf = hatchet.workflow(name="holder")

    @wf.task()
    def inner(input: EmptyModel, ctx: Context) -> None: ...

    try:
        hatchet.worker("w", workflows=[inner])  # type: ignore[list-item]
    except ConfigurationError as exc:
        assert "passed a task" in str(exc)
        raise ConfigurationError("took a task") from exc


def test_unsupported_hatchet_options_are_refused_by_name(hatchet: Hatchet) -> None:
    with pytest.raises(UnsupportedFeatureError, match="desired_worker_id"):
        hatchet.task(name="placed", desired_worker_id="w-1")
    kept: dict[str, Any] = {"description": "harmless", "version": "1"}
    assert hatchet.workflow(name="ok", **kept).name == "ok"


def test_placement_options_are_refused_a_bad_eviction_policy_rejected_and_typos_are_type_errors(
    hatchet: Hatchet,
) -> None:
    @hatchet.task(name="placed")
    def placed(input: EmptyModel, ctx: Context) -> None:
        return None

    with pytest.raises(UnsupportedFeatureError, match="desired_worker_id"):
        placed.run(
            desired_worker_id="w-1", wait_for_result=False
        )  # without sticky=True: does nothing
    with pytest.raises(UnsupportedFeatureError, match="desired_worker_id"):
        placed.run_many([placed.create_bulk_run_item(desired_worker_id="w-1")])
    with pytest.raises(ConfigurationError, match=r"evictable.*eviction_policy must be"):
        hatchet.durable_task(name="evictable", eviction_policy=object())(_durable_body)
    with pytest.raises(TypeError, match=r"unexpected keyword argument.*nmae"):
        hatchet.task(nmae="typo")
    with pytest.raises(TypeError):
        placed.run(not_an_option=1, wait_for_result=False)  # type: ignore[call-arg]
    assert hatchet.runs.views() == []


def test_bulk_items_keep_hatchets_fields_and_refuse_placement_in_options(
    hatchet: Hatchet,
) -> None:
    from flowsim import TriggerWorkflowOptions

    @hatchet.task(name="bulk")
    def bulk(input: EmptyModel, ctx: Context) -> None:
        return None

    item = bulk.create_bulk_run_item(child_key="k", additional_metadata={"a": 1}, priority=3)
    assert (item.workflow_name, item.key) == ("bulk", None)
    assert item.options.child_key == "k" and item.options.additional_metadata == {"a": 1}
    assert item.options.priority == 3
    sticky = bulk.create_bulk_run_item(options=TriggerWorkflowOptions(sticky=True))
    assert sticky.sticky and sticky.options.sticky  # honoured: tests/sdk/test_placement.py
    unsent = bulk.create_bulk_run_item(options=TriggerWorkflowOptions(desired_worker_id="w"))
    assert unsent.options.desired_worker_id == "w"  # kept on the item, as in hatchet_sdk
    with pytest.raises(UnsupportedFeatureError, match="desired_worker_id"):
        bulk.run_many([unsent], wait_for_result=False)  # ... and refused without sticky


async def _durable_body(input: EmptyModel, ctx: Any) -> None:
    return None


class _Point(BaseModel):
    x: int
    label: str = "p"


class _TaggedPoint(_Point):
    tag: str = "t"


def test_bulk_inputs_are_stored_as_each_would_be_alone(hatchet: Hatchet) -> None:
    """A bulk trigger serializes inputs that are all the model's own instances in one call;
    a mix with dicts, or a subclass instance (its own fields kept), goes one by one: every
    way stores what a single trigger of the same input would."""
    wf = hatchet.workflow(name="bulk-inputs", input_validator=_Point)
    cases: list[list[Any]] = [
        [_Point(x=i) for i in range(3)],
        [_Point(x=1), {"x": 2, "label": "d"}, _Point(x=3, label="q")],
        [_Point(x=1), _TaggedPoint(x=2)],
    ]
    for inputs in cases:
        assert validate_inputs(wf, inputs) == [validate_input(wf, value) for value in inputs]
    assert validate_inputs(wf, cases[2])[1] == {"x": 2, "label": "p", "tag": "t"}
    with pytest.raises(InvalidInputError, match="bulk-inputs"):
        validate_inputs(wf, [_Point(x=1), {"x": "not a number"}])


def _the_one_deprecation(caught: pytest.WarningsRecorder) -> str:
    """The message of the one DeprecationWarning recorded, which must name this file."""
    (warning,) = [w for w in caught if issubclass(w.category, DeprecationWarning)]
    assert warning.filename == __file__
    return str(warning.message)


async def test_the_no_wait_forms_warn_once_as_hatchet_sdk_does_and_still_return_refs(
    hatchet: Hatchet,
) -> None:
    """hatchet_sdk 1.43 deprecates run_no_wait, aio_run_no_wait, run_many_no_wait and
    aio_run_many_no_wait: one DeprecationWarning per call, at the caller's line, naming the
    replacement. They still start the runs and return refs, for a workflow and a task."""
    dag = hatchet.workflow(name="no-wait-dag", input_validator=_Point)

    @dag.task()
    def double(input: _Point, ctx: Context) -> dict[str, int]:
        return {"x": input.x * 2}

    @hatchet.task(name="no-wait-task", input_validator=_Point)
    def single(input: _Point, ctx: Context) -> dict[str, int]:
        return {"x": input.x * 2}

    async with hatchet.worker("no-wait", slots=2, workflows=[dag, single]):
        for runnable, shape in ((dag, lambda x: {"double": {"x": x}}), (single, dict)):
            item = runnable.create_bulk_run_item(_Point(x=3))
            with pytest.warns(DeprecationWarning) as caught:
                refs = [runnable.run_no_wait(_Point(x=1))]
            assert _the_one_deprecation(caught) == (
                "run_no_wait() is deprecated, use run(wait_for_result=False) instead"
            )
            with pytest.warns(DeprecationWarning) as caught:
                refs.append(await runnable.aio_run_no_wait(_Point(x=2)))
            assert _the_one_deprecation(caught) == (
                "aio_run_no_wait() is deprecated, use aio_run(wait_for_result=False) instead"
            )
            with pytest.warns(DeprecationWarning) as caught:
                refs += runnable.run_many_no_wait([item])
            assert _the_one_deprecation(caught) == (
                "run_many_no_wait() is deprecated, use run_many(wait_for_result=False) instead"
            )
            with pytest.warns(DeprecationWarning) as caught:
                refs += await runnable.aio_run_many_no_wait([item])
            assert _the_one_deprecation(caught) == (
                "aio_run_many_no_wait() is deprecated, use aio_run_many(wait_for_result=False) "
                "instead"
            )
            results = [await ref.aio_result() for ref in refs]
            assert results == [shape(x=2), shape(x=4), shape(x=6), shape(x=6)]


def test_options_replace_the_trigger_keywords_and_the_warning_names_them(
    hatchet: Hatchet,
) -> None:
    """hatchet_sdk uses options= instead of the keywords when both are given, warning that
    options= is deprecated; flowsim's warning also names the keywords it ignored."""
    wf = hatchet.workflow(name="optioned", default_additional_metadata={"team": "a"})
    wf.task()(lambda input, ctx: None)
    options = TriggerWorkflowOptions(additional_metadata={"from": "options"}, priority=2)
    with pytest.warns(DeprecationWarning, match="ignored, as in hatchet_sdk: "
                      "additional_metadata, priority;") as caught:  # fmt: skip
        ref = wf.run(
            options=options, additional_metadata={"lost": 1}, priority=3, wait_for_result=False
        )
    assert caught[0].filename == __file__
    item = wf.create_bulk_run_item(additional_metadata={"kw": 1}, priority=3)
    with pytest.warns(DeprecationWarning, match="deprecated") as plain:
        optioned = wf.create_bulk_run_item(options=options)
    assert "ignored" not in str(plain[0].message) and plain[0].filename == __file__
    refs = [ref, *wf.run_many([item, optioned], wait_for_result=False)]
    views = [hatchet.runs.view(r.workflow_run_id) for r in refs]
    assert [(v.additional_metadata, v.priority) for v in views] == [
        ({"team": "a", "from": "options"}, 2),
        ({"team": "a", "kw": 1}, 3),
        ({"team": "a", "from": "options"}, 2),
    ]
