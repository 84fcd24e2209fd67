"""Events: ``hatchet.event.push(key, payload)`` starts a run of every workflow whose
``on_events=`` matches the key, with the payload as the run's input.

Hatchet's server knows every workflow a worker ever registered; flowsim knows the workflows
of the pushing process: those defined through the pushing client and those registered by a
worker running on its engine. The runs go to the client's store, where any worker process
sharing it claims them. Wildcards: ``*`` in a subscription matches any run of characters
(``order:*`` matches ``order:created``), as Hatchet's engine does since v0.65.
"""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, Field
from pydantic_core import to_jsonable_python

from flowsim.errors import InvalidInputError, UnsupportedFeatureError
from flowsim.idempotency import Collision
from flowsim.sdk.filters import filter_payloads, runtime_filters
from flowsim.sdk.not_modelled import refuse
from flowsim.sdk.types import JSONSerializableMapping
from flowsim.store.records import JSON, TriggeringEvent
from flowsim.store.transitions import NewRun

if TYPE_CHECKING:
    from flowsim.engine.engine import Engine
    from flowsim.sdk.workflow import BaseWorkflow


def matches(subscription: str, key: str) -> bool:
    """Only ``*`` is special in an event subscription; everything else matches itself."""
    pattern = ".*".join(re.escape(part) for part in subscription.split("*"))
    return re.fullmatch(pattern, key, re.DOTALL) is not None


class PushEventOptions(BaseModel):
    """hatchet_sdk's (deprecated) push options; ``namespace`` is refused when set."""

    additional_metadata: dict[str, Any] = Field(default_factory=dict)
    namespace: str | None = None
    priority: int | None = None
    scope: str | None = None


class BulkPushEventWithMetadata(BaseModel):
    """One event of ``hatchet.event.bulk_push``, as in hatchet_sdk."""

    key: str = ""
    payload: JSONSerializableMapping = Field(default_factory=dict)
    additional_metadata: JSONSerializableMapping = Field(default_factory=dict)
    priority: int | None = None
    scope: str | None = None


class BulkPushEventOptions(BulkPushEventWithMetadata):
    """hatchet_sdk's (deprecated) bulk push options; ``namespace`` is refused when set."""

    namespace: str | None = None


@dataclass(frozen=True, slots=True)
class Event:
    """What ``push`` returns, shaped as hatchet_sdk's ``Event`` (built from the server's
    answer): ``payload`` and ``additional_metadata`` are JSON text
    (``json.loads(event.payload)``, as Hatchet's own tests read it), ``scope`` is None when
    none was given, ``tenant_id`` is ``""`` (flowsim has no tenants), ``seen_at`` the push's
    time; ``event_timestamp`` is that time as a UTC ``datetime`` where hatchet_sdk has a
    protobuf ``Timestamp``. Plus, flowsim's addition, the ids of the runs it started."""

    event_id: str
    key: str
    payload: str
    seen_at: datetime
    additional_metadata: str | None = None
    scope: str | None = None
    tenant_id: str = ""
    workflow_run_ids: tuple[str, ...] = ()

    @property
    def event_timestamp(self) -> datetime:
        return self.seen_at

    @property
    def eventTimestamp(self) -> datetime:  # noqa: N802 - hatchet_sdk's alias
        return self.seen_at

    @property
    def additionalMetadata(self) -> str | None:  # noqa: N802 - hatchet_sdk's alias
        return self.additional_metadata


def subscribers(engine: Engine, defined: Iterable[BaseWorkflow]) -> list[BaseWorkflow]:
    """Workflows with ``on_events=`` known to this process, by name, defined ones first."""
    from flowsim.sdk.workflow import BaseWorkflow

    found: dict[str, BaseWorkflow] = {}
    registered = (wf for worker in engine.workers() for wf in worker.workflows.values())
    for workflow in [*defined, *registered]:
        if isinstance(workflow, BaseWorkflow) and workflow.on_events:
            found.setdefault(workflow.name, workflow)
    return list(found.values())


@dataclass(frozen=True, slots=True)
class CheckedEvent:
    """One event to push, checked: its identity (the id is made here, as a server would),
    payload and options as JSON."""

    event: TriggeringEvent
    payload: JSON
    metadata: dict[str, JSON]
    priority: int | None
    #: selects the filters that decide which runs it starts (``flowsim.sdk.filters``)
    scope: str | None = None


def checked_event(
    key: str,
    payload: JSONSerializableMapping,
    additional_metadata: JSONSerializableMapping | None,
    priority: int | None,
    where: str = "",
    scope: str | None = None,
) -> CheckedEvent:
    if not isinstance(key, str) or not key:
        raise InvalidInputError(f"{where}an event key must be a non-empty string, got {key!r}")
    if not isinstance(payload, Mapping):
        raise InvalidInputError(
            f"{where}event {key!r}: the payload must be a JSON object (a dict), got "
            f"{type(payload).__name__}; it becomes the input of the runs it starts"
        )
    return CheckedEvent(
        TriggeringEvent(str(uuid.uuid4()), key),
        to_jsonable_python(dict(payload)),
        to_jsonable_python(dict(additional_metadata or {})),
        None if priority is None else int(priority),
        scope or None,  # hatchet_sdk sends an empty scope as none
    )


#: additional metadata Hatchet's engine puts on every run an event starts
EVENT_ID_KEY = "hatchet__event_id"
EVENT_KEY_KEY = "hatchet__event_key"


def run_metadata(defaults: Mapping[str, JSON], push: CheckedEvent) -> dict[str, JSON]:
    """A pushed run's additional metadata, as Hatchet's trigger path makes it: the event's
    own ``hatchet__`` keys dropped (reserved), the event's id and key added."""
    merged = {**defaults, **push.metadata}
    metadata = {key: value for key, value in merged.items() if not key.startswith("hatchet__")}
    metadata[EVENT_ID_KEY] = push.event.id
    metadata[EVENT_KEY_KEY] = push.event.key
    return metadata


def push_events(
    engine: Engine, workflows: Iterable[BaseWorkflow], pushes: Sequence[CheckedEvent]
) -> list[Event]:
    """Start a run of each subscribed workflow whose subscription matches an event's key,
    and satisfy the event conditions waiting for it (``wait_for``/``skip_if``/
    ``cancel_if``, ``aio_wait_for``), in the store: a wait in another process sharing it
    sees it. The runs of all the events are triggered together, as one bulk trigger. The
    payload is the run's input as is: a subscriber whose input model rejects it fails in
    its task, as in Hatchet (where the worker validates the input), not here."""
    workflows = list(workflows)
    subscribed = [
        [wf for wf in workflows if any(matches(sub, push.event.key) for sub in wf.on_events)]
        for push in pushes
    ]
    stored = runtime_filters(
        engine.event_filters(), {wf.id for found in subscribed for wf in found}
    )
    items: list[NewRun] = []
    pushed_by: list[int] = []  # the index in ``pushes`` of each item's event
    for index, (push, found) in enumerate(zip(pushes, subscribed, strict=True)):
        event = (push.event.id, push.event.key, push.payload, push.metadata)
        for workflow in found:
            filters = [*workflow.default_filters, *stored.get(workflow.id, ())]
            for filter_payload in filter_payloads(filters, push.scope, event):
                items.append(
                    NewRun(
                        workflow.spec,
                        push.payload,
                        run_metadata(workflow.default_additional_metadata, push),
                        workflow.default_priority if push.priority is None else push.priority,
                        triggering_event=replace(push.event, filter_payload=filter_payload),
                    )
                )
                pushed_by.append(index)
    runs = engine.trigger(items, None) if items else []
    started: list[list[str]] = [[] for _ in pushes]
    for index, run in zip(pushed_by, runs, strict=True):
        if not isinstance(run, Collision):  # dropped silently, as Hatchet drops it
            started[index].append(run.id)
    for push in pushes:
        engine.push_condition_event(push.event.key, push.payload, push.metadata)
    pushed_at = datetime.fromtimestamp(engine.clock.now(), UTC)
    return [
        Event(
            event_id=push.event.id,
            key=push.event.key,
            payload=json.dumps(push.payload),
            seen_at=pushed_at,
            additional_metadata=json.dumps(push.metadata),
            scope=push.scope,
            workflow_run_ids=tuple(run_ids),
        )
        for push, run_ids in zip(pushes, started, strict=True)
    ]


def push_event(
    engine: Engine,
    workflows: Iterable[BaseWorkflow],
    key: str,
    payload: JSONSerializableMapping,
    additional_metadata: JSONSerializableMapping | None = None,
    priority: int | None = None,
    scope: str | None = None,
) -> Event:
    """``push_events`` of one event."""
    checked = checked_event(key, payload, additional_metadata, priority, scope=scope)
    (event,) = push_events(engine, workflows, [checked])
    return event


def _refuse_namespace(namespace: str | None, what: str) -> None:
    if namespace:
        raise UnsupportedFeatureError(
            f"{what}: namespaces belong to a Hatchet server's client configuration, which "
            "flowsim does not model; push without one"
        )


@refuse(
    "hatchet.event",
    "a Hatchet server's event records",
    "the runs an event started are in push()'s Event.workflow_run_ids",
    "get", "aio_get", "list", "aio_list",
)  # fmt: skip
@refuse(
    "hatchet.event",
    "streaming and sending task logs through the event client",
    "return the data as the task's output; log with ctx.log",
    "stream", "aio_stream", "log",
)  # fmt: skip
class EventClient:
    """``hatchet.event``: push events to the workflows that subscribe to them."""

    def __init__(self, hatchet: Any) -> None:
        self._hatchet = hatchet

    def push(
        self,
        event_key: str,
        payload: JSONSerializableMapping,
        options: PushEventOptions | None = None,
        additional_metadata: JSONSerializableMapping | None = None,
        priority: int | None = None,
        scope: str | None = None,
    ) -> Event:
        """``scope`` selects the event filters of the subscribed workflows that have any
        (``flowsim.sdk.filters``); the keyword wins over ``options.scope``, as in
        hatchet_sdk."""
        metadata = dict(additional_metadata or {})
        if options is not None:
            _refuse_namespace(options.namespace, f"event {event_key!r}")
            metadata = {**options.additional_metadata, **metadata}
            priority = priority if priority is not None else options.priority
            scope = scope or options.scope
        engine = self._hatchet.engine
        workflows = subscribers(engine, self._hatchet.defined_workflows())
        return push_event(engine, workflows, event_key, payload, metadata, priority, scope)

    async def aio_push(
        self,
        event_key: str,
        payload: JSONSerializableMapping,
        options: PushEventOptions | None = None,
        additional_metadata: JSONSerializableMapping | None = None,
        priority: int | None = None,
        scope: str | None = None,
    ) -> Event:
        return self.push(event_key, payload, options, additional_metadata, priority, scope)

    def bulk_push(
        self,
        events: Sequence[BulkPushEventWithMetadata],
        options: BulkPushEventOptions | None = None,
    ) -> list[Event]:
        """Push every event, in order, their runs triggered together; one event a bad
        key or payload refuses them all, before anything is created. Each event has its
        own ``scope`` (see ``push``)."""
        if options is not None:
            _refuse_namespace(options.namespace, "hatchet.event.bulk_push()")
        pushes = []
        for position, event in enumerate(events):
            where = f"hatchet.event.bulk_push(), event {position}: "
            if not isinstance(event, BulkPushEventWithMetadata):
                raise InvalidInputError(
                    f"{where}expected a BulkPushEventWithMetadata(key=..., payload=...), got "
                    f"{type(event).__name__}"
                )
            pushes.append(checked_event(event.key, event.payload, event.additional_metadata,
                                   event.priority, where, event.scope))  # fmt: skip
        engine = self._hatchet.engine
        return push_events(engine, subscribers(engine, self._hatchet.defined_workflows()), pushes)

    async def aio_bulk_push(
        self,
        events: Sequence[BulkPushEventWithMetadata],
        options: BulkPushEventOptions | None = None,
    ) -> list[Event]:
        return self.bulk_push(events, options)
