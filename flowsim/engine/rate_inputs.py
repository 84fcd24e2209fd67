"""Rate limit keys and units are checked against a run's input when it is triggered.

The stores evaluate a task's rate limits when a worker claims it, which is too late to tell
the caller that ``input.user_id`` is missing; Hatchet evaluates them when it creates the
task. So a trigger evaluates every rate limited task's keys and units first, and a run
whose input or metadata lacks a field (or has one of the wrong type) is not created:
``InvalidInputError`` names the expression and the field.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from flowsim.rate_limits import demands
from flowsim.store.transitions import NewRun


def check_rate_limit_inputs(items: Sequence[NewRun], inherited: Mapping[str, Any]) -> None:
    """``inherited``: the spawning run's metadata, which a child run inherits."""
    for item in items:
        limited = [task for task in item.spec.tasks.values() if task.rate_limits]
        if not limited:
            continue
        metadata = {**inherited, **item.additional_metadata}
        for task in limited:
            demands(task.rate_limits, item.input, metadata)
