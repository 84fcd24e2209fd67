"""Conditions on tasks and durable waits, as data and pure rules.

A task's ``wait_for=`` / ``skip_if=`` / ``cancel_if=`` lists and a durable task's
``ctx.aio_wait_for(...)`` become ``ConditionSpec`` rows (JSON-shaped, stored with the
workflow spec or the wait), and every store decides with the functions here, as it does
with ``flowsim.rules``: which conditions hold when a wait is registered, which a pushed
event or the passing of time satisfies, and what the wait then does.

Hatchet's match semantics (its engine's ``matches.sql``; docs "Conditional Workflows"):

- conditions are grouped by OR group (``or_(...)``); a bare condition is a group of its
  own. An action fires when *every* group of that action has a satisfied condition
  (AND across groups, OR within one);
- precedence when several fire at once: **SKIP > CANCEL > QUEUE**;
- a DAG task's conditions are registered when its parents completed (a sleep counts from
  then; an event pushed before is not seen); its parents' completion is an implicit QUEUE
  group, so a task with only ``skip_if``/``cancel_if`` is queued at once unless those
  already hold (a parent condition is decided at registration);
- a durable wait (``aio_wait_for``) fires with action CREATE and returns
  ``{"CREATE": {readable_data_key: [data, ...]}}`` for the conditions that held.
"""

from __future__ import annotations

import enum
import functools
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from flowsim.cel_predicate import Predicate, parse_predicate

JSON = Any  # as flowsim.store.records.JSON, which imports this module

#: what a skipped task's output is (Hatchet: ``result["skip_on_event"] == {"skipped": True}``)
SKIPPED_OUTPUT: dict[str, JSON] = {"skipped": True}
#: the variables an expression may read, per kind of condition
EVENT_ROOTS = ("input", "additional_metadata")
PARENT_ROOTS = ("output", "input")


class Action(enum.StrEnum):
    """hatchet_sdk's ``conditions.Action`` values flowsim acts on."""

    CREATE = "CREATE"
    QUEUE = "QUEUE"
    CANCEL = "CANCEL"
    SKIP = "SKIP"


#: when several actions fire at once, the first of these wins
PRECEDENCE = (Action.SKIP, Action.CANCEL, Action.QUEUE, Action.CREATE)


class Kind(enum.StrEnum):
    SLEEP = "sleep"
    EVENT = "event"
    PARENT = "parent"


@dataclass(frozen=True, slots=True)
class ConditionSpec:
    """One condition: what it waits for, the action it votes for and its OR group."""

    kind: Kind
    action: Action
    group: int
    #: hatchet_sdk's ``readable_data_key``: the key of its data in a wait's result
    key: str
    seconds: float = 0.0
    event_key: str | None = None
    expression: str | None = None
    parent: str | None = None

    def to_json(self) -> dict[str, JSON]:
        data: dict[str, JSON] = {
            "kind": self.kind.value,
            "action": self.action.value,
            "group": self.group,
            "key": self.key,
        }
        if self.kind is Kind.SLEEP:
            data["seconds"] = self.seconds
        if self.event_key is not None:
            data["event_key"] = self.event_key
        if self.expression is not None:
            data["expression"] = self.expression
        if self.parent is not None:
            data["parent"] = self.parent
        return data

    @staticmethod
    def from_json(data: Mapping[str, Any]) -> ConditionSpec:
        return ConditionSpec(
            kind=Kind(data["kind"]),
            action=Action(data["action"]),
            group=int(data["group"]),
            key=str(data["key"]),
            seconds=float(data.get("seconds", 0.0)),
            event_key=data.get("event_key"),
            expression=data.get("expression"),
            parent=data.get("parent"),
        )


def conditions_to_json(conditions: Iterable[ConditionSpec]) -> list[dict[str, JSON]]:
    return [c.to_json() for c in conditions]


def conditions_from_json(data: Iterable[Mapping[str, Any]]) -> tuple[ConditionSpec, ...]:
    return tuple(ConditionSpec.from_json(item) for item in data)


@functools.lru_cache(maxsize=1024)
def predicate(expression: str, kind: Kind) -> Predicate:
    """The parsed expression (checked when the workflow was defined, so it parses)."""
    roots = EVENT_ROOTS if kind is Kind.EVENT else PARENT_ROOTS
    return parse_predicate(expression, roots, f"{kind.value} condition")


Satisfied = dict[int, JSON]


def on_register(
    conditions: Sequence[ConditionSpec],
    parent_outputs: Mapping[str, JSON],
    run_input: JSON = None,
) -> Satisfied:
    """What holds the moment a wait is registered: parent conditions (their parents have
    completed) whose expression holds, and sleeps of no duration."""
    satisfied: Satisfied = {}
    for index, condition in enumerate(conditions):
        if condition.kind is Kind.PARENT:
            output = parent_outputs.get(condition.parent or "")
            values = {"output": output if output is not None else {}, "input": run_input}
            if condition.expression is None or predicate(
                condition.expression, Kind.PARENT
            ).evaluate(values):
                satisfied[index] = output
        elif condition.kind is Kind.SLEEP and condition.seconds <= 0:
            satisfied[index] = {}
    return satisfied


def on_time(
    conditions: Sequence[ConditionSpec], registered_at: float, satisfied: Satisfied, now: float
) -> list[int]:
    """Sleep conditions that elapsed by ``now`` and were not satisfied yet."""
    return [
        index
        for index, condition in enumerate(conditions)
        if condition.kind is Kind.SLEEP
        and index not in satisfied
        and registered_at + condition.seconds <= now
    ]


def on_event(
    conditions: Sequence[ConditionSpec],
    satisfied: Satisfied,
    key: str,
    payload: JSON,
    additional_metadata: JSON,
) -> list[int]:
    """Event conditions on ``key`` (not satisfied yet) whose expression the event passes."""
    values = {"input": payload, "additional_metadata": additional_metadata or {}}
    return [
        index
        for index, condition in enumerate(conditions)
        if condition.kind is Kind.EVENT
        and condition.event_key == key
        and index not in satisfied
        and (
            condition.expression is None
            or predicate(condition.expression, Kind.EVENT).evaluate(values)
        )
    ]


def decide(conditions: Sequence[ConditionSpec], satisfied: Mapping[int, JSON]) -> Action | None:
    """The action that fires now, by precedence, or None while the wait goes on. A task's
    QUEUE fires with no explicit wait_for groups (its parents' completion is one)."""
    groups: dict[Action, dict[int, bool]] = {}
    for index, condition in enumerate(conditions):
        votes = groups.setdefault(condition.action, {})
        votes[condition.group] = votes.get(condition.group, False) or index in satisfied
    for action in PRECEDENCE:
        held = groups.get(action)
        if held is None:
            if action is Action.QUEUE and Action.CREATE not in groups:
                return Action.QUEUE
            continue
        if all(held.values()):
            return action
    return None


def wake_at(
    conditions: Sequence[ConditionSpec], registered_at: float, satisfied: Mapping[int, JSON]
) -> float | None:
    """When the earliest sleep not yet satisfied elapses (None: no sleep to wait for)."""
    times = [
        registered_at + c.seconds
        for index, c in enumerate(conditions)
        if c.kind is Kind.SLEEP and index not in satisfied
    ]
    return min(times, default=None)


def wait_result(
    conditions: Sequence[ConditionSpec], satisfied: Mapping[int, JSON], action: Action
) -> dict[str, JSON]:
    """A durable wait's return value: ``{action: {readable_data_key: [data, ...]}}``
    over the satisfied conditions of the action that fired."""
    found: dict[str, list[JSON]] = {}
    for index, condition in enumerate(conditions):
        if condition.action is action and index in satisfied:
            found.setdefault(condition.key, []).append(satisfied[index])
    return {action.value: dict(found)}


def event_keys(conditions: Iterable[ConditionSpec]) -> list[str]:
    """The distinct event keys the conditions listen for, in order."""
    return list(dict.fromkeys(c.event_key for c in conditions if c.event_key is not None))


def cancel_reason(task: str) -> str:
    """The error a task cancelled by its ``cancel_if`` records."""
    return f"task {task!r} was cancelled: a cancel_if condition held"
