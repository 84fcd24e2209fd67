"""Events, on every backend: ``hatchet.event.push(key, payload)`` starts a run of each
workflow subscribed with ``on_events=``, the payload as its input (Hatchet's events guide:
"every matching workflow gets a new run"; ``*`` is a wildcard)."""

import asyncio
import json
from typing import Any

import pytest
from pydantic import BaseModel

from flowsim import BulkPushEventWithMetadata, Context, Hatchet, RunStatus
from flowsim.errors import InvalidInputError, WorkflowDefinitionError
from flowsim.store.protocol import RunView
from flowsim.store.records import TriggeringEvent
from tests.helpers import trigger_facts


class Order(BaseModel):
    id: int


async def finished(hatchet: Hatchet, run_id: str) -> RunView:
    """The run once it ended (pushed runs are not awaited through a ref)."""
    for _ in range(500):
        view = hatchet.runs.view(run_id)
        if view.status.is_terminal:
            return view
        await asyncio.sleep(0.01)
    raise AssertionError(f"run {run_id} did not end: {view.statuses()}")


async def test_push_runs_every_subscribed_workflow_with_the_payload(hatchet: Hatchet) -> None:
    seen: list[tuple[str, int, dict[str, Any]]] = []

    @hatchet.task(name="on-created", input_validator=Order, on_events=["order:created"])
    async def on_created(input: Order, ctx: Context) -> None:
        seen.append(("created", input.id, ctx.additional_metadata))

    orders = hatchet.workflow(name="any-order", input_validator=Order, on_events=["order:*"])

    @orders.task()
    async def audit(input: Order, ctx: Context) -> dict[str, int]:
        seen.append(("any", input.id, ctx.additional_metadata))
        return {"audited": input.id}

    @hatchet.task(name="unrelated", on_events=["user:signup"])
    async def unrelated(input: Order, ctx: Context) -> None:
        seen.append(("unrelated", input.id, {}))

    async with hatchet.worker("w", slots=2, workflows=[on_created, orders, unrelated]):
        event = await hatchet.event.aio_push(
            "order:created", {"id": 7}, additional_metadata={"source": "test"}
        )
        assert event.key == "order:created"
        # JSON text, as hatchet_sdk returns the server's Event (Hatchet's tests json.loads it)
        assert json.loads(event.payload) == {"id": 7}
        assert json.loads(event.additional_metadata) == {"source": "test"}
        assert (event.scope, event.tenant_id) == (None, "")
        assert event.seen_at.tzinfo is not None and event.eventTimestamp == event.seen_at
        assert len(event.workflow_run_ids) == 2
        views = [await finished(hatchet, run_id) for run_id in event.workflow_run_ids]
    assert [view.status for view in views] == [RunStatus.COMPLETED] * 2
    assert {view.workflow for view in views} == {"on-created", "any-order"}
    # the run's metadata: the event's, and its id and key under Hatchet's reserved keys
    tagged = {"source": "test", "hatchet__event_id": event.event_id,
              "hatchet__event_key": "order:created"}  # fmt: skip
    assert sorted(seen) == [("any", 7, tagged), ("created", 7, tagged)]


async def test_a_pushed_run_knows_its_triggering_event_and_a_run_triggered_otherwise_none(
    hatchet: Hatchet,
) -> None:
    """Hatchet's ``ctx.triggering_event_id``/``_key``/``was_triggered_by_event``: the id is
    the one ``push`` returned, stored with the run (so also read back on SQL stores)."""

    @hatchet.task(name="event-facts", on_events=["order:*"])
    async def facts(input: Order, ctx: Context) -> dict[str, object]:
        return trigger_facts(ctx)

    async with hatchet.worker("w", slots=2, workflows=[facts]):
        first = await hatchet.event.aio_push("order:created", {"id": 1})
        second = await hatchet.event.aio_push("order:paid", {"id": 1})
        pushed = [await finished(hatchet, run_id) for run_id in first.workflow_run_ids]
        pushed += [await finished(hatchet, run_id) for run_id in second.workflow_run_ids]
        direct = await facts.aio_run(Order(id=1))
    assert first.event_id != second.event_id
    assert [view.tasks["event-facts"].output for view in pushed] == [
        {"event_id": first.event_id, "event_key": "order:created", "by_event": True},
        {"event_id": second.event_id, "event_key": "order:paid", "by_event": True},
    ]
    assert [view.triggering_event for view in pushed] == [
        TriggeringEvent(first.event_id, "order:created"),
        TriggeringEvent(second.event_id, "order:paid"),
    ]
    assert direct == {"event_id": None, "event_key": None, "by_event": False}


async def test_bulk_push_pushes_every_event_in_order_with_its_own_runs(hatchet: Hatchet) -> None:
    seen: list[tuple[int, str | None, dict[str, Any]]] = []

    @hatchet.task(name="bulk-audit", input_validator=Order, on_events=["order:*"])
    async def audit(input: Order, ctx: Context) -> None:
        seen.append((input.id, ctx.triggering_event_key, ctx.additional_metadata))

    @hatchet.task(name="bulk-paid", input_validator=Order, on_events=["order:paid"])
    async def paid(input: Order, ctx: Context) -> None:
        seen.append((-input.id, ctx.triggering_event_id, {}))

    async with hatchet.worker("w", slots=2, workflows=[audit, paid]):
        events = await hatchet.event.aio_bulk_push(
            [
                BulkPushEventWithMetadata(key="order:created", payload={"id": 1},
                                          additional_metadata={"n": 1}),
                BulkPushEventWithMetadata(key="order:paid", payload={"id": 2}, priority=3),
                BulkPushEventWithMetadata(key="user:signup", payload={"id": 3}),
            ]
        )  # fmt: skip
        views = [await finished(hatchet, r) for event in events for r in event.workflow_run_ids]
    assert [event.key for event in events] == ["order:created", "order:paid", "user:signup"]
    assert len({event.event_id for event in events}) == 3
    assert [len(event.workflow_run_ids) for event in events] == [1, 2, 0]
    assert [(view.workflow, view.priority, view.status) for view in views] == [
        ("bulk-audit", 1, RunStatus.COMPLETED),
        ("bulk-audit", 3, RunStatus.COMPLETED),
        ("bulk-paid", 3, RunStatus.COMPLETED),
    ]

    def tagged(event: Any, **metadata: Any) -> dict[str, Any]:
        return {**metadata, "hatchet__event_id": event.event_id, "hatchet__event_key": event.key}

    assert sorted(seen) == [
        (-2, events[1].event_id, {}),
        (1, "order:created", tagged(events[0], n=1)),
        (2, "order:paid", tagged(events[1])),
    ]


def test_a_bulk_push_with_one_bad_event_pushes_none_and_names_it(hatchet: Hatchet) -> None:
    @hatchet.task(name="bulk-listener", on_events=["k"])
    def listener(input: Order, ctx: Context) -> None:
        return None

    good = BulkPushEventWithMetadata(key="k", payload={"id": 1})
    with pytest.raises(InvalidInputError, match=r"bulk_push\(\), event 1: an event key"):
        hatchet.event.bulk_push([good, BulkPushEventWithMetadata(payload={"id": 2})])
    with pytest.raises(InvalidInputError, match=r"event 0: expected a BulkPushEventWithMetadata"):
        hatchet.event.bulk_push([{"key": "k", "payload": {}}, good])  # type: ignore[list-item]
    assert hatchet.runs.views() == []
    assert hatchet.event.bulk_push([]) == []


def test_an_event_nobody_subscribes_to_starts_nothing(hatchet: Hatchet) -> None:
    @hatchet.task(name="listener", on_events=["a:b"])
    def listener(input: Order, ctx: Context) -> None:
        return None

    assert hatchet.event.push("a:c", {"id": 1}).workflow_run_ids == ()
    assert hatchet.event.push("a:b*", {"id": 1}).workflow_run_ids == ()  # '*' in a key is plain
    assert hatchet.runs.views() == []


async def test_a_payload_the_subscriber_rejects_fails_its_run_not_the_push(
    hatchet: Hatchet,
) -> None:
    @hatchet.task(name="strict", input_validator=Order, on_events=["order:created"])
    async def strict(input: Order, ctx: Context) -> None:
        return None

    async with hatchet.worker("w", slots=1, workflows=[strict]):
        event = hatchet.event.push("order:created", {"id": "not a number"})
        (run_id,) = event.workflow_run_ids
        view = await finished(hatchet, run_id)
    assert view.status is RunStatus.FAILED
    assert "ValidationError" in str(view.errors()[0])


def test_bad_pushes_and_subscriptions_are_named(hatchet: Hatchet) -> None:
    with pytest.raises(InvalidInputError, match="JSON object"):
        hatchet.event.push("k", [1, 2])  # type: ignore[arg-type]
    with pytest.raises(InvalidInputError, match="non-empty"):
        hatchet.event.push("", {})
    with pytest.raises(WorkflowDefinitionError, match="on_events"):
        hatchet.workflow(name="bad", on_events=[""])
    with pytest.raises(WorkflowDefinitionError, match=r"default_filters\[0\].*not a DefaultFilter"):
        hatchet.workflow(name="filtered", on_events=["k"], default_filters=[object()])


async def test_an_events_reserved_metadata_keys_are_replaced_as_hatchets_engine_does(
    hatchet: Hatchet,
) -> None:
    """Hatchet's trigger path drops the ``hatchet__`` keys of a pushed event's metadata and
    puts the event's own id and key there."""
    seen: list[dict[str, Any]] = []

    @hatchet.task(name="reserved-keys", input_validator=Order, on_events=["order:shipped"])
    async def shipped(input: Order, ctx: Context) -> None:
        seen.append(dict(ctx.additional_metadata))

    async with hatchet.worker("w", slots=1, workflows=[shipped]):
        event = await hatchet.event.aio_push(
            "order:shipped", {"id": 1},
            additional_metadata={"hatchet__event_key": "forged", "hatchet__other": 1, "k": 2},
        )  # fmt: skip
        await finished(hatchet, event.workflow_run_ids[0])
    assert seen == [
        {"k": 2, "hatchet__event_id": event.event_id, "hatchet__event_key": "order:shipped"}
    ]
