"""hatchet_sdk's condition classes (``hatchet_sdk.conditions``), and their spec form.

``SleepCondition``, ``UserEventCondition``, ``ParentCondition`` and ``or_`` are built as
in hatchet_sdk 1.43.1 (same arguments, same default ``readable_data_key``s: ``sleep:10s``,
the event key, ``<parent>:<expression>:<timestamp>``). A task's ``wait_for=``,
``skip_if=`` and ``cancel_if=`` lists, and ``aio_wait_for``'s conditions, become
``ConditionSpec`` rows here: each bare condition its own OR group, an ``or_`` one group.
Expressions are parsed when the workflow is defined, so one outside the modelled CEL
subset is refused then, by name, and not when the condition is evaluated.
"""

from __future__ import annotations

import enum
import itertools
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from flowsim.errors import UnsupportedFeatureError, WorkflowDefinitionError
from flowsim.sdk.types import Duration, to_seconds
from flowsim.store import conditions as cond

if TYPE_CHECKING:
    from flowsim.sdk.task import Task


class Action(enum.Enum):
    """hatchet_sdk's ``conditions.Action`` (the values of its protobuf enum)."""

    CREATE = 0
    QUEUE = 1
    CANCEL = 2
    SKIP = 3


def _duration_expr(seconds: float) -> str:
    """hatchet_sdk's ``timedelta_to_expr``: whole hours, minutes or seconds."""
    whole = int(seconds)
    if whole % 3600 == 0:
        return f"{whole // 3600}h"
    if whole % 60 == 0:
        return f"{whole // 60}m"
    return f"{whole}s"


class Condition:
    """Base of the three conditions (hatchet_sdk's abstract ``Condition``)."""

    readable_data_key: str
    expression: str | None = None


class SleepCondition(Condition):
    """Holds once ``duration`` passed since the wait was registered."""

    def __init__(self, duration: Duration, readable_data_key: str | None = None) -> None:
        self.duration = duration
        self.seconds = to_seconds(duration, "SleepCondition(duration)")
        self.readable_data_key = readable_data_key or f"sleep:{_duration_expr(self.seconds)}"


class UserEventCondition(Condition):
    """Holds once an event with ``event_key`` whose payload passes ``expression`` (CEL
    over ``input`` = the payload and ``additional_metadata``) is pushed after the wait was
    registered. ``scope`` and ``consider_events_since`` (event look-back) are refused."""

    def __init__(
        self,
        event_key: str,
        expression: str | None = None,
        readable_data_key: str | None = None,
        scope: str | None = None,
        consider_events_since: datetime | None = None,
    ) -> None:
        if scope is not None or consider_events_since is not None:
            raise UnsupportedFeatureError(
                f"UserEventCondition({event_key!r}): scope= and consider_events_since= (event "
                "look-back) are not modelled by flowsim; only events pushed after the wait "
                "began are seen. Remove them."
            )
        if expression is not None:
            cond.predicate(expression, cond.Kind.EVENT)  # refused now if not modelled
        self.event_key = event_key
        self.expression = expression
        self.scope = scope
        self.consider_events_since = consider_events_since
        self.readable_data_key = readable_data_key or event_key


class ParentCondition(Condition):
    """Holds when the parent task's output passes ``expression`` (CEL over ``output``)."""

    def __init__(
        self, parent: Task[Any], expression: str | None = None, readable_data_key: str | None = None
    ) -> None:
        if expression is not None:
            cond.predicate(expression, cond.Kind.PARENT)
        self.parent = parent
        self.expression = expression
        stamp = datetime.now(tz=UTC).isoformat()
        self.readable_data_key = readable_data_key or (
            parent.name + (f":{expression}" if expression else "") + ":" + stamp
        )


class OrGroup:
    """Conditions of which any one is enough (``or_``)."""

    def __init__(self, conditions: list[Condition]) -> None:
        self.conditions = conditions


def or_(*conditions: Condition) -> OrGroup:
    return OrGroup(conditions=list(conditions))


def to_specs(
    where: str,
    action: cond.Action,
    items: Sequence[Condition | OrGroup],
    parents: Sequence[str],
    groups: itertools.count[int],
) -> list[cond.ConditionSpec]:
    """The spec rows of one action's list; ``groups`` numbers OR groups across lists."""
    specs: list[cond.ConditionSpec] = []
    for item in items:
        members = item.conditions if isinstance(item, OrGroup) else [item]
        group = next(groups)
        for condition in members:
            specs.append(_spec(where, action, group, condition, parents))
    return specs


def _spec(
    where: str, action: cond.Action, group: int, condition: object, parents: Sequence[str]
) -> cond.ConditionSpec:
    if isinstance(condition, SleepCondition):
        return cond.ConditionSpec(cond.Kind.SLEEP, action, group, condition.readable_data_key,
                                  seconds=condition.seconds)  # fmt: skip
    if isinstance(condition, UserEventCondition):
        return cond.ConditionSpec(cond.Kind.EVENT, action, group, condition.readable_data_key,
                                  event_key=condition.event_key,
                                  expression=condition.expression)  # fmt: skip
    if isinstance(condition, ParentCondition):
        parent = condition.parent.name
        if parent not in parents:
            raise WorkflowDefinitionError(
                f"{where}: ParentCondition names task {parent!r}, which is not one of its "
                f"parents ({', '.join(parents) or 'none'}); add it to parents=[...]"
            )
        return cond.ConditionSpec(cond.Kind.PARENT, action, group, condition.readable_data_key,
                                  expression=condition.expression, parent=parent)  # fmt: skip
    raise WorkflowDefinitionError(
        f"{where}: {condition!r} is not a condition; use SleepCondition, UserEventCondition, "
        "ParentCondition or or_(...)"
    )


def task_conditions(
    where: str,
    parents: Sequence[str],
    wait_for: Sequence[Condition | OrGroup] | None,
    skip_if: Sequence[Condition | OrGroup] | None,
    cancel_if: Sequence[Condition | OrGroup] | None,
) -> tuple[cond.ConditionSpec, ...]:
    """A task's conditions, in hatchet_sdk's order (wait_for, cancel_if, skip_if), whose
    readable data keys must be unique, as hatchet_sdk requires."""
    groups = itertools.count()
    specs = [
        *to_specs(where, cond.Action.QUEUE, wait_for or (), parents, groups),
        *to_specs(where, cond.Action.CANCEL, cancel_if or (), parents, groups),
        *to_specs(where, cond.Action.SKIP, skip_if or (), parents, groups),
    ]
    keys = [spec.key for spec in specs]
    if len(set(keys)) != len(keys):
        raise WorkflowDefinitionError(
            f"{where}: Conditions must have unique readable data keys (got {keys}); pass "
            "readable_data_key= to tell equal conditions apart"
        )
    return tuple(specs)


def wait_conditions(
    where: str, items: Sequence[Condition | OrGroup]
) -> tuple[cond.ConditionSpec, ...]:
    """``aio_wait_for``'s conditions: sleeps and events only, action CREATE."""
    for item in items:
        for condition in item.conditions if isinstance(item, OrGroup) else [item]:
            if isinstance(condition, ParentCondition):
                raise WorkflowDefinitionError(
                    f"{where}: aio_wait_for takes SleepCondition and UserEventCondition (or "
                    "or_ of them); a ParentCondition belongs in a DAG task's skip_if/wait_for"
                )
    return tuple(to_specs(where, cond.Action.CREATE, items, (), itertools.count()))


__all__ = [
    "Action",
    "Condition",
    "OrGroup",
    "ParentCondition",
    "SleepCondition",
    "UserEventCondition",
    "or_",
]
