"""hatchet_sdk's worker-label and sticky types, and their translation to placement rules.

The models keep hatchet-sdk 1.43.1's names, fields and defaults (``DesiredWorkerLabel``
defaults to ``required=False``, ``weight=None``, ``comparator=None``), so user code builds
them unchanged; ``desired_labels`` turns what a decorator received (a list of labels with
keys, or the deprecated dict keyed by label) into ``flowsim.placement.DesiredLabel``\\ s,
with Hatchet's defaults filled in (weight 100, comparator EQUAL).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from enum import Enum
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel

from flowsim.errors import WorkflowDefinitionError
from flowsim.placement import DEFAULT_WEIGHT, Comparator, DesiredLabel, Sticky

if TYPE_CHECKING:
    from flowsim.engine.runtime import AttemptState


class WorkerLabelComparator(int, Enum):
    """hatchet_sdk's comparator enum: the worker's value is compared against the desired
    one (``worker_value < 256`` for ``LESS_THAN`` with ``value=256``)."""

    EQUAL = 0
    NOT_EQUAL = 1
    GREATER_THAN = 2
    GREATER_THAN_OR_EQUAL = 3
    LESS_THAN = 4
    LESS_THAN_OR_EQUAL = 5


class StickyStrategy(str, Enum):  # noqa: UP042 - hatchet_sdk's base classes
    SOFT = "SOFT"
    HARD = "HARD"


class WorkerLabel(BaseModel):
    key: str | None = None
    value: str | int


class DesiredWorkerLabel(WorkerLabel):
    required: bool = False
    weight: int | None = None
    comparator: int | WorkerLabelComparator | None = None


DesiredLabels = Sequence[DesiredWorkerLabel] | Mapping[str, DesiredWorkerLabel | Mapping[str, Any]]


def desired_labels(given: DesiredLabels | None, where: str) -> tuple[DesiredLabel, ...]:
    """A task's ``desired_worker_labels=`` as placement rules. A list entry needs its
    ``key``; the dict form (deprecated in hatchet_sdk, still served) takes the key from
    the dict."""
    if not given:
        return ()
    entries: list[tuple[str | None, DesiredWorkerLabel]] = []
    if isinstance(given, Mapping):
        for name, given_label in given.items():
            model = (
                given_label
                if isinstance(given_label, DesiredWorkerLabel)
                else DesiredWorkerLabel(**given_label)
            )
            entries.append((str(name), model))
    else:
        entries = [(label.key, label) for label in given]
    rules: list[DesiredLabel] = []
    for key, label in entries:
        if not key:
            raise WorkflowDefinitionError(
                f"{where}: desired_worker_labels entry {label!r} has no key; pass "
                "DesiredWorkerLabel(key='model', value=...) in a list, or a dict keyed by label"
            )
        try:
            comparator = Comparator(int(label.comparator or 0))
        except ValueError:
            raise WorkflowDefinitionError(
                f"{where}: desired label {key!r} has comparator {label.comparator!r}; use a "
                "WorkerLabelComparator"
            ) from None
        weight = DEFAULT_WEIGHT if label.weight is None else int(label.weight)
        rules.append(DesiredLabel(key, label.value, label.required, weight, comparator))
    return tuple(rules)


def sticky_strategy(given: StickyStrategy | str | None, where: str) -> Sticky | None:
    if given is None:
        return None
    value = given.value if isinstance(given, StickyStrategy) else given
    try:
        return Sticky(value)
    except ValueError:
        raise WorkflowDefinitionError(
            f"{where}: sticky={given!r}; use StickyStrategy.SOFT or StickyStrategy.HARD"
        ) from None


class WorkerContext:
    """``ctx.worker`` (deprecated in hatchet_sdk, used by its affinity and sticky
    examples): the worker running the task, its labels, and a way to change them."""

    def __init__(self, attempt: AttemptState) -> None:
        self._attempt = attempt

    def id(self) -> str:
        return self._attempt.worker.id

    def labels(self) -> dict[str, str | int]:
        return dict(self._attempt.worker.labels)

    def upsert_labels(self, labels: dict[str, str | int]) -> None:
        self._attempt.engine.set_worker_labels(self._attempt.worker, labels)

    async def async_upsert_labels(self, labels: dict[str, str | int]) -> None:
        self.upsert_labels(labels)  # no thread: an engine call is cheap and loop-safe


__all__ = [
    "DesiredWorkerLabel",
    "StickyStrategy",
    "WorkerContext",
    "WorkerLabel",
    "WorkerLabelComparator",
    "desired_labels",
    "sticky_strategy",
]
