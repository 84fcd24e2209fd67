"""Mirrors the filter tests of sdks/python/examples/events (worker.py, filter.py,
test_event.py) of hatchet-dev/hatchet: the filters made at runtime through
``hatchet.filters`` as the example makes them, and the same behaviours with the filters
declared as ``default_filters``.

What the example's tests assert, asserted here: a filter ``input.should_skip == false``
of a scope starts a run for a scoped push whose payload says so and none otherwise; a
workflow with filters gets no run from an unscoped push; ``payload.`` reads the filter's
own payload and ``event_key`` the pushed key; two filters that hold start two runs, each
seeing its filter's payload as ``ctx.filter_payload``; wildcard subscriptions still
apply; bulk pushes carry a scope per event. Plus: a workflow without filters runs for
every push with ``ctx.filter_payload == {}``, and an expression that cannot be evaluated
starts nothing and raises nothing."""

from __future__ import annotations

from types import ModuleType
from typing import Any

import pytest

from flowsim import Hatchet, WorkflowDefinitionError

SCOPE = "test-scope"


def _example(hatchet: Hatchet, filters: list[Any]) -> Any:
    from hatchet_sdk import Context

    @hatchet.task(
        name="EventWorkflow",
        on_events=["user:create", "foobarbaz", "subscription:*"],
        default_filters=filters,
    )
    async def event_task(input: dict[str, Any], ctx: Context) -> dict[str, Any]:
        return dict(ctx.filter_payload)

    return event_task


async def _outputs(hatchet: Hatchet, workflow: Any, run_ids: tuple[str, ...]) -> list[Any]:
    async with hatchet.worker("EventWorker", slots=4, workflows=[workflow]):
        return [await workflow.get_run_ref(run_id).aio_result() for run_id in run_ids]


async def test_a_scoped_push_runs_only_when_the_filter_holds_and_an_unscoped_one_never(
    hatchet_sdk: ModuleType, hatchet: Hatchet
) -> None:
    from hatchet_sdk import DefaultFilter

    skip = DefaultFilter(expression="input.should_skip == false", scope=SCOPE, payload={"a": 1})
    workflow = _example(hatchet, [skip])
    runs = await hatchet.event.aio_push("user:create", {"should_skip": False}, scope=SCOPE)
    assert len(runs.workflow_run_ids) == 1
    skipped = await hatchet.event.aio_push("user:create", {"should_skip": True}, scope=SCOPE)
    unscoped = await hatchet.event.aio_push("user:create", {"should_skip": False})
    other_scope = await hatchet.event.aio_push("user:create", {"should_skip": False}, scope="x")
    assert skipped.workflow_run_ids == unscoped.workflow_run_ids == ()
    assert other_scope.workflow_run_ids == ()
    assert await _outputs(hatchet, workflow, runs.workflow_run_ids) == [{"a": 1}]


async def test_filters_read_their_own_payload_and_the_event_key(
    hatchet_sdk: ModuleType, hatchet: Hatchet
) -> None:
    from hatchet_sdk import DefaultFilter, PushEventOptions

    _example(hatchet, [
        DefaultFilter(expression="payload.foobar == 'baz'", scope=SCOPE, payload={"foobar": "baz"}),
        DefaultFilter(expression="payload.foobar == 'baz'", scope="qux", payload={"foobar": "qux"}),
        DefaultFilter(expression="event_key == 'foobarbaz'", scope="keyed"),
    ])  # fmt: skip
    assert len((await hatchet.event.aio_push("foobarbaz", {}, scope=SCOPE)).workflow_run_ids) == 1
    assert (await hatchet.event.aio_push("foobarbaz", {}, scope="qux")).workflow_run_ids == ()
    keyed = await hatchet.event.aio_push("foobarbaz", {}, options=PushEventOptions(scope="keyed"))
    assert len(keyed.workflow_run_ids) == 1
    assert (await hatchet.event.aio_push("user:create", {}, scope="keyed")).workflow_run_ids == ()


async def test_each_filter_that_holds_starts_a_run_with_its_payload(
    hatchet_sdk: ModuleType, hatchet: Hatchet
) -> None:
    from hatchet_sdk import DefaultFilter

    workflow = _example(hatchet, [
        DefaultFilter(expression="true", scope=SCOPE, payload={"filter_id": "1"}),
        DefaultFilter(expression="true", scope=SCOPE, payload={"filter_id": "2"}),
        DefaultFilter(expression="false", scope=SCOPE, payload={"filter_id": "3"}),
    ])  # fmt: skip
    pushed = await hatchet.event.aio_push("subscription:2", {"n": 1}, scope=SCOPE)
    outputs = await _outputs(hatchet, workflow, pushed.workflow_run_ids)
    assert sorted(output["filter_id"] for output in outputs) == ["1", "2"]
    wild = await hatchet.event.aio_push("foobar", {}, scope=SCOPE)  # no subscription matches
    assert wild.workflow_run_ids == ()


async def test_bulk_pushes_carry_a_scope_per_event(
    hatchet_sdk: ModuleType, hatchet: Hatchet
) -> None:
    from hatchet_sdk import BulkPushEventWithMetadata, DefaultFilter

    _example(hatchet, [DefaultFilter(expression="input.ok", scope=SCOPE)])
    events = await hatchet.event.aio_bulk_push([
        BulkPushEventWithMetadata(key="user:create", payload={"ok": True}, scope=SCOPE),
        BulkPushEventWithMetadata(key="user:create", payload={"ok": False}, scope=SCOPE),
        BulkPushEventWithMetadata(key="user:create", payload={"ok": True}),
    ])  # fmt: skip
    assert [len(event.workflow_run_ids) for event in events] == [1, 0, 0]


async def test_a_workflow_without_filters_runs_for_every_push_with_an_empty_filter_payload(
    hatchet_sdk: ModuleType, hatchet: Hatchet
) -> None:
    workflow = _example(hatchet, [])
    scoped = await hatchet.event.aio_push("user:create", {}, scope=SCOPE)
    unscoped = await hatchet.event.aio_push("user:create", {})
    run_ids = scoped.workflow_run_ids + unscoped.workflow_run_ids
    assert await _outputs(hatchet, workflow, run_ids) == [{}, {}]


async def test_an_expression_that_cannot_be_evaluated_starts_nothing_and_raises_nothing(
    hatchet_sdk: ModuleType, hatchet: Hatchet
) -> None:
    from hatchet_sdk import DefaultFilter

    _example(hatchet, [DefaultFilter(expression="input.missing.field > 3", scope=SCOPE)])
    assert (await hatchet.event.aio_push("user:create", {}, scope=SCOPE)).workflow_run_ids == ()


def test_a_filter_outside_the_modelled_cel_is_refused_when_defined(
    hatchet_sdk: ModuleType, hatchet: Hatchet
) -> None:
    from hatchet_sdk import DefaultFilter

    bad = DefaultFilter(expression="input.items.size() > 2", scope=SCOPE)
    with pytest.raises(WorkflowDefinitionError, match=r"default_filters\[0\].*filter expression"):
        _example(hatchet, [bad])


async def test_a_filter_created_at_runtime_gates_pushes_as_hatchets_filter_example_does(
    hatchet_sdk: ModuleType, hatchet: Hatchet
) -> None:
    """examples/events/filter.py: create a filter, a push that should skip starts nothing,
    one that should not starts a run that sees the filter's payload."""
    workflow = _example(hatchet, [])
    characters = {"main_character": "Anna", "supporting_character": "Stiva", "location": "Moscow"}
    hatchet.filters.create(
        workflow_id=workflow.id,
        expression="input.should_skip == false",
        scope="foobarbaz",
        payload=characters,
    )
    skipped = hatchet.event.push(event_key="user:create", payload={"should_skip": True},
                                 scope="foobarbaz")  # fmt: skip
    triggered = hatchet.event.push(event_key="user:create", payload={"should_skip": False},
                                   scope="foobarbaz")  # fmt: skip
    unscoped = hatchet.event.push(event_key="user:create", payload={"should_skip": False})
    assert (skipped.workflow_run_ids, unscoped.workflow_run_ids) == ((), ())
    assert await _outputs(hatchet, workflow, triggered.workflow_run_ids) == [characters]


async def test_filters_made_per_test_run_select_its_pushes_as_hatchets_event_test_does(
    hatchet_sdk: ModuleType, hatchet: Hatchet
) -> None:
    """examples/events/test_event.py's ``event_filter``: a filter per test run id, scoped
    to it, whose expression reads its own payload; bulk pushes carry the scope, and only
    those marked ``should_have_runs`` start runs. Once the filter is deleted the workflow
    has no filters left, and every push starts a run again."""
    from hatchet_sdk import BulkPushEventWithMetadata

    workflow = _example(hatchet, [])
    test_run_id = "7e5e6f0c-2f1b-4b7e-9a51-0c1d2e3f4a5b"
    made = await hatchet.filters.aio_create(
        workflow_id=workflow.id,
        expression=f"input.should_skip == false && payload.testRunId == '{test_run_id}'",
        scope=test_run_id,
        payload={"testRunId": test_run_id},
    )
    events = await hatchet.event.aio_bulk_push([
        BulkPushEventWithMetadata(key="user:create", scope=test_run_id,
                                  payload={"message": f"event {i}", "should_skip": skip},
                                  additional_metadata={"should_have_runs": not skip})
        for i, skip in enumerate([False, True, False, True])
    ])  # fmt: skip
    assert [len(event.workflow_run_ids) for event in events] == [1, 0, 1, 0]
    started = events[0].workflow_run_ids + events[2].workflow_run_ids
    assert await _outputs(hatchet, workflow, started) == [{"testRunId": test_run_id}] * 2
    await hatchet.filters.aio_delete(made.metadata.id)
    after = await hatchet.event.aio_push("user:create", {"should_skip": True}, scope=test_run_id)
    assert len(after.workflow_run_ids) == 1


async def test_runtime_and_declared_filters_of_a_workflow_act_together(
    hatchet_sdk: ModuleType, hatchet: Hatchet
) -> None:
    """Hatchet's server keeps both kinds in one table: a push starts a run per filter of
    its scope that holds, whichever kind, and a workflow with a filter of either kind gets
    no run from an unscoped push."""
    from hatchet_sdk import DefaultFilter

    workflow = _example(hatchet, [DefaultFilter(expression="true", scope=SCOPE,
                                                payload={"kind": "declared"})])  # fmt: skip
    await workflow.aio_create_filter("input.n > 1", SCOPE, {"kind": "runtime"})
    both = await hatchet.event.aio_push("user:create", {"n": 2}, scope=SCOPE)
    declared_only = await hatchet.event.aio_push("user:create", {"n": 0}, scope=SCOPE)
    assert (await hatchet.event.aio_push("user:create", {"n": 2})).workflow_run_ids == ()
    outputs = await _outputs(hatchet, workflow, both.workflow_run_ids)
    assert outputs == [{"kind": "declared"}, {"kind": "runtime"}]
    assert await _outputs(hatchet, workflow, declared_only.workflow_run_ids) == [
        {"kind": "declared"}
    ]
