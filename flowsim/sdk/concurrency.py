"""``ConcurrencyExpression`` and ``ConcurrencyLimitStrategy`` under hatchet_sdk's names, and
the conversion of a ``concurrency=`` argument into the engine's ``ConcurrencyLimit``s.

hatchet_sdk accepts ``concurrency=`` as an int (``N`` runs at once, one constant key,
GROUP_ROUND_ROBIN), one expression or a list of them (every limit must admit). flowsim
models three strategies exactly (docs/semantics.md, "Concurrency"); the others hatchet-sdk
1.43.1 names, a ``max_runs`` given as a CEL expression and tenant-scoped limits are refused
by name at definition time rather than run with a guessed meaning.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from typing import Any

from pydantic import BaseModel, ValidationError, field_validator, model_validator

from flowsim import concurrency, rules
from flowsim.errors import UnsupportedFeatureError, WorkflowDefinitionError
from flowsim.store.records import ConcurrencyLimit


class ConcurrencyLimitStrategy(enum.StrEnum):
    """hatchet-sdk 1.43.1's strategies. flowsim runs every one Hatchet's engine accepts
    (``MODELLED``); the engine refuses QUEUE_NEWEST and QUEUE_OLDEST when a workflow using
    them registers (its v1 create options validate ``oneof=CANCEL_IN_PROGRESS
    GROUP_ROUND_ROBIN CANCEL_NEWEST CANCEL_QUEUED_EXCEPT_NEWEST CANCEL_QUEUED_EXCEPT_OLDEST``),
    so flowsim refuses them when the workflow is defined."""

    CANCEL_IN_PROGRESS = "CANCEL_IN_PROGRESS"
    GROUP_ROUND_ROBIN = "GROUP_ROUND_ROBIN"
    CANCEL_NEWEST = "CANCEL_NEWEST"
    QUEUE_NEWEST = "QUEUE_NEWEST"
    QUEUE_OLDEST = "QUEUE_OLDEST"
    CANCEL_QUEUED_EXCEPT_NEWEST = "CANCEL_QUEUED_EXCEPT_NEWEST"
    CANCEL_QUEUED_EXCEPT_OLDEST = "CANCEL_QUEUED_EXCEPT_OLDEST"


MODELLED = frozenset(strategy.value for strategy in rules.ConcurrencyStrategy)


class ConcurrencyExpression(BaseModel):
    """A concurrency limit: ``expression`` (CEL over ``input`` and ``additional_metadata``)
    groups runs, ``max_runs`` of a group run at once, ``limit_strategy`` decides what
    happens to one more. Validated as hatchet_sdk validates it."""

    expression: str
    max_runs: int | str
    limit_strategy: ConcurrencyLimitStrategy
    name: str | None = None
    is_tenant_scoped: bool = False

    @field_validator("max_runs")
    @classmethod
    def _positive(cls, value: int | str) -> int | str:
        if isinstance(value, int) and value <= 0:
            raise ValueError("max_runs must be greater than 0")
        if isinstance(value, str) and not value.strip():
            raise ValueError("max_runs expression must be non-empty")
        return value

    @model_validator(mode="after")
    def _named_when_scoped(self) -> ConcurrencyExpression:
        if self.is_tenant_scoped and not (self.name or "").strip():
            raise ValueError("a name is required for tenant-scoped concurrency")
        return self

    @staticmethod
    def from_int(max_runs: int) -> ConcurrencyExpression:
        """What ``concurrency=N`` means: N runs at once, all under one constant key."""
        return ConcurrencyExpression(
            expression="'constant'",
            max_runs=max_runs,
            limit_strategy=ConcurrencyLimitStrategy.GROUP_ROUND_ROBIN,
        )


def to_limits(value: Any, workflow: str, task: str | None = None) -> tuple[ConcurrencyLimit, ...]:
    """A ``concurrency=`` argument as engine limits, checked now: keys parse, strategies
    and options are modelled. Errors name the workflow (and task)."""
    where = f"workflow {workflow!r}" + (f" task {task!r}" if task else "")
    if value is None:
        return ()
    if isinstance(value, bool):
        raise WorkflowDefinitionError(f"{where}: concurrency={value!r} is not a limit")
    if isinstance(value, int):
        if value <= 0:
            raise WorkflowDefinitionError(f"{where}: concurrency={value} must be greater than 0")
        value = ConcurrencyExpression.from_int(value)
    items: Sequence[Any] = value if isinstance(value, (list, tuple)) else [value]
    limits = tuple(_limit(item, where) for item in items)
    concurrency.check_limits(workflow, f" task {task!r}" if task else "", limits)
    return limits


def _limit(item: Any, where: str) -> ConcurrencyLimit:
    if isinstance(item, Mapping):  # hatchet_sdk's pydantic config accepts the fields as a dict
        try:
            item = ConcurrencyExpression.model_validate(item)
        except ValidationError as exc:
            raise WorkflowDefinitionError(f"{where}: concurrency={item!r}: {exc}") from None
    try:
        expression = item.expression
        max_runs = item.max_runs
        strategy = item.limit_strategy
    except AttributeError:
        raise WorkflowDefinitionError(
            f"{where}: concurrency takes an int, a ConcurrencyExpression or a list of them, "
            f"got {item!r}"
        ) from None
    name = getattr(strategy, "value", strategy)
    if name not in MODELLED:
        raise UnsupportedFeatureError(
            f"{where}: concurrency strategy {name} is in hatchet_sdk's enum but Hatchet's "
            f"engine refuses it when the workflow registers; use one of "
            f"{', '.join(sorted(MODELLED))} (see docs/hatchet-compatibility.md)"
        )
    if isinstance(max_runs, bool) or not isinstance(max_runs, int | str):
        raise WorkflowDefinitionError(f"{where}: max_runs={max_runs!r} is not a number or CEL")
    shared = str(item.name) if getattr(item, "is_tenant_scoped", False) else None
    return ConcurrencyLimit(str(expression), max_runs, rules.ConcurrencyStrategy(name), shared)


__all__ = ["ConcurrencyExpression", "ConcurrencyLimitStrategy", "to_limits"]
