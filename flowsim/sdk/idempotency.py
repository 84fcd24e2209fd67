"""hatchet-sdk's idempotency configurations (``idempotency=`` on ``hatchet.workflow``,
``hatchet.task`` and ``hatchet.durable_task``) and their errors' shapes.

The rule they configure is ``flowsim.idempotency``; here they are checked when the workflow
is defined, so an expression outside the modelled CEL, or a window that could never hold a
key, is refused there rather than on the first trigger.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import timedelta
from enum import Enum
from typing import Any

from pydantic import BaseModel, ConfigDict

from flowsim.errors import (
    BulkTriggerIdempotencyCollisionError,
    IdempotencyCollisionError,
    WorkflowDefinitionError,
)
from flowsim.idempotency import STATUS, TTL, Collision, IdempotencyRule, parsed
from flowsim.store.records import WorkflowRun


class IdempotencyMethod(Enum):
    """hatchet-sdk's names for the two kinds of configuration."""

    TTL = TTL
    STATUS = STATUS


class TTLBasedIdempotencyConfig(BaseModel):
    """One run per key for ``ttl`` after the run that claimed it was triggered."""

    model_config = ConfigDict(frozen=True)

    key_expression: str
    ttl: timedelta


class StatusBasedIdempotencyConfig(BaseModel):
    """One run per key until the run that claimed it ends (completed, failed after its
    retries, or cancelled), or for ``fallback_ttl`` at most."""

    model_config = ConfigDict(frozen=True)

    key_expression: str
    fallback_ttl: timedelta


IdempotencyConfig = TTLBasedIdempotencyConfig | StatusBasedIdempotencyConfig


def to_rule(value: Any, workflow: str) -> IdempotencyRule | None:
    """``idempotency=`` as given, checked: the expression parses (the modelled CEL: fields
    of ``input`` and ``additional_metadata``, string literals, ``+``) and the window is
    positive (hatchet-sdk sends any; a key held for no time would make it a no-op)."""
    if value is None:
        return None
    if isinstance(value, TTLBasedIdempotencyConfig):
        method, window, field = TTL, value.ttl, "ttl"
    elif isinstance(value, StatusBasedIdempotencyConfig):
        method, window, field = STATUS, value.fallback_ttl, "fallback_ttl"
    else:
        raise WorkflowDefinitionError(
            f"workflow {workflow!r}: idempotency={value!r} is not an idempotency configuration; "
            "give TTLBasedIdempotencyConfig(key_expression=, ttl=) or "
            "StatusBasedIdempotencyConfig(key_expression=, fallback_ttl=)"
        )
    seconds = window.total_seconds()
    if seconds <= 0:
        raise WorkflowDefinitionError(
            f"workflow {workflow!r}: idempotency {field}={window!r} holds a key for no time, "
            f"so it would never de-duplicate a run; give a positive {field}"
        )
    try:
        parsed(value.key_expression)
    except WorkflowDefinitionError as exc:
        raise WorkflowDefinitionError(f"workflow {workflow!r}: {exc}") from None
    return IdempotencyRule(value.key_expression, seconds, method)


def collision_error(collision: Collision) -> IdempotencyCollisionError:
    """What a trigger that collided raises: who holds the key, and what to do."""
    holder = collision.holder
    return IdempotencyCollisionError(
        holder,
        f"workflow {collision.workflow!r}: idempotency key {collision.key!r} is held by run "
        f"{holder}, so no run was created. That run's result: "
        f"hatchet.runs.get_run_ref({holder!r}).result(); a new run of this key can start "
        "when the key's ttl has passed (with StatusBasedIdempotencyConfig, as soon as that "
        "run ends)",
    )


def created_or_raise(results: Sequence[WorkflowRun | Collision], bulk: bool) -> list[WorkflowRun]:
    """The runs a trigger created, or hatchet_sdk's error if an item collided: a single
    trigger raises ``IdempotencyCollisionError``; a bulk one, whose other items were
    created, ``BulkTriggerIdempotencyCollisionError`` with their ids."""
    collisions = [collision_error(r) for r in results if isinstance(r, Collision)]
    runs = [r for r in results if not isinstance(r, Collision)]
    if not collisions:
        return runs
    if not bulk:
        raise collisions[0]
    raise BulkTriggerIdempotencyCollisionError([run.id for run in runs], collisions)
