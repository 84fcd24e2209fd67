"""Event filters: declared on a workflow (``default_filters=[DefaultFilter(...)]``), or
created at runtime with ``hatchet.filters`` and kept in the store (``runtime_filters``).

What Hatchet's engine does when an event is pushed (its trigger-from-events path, read for
this): a subscribed workflow with no filters at all gets a run; one with filters gets a run
per filter of the push's scope whose expression is true, carrying that filter's payload
(``ctx.filter_payload``), and none for a push without a scope. A filter's expression is
CEL over the event's payload as ``input``, its ``additional_metadata``, the filter's own
``payload``, ``event_key`` and ``event_id``; an expression that cannot be evaluated does
not trigger (the engine records a CEL failure). flowsim parses the expression when the
workflow is defined (a runtime filter's when it is created), so CEL outside the modelled
subset is refused there. Hatchet's server keeps both kinds in one table, and a workflow
"has filters" if it has any of either kind, of any scope.
"""

from __future__ import annotations

import functools
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from pydantic import BaseModel, Field, ValidationError

from flowsim.cel_predicate import Predicate, parse_predicate
from flowsim.errors import WorkflowDefinitionError
from flowsim.sdk.types import JSONSerializableMapping
from flowsim.store.event_filters import DEFAULT_FILTER_LIMIT, FilterStore
from flowsim.store.records import JSON

#: what a filter expression may name
ROOTS = ("input", "additional_metadata", "payload", "event_key", "event_id")


def parse_expression(expression: str, where: str) -> Predicate:
    """A filter's CEL expression over ``ROOTS``; ``WorkflowDefinitionError`` naming
    ``where`` for anything outside the modelled subset."""
    return parse_predicate(expression, ROOTS, where, "filter expression")


#: the predicate of a stored filter this flowsim cannot parse
NEVER = parse_expression("false", "flowsim")


class DefaultFilter(BaseModel):
    """hatchet_sdk's declarative filter: created with the workflow."""

    expression: str
    scope: str
    payload: JSONSerializableMapping = Field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class EventFilter:
    """A workflow's filter, its expression parsed."""

    scope: str
    predicate: Predicate
    payload: dict[str, JSON]


def to_filters(value: Any, workflow: str) -> tuple[EventFilter, ...]:
    """``default_filters=`` as given: DefaultFilter items (or mappings of their fields)."""
    if value is None:
        return ()
    if not isinstance(value, Sequence) or isinstance(value, str | bytes):
        raise WorkflowDefinitionError(
            f"workflow {workflow!r}: default_filters must be a list of "
            f"DefaultFilter(expression=, scope=, payload=), got {value!r}"
        )
    filters = []
    for position, item in enumerate(value):
        where = f"workflow {workflow!r} default_filters[{position}]"
        try:
            given = item if isinstance(item, DefaultFilter) else DefaultFilter.model_validate(item)
        except ValidationError as exc:
            raise WorkflowDefinitionError(
                f"{where}: {item!r} is not a DefaultFilter(expression=, scope=, payload=): "
                f"{exc.errors()[0]['msg']}"
            ) from None
        predicate = parse_expression(given.expression, where)
        filters.append(EventFilter(given.scope, predicate, dict(given.payload)))
    return tuple(filters)


@functools.lru_cache(maxsize=1024)
def stored_predicate(expression: str) -> Predicate:
    """A stored filter's expression, parsed once per process. One this flowsim cannot
    parse (stored by another version) never holds, as a CEL failure triggers nothing in
    Hatchet; it still counts as a filter of its workflow."""
    try:
        return parse_expression(expression, "stored event filter")
    except WorkflowDefinitionError:
        return NEVER


def runtime_filters(
    store: FilterStore, workflow_ids: Collection[str]
) -> dict[str, list[EventFilter]]:
    """The stored filters of these workflows, by workflow id, oldest first."""
    if not workflow_ids:
        return {}
    # at most as many as Hatchet's server reads for one push (20,000)
    rows, _ = store.list_filters(list(workflow_ids), None, DEFAULT_FILTER_LIMIT, 0)
    found: dict[str, list[EventFilter]] = {}
    for row in reversed(rows):
        item = EventFilter(row.scope, stored_predicate(row.expression), dict(row.payload))
        found.setdefault(row.workflow_id, []).append(item)
    return found


def filter_payloads(
    filters: Sequence[EventFilter],
    scope: str | None,
    event: tuple[str, str, Mapping[str, JSON], Mapping[str, JSON]],
) -> list[JSON]:
    """One item per run the event starts for a workflow with these filters: None (no
    filter: one run) or the payload of each filter of the scope that holds."""
    if not filters:
        return [None]
    if scope is None:
        return []
    event_id, event_key, payload, metadata = event
    values = {"input": payload, "additional_metadata": metadata,
              "event_key": event_key, "event_id": event_id}  # fmt: skip
    return [
        dict(f.payload)
        for f in filters
        if f.scope == scope and f.predicate.evaluate({**values, "payload": f.payload})
    ]
