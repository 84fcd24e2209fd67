"""Workflow-wide task defaults (``hatchet.workflow(..., task_defaults=TaskDefaults(...))``).

hatchet_sdk resolves them when a task is declared, not when it runs: a task option left at
its parameter's default takes the workflow's value instead. "Left at its default" is a
comparison with the default value, not "not passed", so ``retries=0`` written out in a
workflow whose defaults say ``retries=3`` gets 3, as in hatchet_sdk 1.43 (its
``ComputedTaskParameters``). Only ``task`` and ``durable_task`` take them; the on-failure
and on-success tasks keep their own options, as there.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from flowsim.errors import WorkflowDefinitionError
from flowsim.sdk.task import DEFAULT_EXECUTION_TIMEOUT, DEFAULT_SCHEDULE_TIMEOUT, TaskSettings
from flowsim.sdk.types import Duration, Priority


class TaskDefaults(BaseModel):
    """hatchet_sdk's names and checks. ``priority`` is accepted and checked (1 to 3) but
    applies to nothing: hatchet_sdk 1.43 reads it nowhere either (a run's priority comes
    from ``default_priority=`` or the trigger's options). An unknown field is refused where
    hatchet_sdk drops it: ``retry=3`` for ``retries=3`` would otherwise change nothing,
    silently."""

    model_config = ConfigDict(extra="forbid")

    schedule_timeout: Duration | None = None
    execution_timeout: Duration | None = None
    priority: int | Priority | None = Field(default=None, gt=0, lt=4)
    retries: int | None = None
    backoff_factor: float | None = None
    backoff_max_seconds: int | None = None


#: each defaultable option and the value that counts as "left at its default"
_PARAMETER_DEFAULTS: dict[str, object] = {
    "schedule_timeout": DEFAULT_SCHEDULE_TIMEOUT,
    "execution_timeout": DEFAULT_EXECUTION_TIMEOUT,
    "retries": 0,
    "backoff_factor": None,
    "backoff_max_seconds": None,
}


def to_task_defaults(value: Any, workflow: str) -> TaskDefaults:
    """``task_defaults=`` as given (a TaskDefaults, a mapping of its fields, or None)."""
    if value is None or isinstance(value, TaskDefaults):
        return value or TaskDefaults()
    try:
        return TaskDefaults.model_validate(value)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in error['loc']) or 'value'}: {error['msg']}"
            for error in exc.errors()
        )
        raise WorkflowDefinitionError(
            f"workflow {workflow!r}: task_defaults={value!r} is not valid ({problems}); give "
            "TaskDefaults(schedule_timeout=, execution_timeout=, priority=, retries=, "
            "backoff_factor=, backoff_max_seconds=)"
        ) from None


def with_task_defaults(settings: TaskSettings, defaults: TaskDefaults) -> TaskSettings:
    """``settings`` with every option still at its parameter default replaced by the
    workflow's default for it, where the workflow sets one."""
    changes = {
        option: getattr(defaults, option)
        for option, parameter_default in _PARAMETER_DEFAULTS.items()
        if getattr(defaults, option) is not None and getattr(settings, option) == parameter_default
    }
    return dataclasses.replace(settings, **changes) if changes else settings
