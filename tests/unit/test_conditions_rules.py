"""The pure condition rules every store shares (flowsim.store.conditions)."""

import pytest

from flowsim.errors import UnsupportedFeatureError, WorkflowDefinitionError
from flowsim.store import conditions as cond
from flowsim.store.conditions import Action, ConditionSpec, Kind


def spec(kind: Kind, action: Action, group: int, **fields: object) -> ConditionSpec:
    return ConditionSpec(kind, action, group, f"{kind}-{group}-{action}", **fields)  # type: ignore[arg-type]


def test_and_across_groups_or_within_a_group() -> None:
    conditions = [
        spec(Kind.EVENT, Action.QUEUE, 0, event_key="a"),
        spec(Kind.EVENT, Action.QUEUE, 0, event_key="b"),
        spec(Kind.EVENT, Action.QUEUE, 1, event_key="c"),
    ]
    assert cond.decide(conditions, {}) is None
    assert cond.decide(conditions, {1: {}}) is None
    assert cond.decide(conditions, {1: {}, 2: {}}) is Action.QUEUE


def test_skip_beats_cancel_beats_queue() -> None:
    conditions = [
        spec(Kind.SLEEP, Action.QUEUE, 0, seconds=1),
        spec(Kind.SLEEP, Action.CANCEL, 1, seconds=1),
        spec(Kind.SLEEP, Action.SKIP, 2, seconds=1),
    ]
    assert cond.decide(conditions, {0: {}, 1: {}, 2: {}}) is Action.SKIP
    assert cond.decide(conditions, {0: {}, 1: {}}) is Action.CANCEL
    assert cond.decide(conditions, {0: {}}) is Action.QUEUE


def test_a_task_without_wait_for_is_queued_unless_skip_or_cancel_holds() -> None:
    only_skip = [spec(Kind.EVENT, Action.SKIP, 0, event_key="x")]
    assert cond.decide(only_skip, {}) is Action.QUEUE
    assert cond.decide(only_skip, {0: {}}) is Action.SKIP


def test_a_durable_wait_fires_create_and_returns_the_data_by_readable_key() -> None:
    conditions = [
        ConditionSpec(Kind.SLEEP, Action.CREATE, 0, "sleep:5s", seconds=5),
        ConditionSpec(Kind.EVENT, Action.CREATE, 0, "evt", event_key="evt"),
    ]
    assert cond.decide(conditions, {}) is None
    hits = cond.on_event(conditions, {}, "evt", {"p": 1}, {})
    assert hits == [1]
    assert cond.decide(conditions, {1: {"p": 1}}) is Action.CREATE
    assert cond.wait_result(conditions, {1: {"p": 1}}, Action.CREATE) == {
        "CREATE": {"evt": [{"p": 1}]}
    }


def test_sleeps_count_from_registration() -> None:
    conditions = [spec(Kind.SLEEP, Action.QUEUE, 0, seconds=10)]
    assert cond.wake_at(conditions, 5.0, {}) == 15.0
    assert cond.on_time(conditions, 5.0, {}, 14.9) == []
    assert cond.on_time(conditions, 5.0, {}, 15.0) == [0]


def test_parent_conditions_are_decided_at_registration() -> None:
    conditions = [spec(Kind.PARENT, Action.SKIP, 0, parent="p", expression="output.n > 1")]
    assert cond.on_register(conditions, {"p": {"n": 2}}) == {0: {"n": 2}}
    assert cond.on_register(conditions, {"p": {"n": 1}}) == {}


def test_specs_round_trip_through_json() -> None:
    original = ConditionSpec(Kind.EVENT, Action.CANCEL, 3, "k", event_key="e", expression="true")
    assert ConditionSpec.from_json(original.to_json()) == original


def test_definitions_are_checked_when_the_workflow_is_defined() -> None:
    from flowsim import Hatchet
    from flowsim.sdk.conditions import ParentCondition, SleepCondition, UserEventCondition

    hatchet = Hatchet("memory://conditions-definitions")
    wf = hatchet.workflow(name="defs")

    @wf.task()
    def a(input: object, ctx: object) -> None: ...

    @wf.task()
    def b(input: object, ctx: object) -> None: ...

    with pytest.raises(WorkflowDefinitionError, match="not one of its parents"):
        wf.task(parents=[a], skip_if=[ParentCondition(parent=b, expression="true")])(
            lambda i, c: None
        )
    with pytest.raises(WorkflowDefinitionError, match="unique readable data keys"):
        wf.task(wait_for=[SleepCondition(1), SleepCondition(1)])(lambda i, c: None)
    with pytest.raises(WorkflowDefinitionError, match="condition expression"):
        UserEventCondition("k", expression="size(input) > 1")
    with pytest.raises(UnsupportedFeatureError, match="scope"):
        UserEventCondition("k", scope="tenant")
