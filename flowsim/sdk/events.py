"""Events: ``hatchet.event.push(key, payload)`` starts a run of every workflow whose
``on_events=`` matches the key, with the payload as the run's input.

Hatchet's server knows every workflow a worker ever registered; flowsim knows the workflows
of the pushing process: those defined through the pushing client and those registered by a
worker running on its engine. The runs go to the client's store, where any worker process
sharing it claims them. Wildcards: ``*`` in a subscription matches any run of characters
(``order:*`` matches ``order:created``), as Hatchet's engine does since v0.65.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, Field
from pydantic_core import to_jsonable_python

from flowsim.errors import InvalidInputError, UnsupportedFeatureError
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


@dataclass(frozen=True, slots=True)
class Event:
    """What ``push`` returns: the event, and (flowsim's addition) the runs it started."""

    event_id: str
    key: str
    payload: JSON
    additional_metadata: dict[str, JSON] = field(default_factory=dict)
    workflow_run_ids: tuple[str, ...] = ()


def subscribers(engine: Engine, defined: Iterable[BaseWorkflow]) -> list[BaseWorkflow]:
    """Workflows with ``on_events=`` known to this process, by name, defined ones first."""
    from flowsim.sdk.workflow import BaseWorkflow

    found: dict[str, BaseWorkflow] = {}
    registered = (wf for worker in engine.workers() for wf in worker.workflows.values())
    for workflow in [*defined, *registered]:
        if isinstance(workflow, BaseWorkflow) and workflow.on_events:
            found.setdefault(workflow.name, workflow)
    return list(found.values())


def push_event(
    engine: Engine,
    workflows: Iterable[BaseWorkflow],
    key: str,
    payload: JSONSerializableMapping,
    additional_metadata: JSONSerializableMapping | None = None,
    priority: int | None = None,
) -> Event:
    """Start a run of each subscribed workflow whose subscription matches ``key``, and
    satisfy the event conditions waiting for it (``wait_for``/``skip_if``/``cancel_if``,
    ``aio_wait_for``), in the store: a wait in another process sharing it sees it. The
    payload is the run's input as is: a subscriber whose input model rejects it fails in
    its task, as in Hatchet (where the worker validates the input), not here."""
    if not isinstance(key, str) or not key:
        raise InvalidInputError(f"an event key must be a non-empty string, got {key!r}")
    if not isinstance(payload, Mapping):
        raise InvalidInputError(
            f"event {key!r}: the payload must be a JSON object (a dict), got "
            f"{type(payload).__name__}; it becomes the input of the runs it starts"
        )
    data = to_jsonable_python(dict(payload))
    metadata = to_jsonable_python(dict(additional_metadata or {}))
    event = TriggeringEvent(str(uuid.uuid4()), key)
    items = [
        NewRun(
            workflow.spec,
            data,
            {**workflow.default_additional_metadata, **metadata},
            workflow.default_priority if priority is None else int(priority),
            triggering_event=event,
        )
        for workflow in workflows
        if any(matches(subscription, key) for subscription in workflow.on_events)
    ]
    runs = engine.trigger(items, None) if items else []
    engine.push_condition_event(key, data, metadata)
    return Event(event.id, key, data, metadata, tuple(run.id for run in runs))


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
        """``scope`` only selects event filters, which flowsim does not model (no workflow
        can have one), so it changes nothing here."""
        metadata = dict(additional_metadata or {})
        if options is not None:
            if options.namespace:
                raise UnsupportedFeatureError(
                    f"event {event_key!r}: namespaces belong to a Hatchet server's client "
                    "configuration, which flowsim does not model; push without one"
                )
            metadata = {**options.additional_metadata, **metadata}
            priority = priority if priority is not None else options.priority
        engine = self._hatchet.engine
        workflows = subscribers(engine, self._hatchet.defined_workflows())
        return push_event(engine, workflows, event_key, payload, metadata, priority)

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

    def bulk_push(self, events: Any, options: Any = None) -> list[Event]:
        raise UnsupportedFeatureError(
            "hatchet.event.bulk_push() is not modelled by flowsim yet; push the events one "
            "by one with hatchet.event.push()"
        )

    async def aio_bulk_push(self, events: Any, options: Any = None) -> list[Event]:
        return self.bulk_push(events, options)
