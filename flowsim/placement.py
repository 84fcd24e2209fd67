"""Where a task run may run: worker labels, desired-label affinity and sticky assignment.

Pure rules, like ``flowsim.rules``: the in-memory engine, the reference store and both SQL
stores call them (through ``flowsim.store.placement_filter``), so every backend places a
task run the same way. Nothing here reads a clock or touches I/O.

Hatchet's semantics (its scheduler's ``computeWeight``, the "Worker Affinity" and "Sticky
Assignment" guides, hatchet-sdk 1.43.1):

- A desired label compares the **worker's** value against the desired one
  (``worker_value <comparator> desired_value``): ``LESS_THAN 256`` matches a worker whose
  label is 128, not one whose label is 512. Strings compare only with EQUAL/NOT_EQUAL, and
  only against strings; the ordering comparators compare integers only. A worker without
  the key does not match.
- A ``required`` label the worker does not match makes the worker ineligible; a matched
  label adds its ``weight`` (100 when not given) to the worker's score. The scheduler gives
  a task to the eligible worker with the highest score that has a free slot.
- Sticky ``HARD``: every task of a run runs on the worker that took the first one (a child
  triggered with ``sticky=True`` on its parent's worker); with that worker gone the task
  waits until its schedule timeout cancels it. ``SOFT``: that worker is preferred, any
  other takes the task when it is unavailable.

flowsim's workers *pull* work rather than being pushed it, so a preference is honoured by
deferral: a worker leaves a task it may run to a better-scoring live worker that has a
free slot for it, for at most ``PREFERENCE_PATIENCE`` seconds after the task became
claimable; after that the first worker with a free slot takes it, so nothing starves.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from flowsim.errors import ConfigurationError

LabelValue = str | int

#: Hatchet's weight for a desired label given without one.
DEFAULT_WEIGHT = 100
#: Seconds a claimable task run is left to a better-placed worker before any may take it.
PREFERENCE_PATIENCE = 1.0


class Comparator(enum.IntEnum):
    """``WorkerLabelComparator``'s values (hatchet-sdk 1.43.1, proto enum order)."""

    EQUAL = 0
    NOT_EQUAL = 1
    GREATER_THAN = 2
    GREATER_THAN_OR_EQUAL = 3
    LESS_THAN = 4
    LESS_THAN_OR_EQUAL = 5


class Sticky(enum.StrEnum):
    """``StickyStrategy``'s values."""

    SOFT = "SOFT"
    HARD = "HARD"


@dataclass(frozen=True, slots=True)
class DesiredLabel:
    """One entry of a task's ``desired_worker_labels``, normalised."""

    key: str
    value: LabelValue
    required: bool = False
    weight: int = DEFAULT_WEIGHT
    comparator: Comparator = Comparator.EQUAL

    def describe(self) -> str:
        words = {
            Comparator.EQUAL: "==", Comparator.NOT_EQUAL: "!=", Comparator.GREATER_THAN: ">",
            Comparator.GREATER_THAN_OR_EQUAL: ">=", Comparator.LESS_THAN: "<",
            Comparator.LESS_THAN_OR_EQUAL: "<=",
        }  # fmt: skip
        kind = "required" if self.required else f"preferred, weight {self.weight}"
        return f"{self.key} {words[self.comparator]} {self.value!r} ({kind})"

    def to_json(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "value": self.value,
            "required": self.required,
            "weight": self.weight,
            "comparator": int(self.comparator),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> DesiredLabel:
        return cls(
            data["key"],
            data["value"],
            bool(data["required"]),
            int(data["weight"]),
            Comparator(data["comparator"]),
        )


def check_labels(labels: Mapping[str, Any], where: str) -> dict[str, LabelValue]:
    """Worker labels are string keys with string or integer values, as in Hatchet."""
    checked: dict[str, LabelValue] = {}
    for key, value in labels.items():
        if not isinstance(key, str) or not key:
            raise ConfigurationError(f"{where}: label keys must be non-empty strings, got {key!r}")
        if isinstance(value, bool) or not isinstance(value, str | int):
            raise ConfigurationError(
                f"{where}: label {key!r} has value {value!r}; worker label values are strings "
                "or integers"
            )
        checked[key] = value
    return checked


def _matches(desired: DesiredLabel, actual: LabelValue) -> bool:
    wanted = desired.value
    same_kind = isinstance(wanted, str) == isinstance(actual, str)
    if not same_kind:
        return False
    op = desired.comparator
    if op is Comparator.EQUAL:
        return actual == wanted
    if op is Comparator.NOT_EQUAL:
        return actual != wanted
    if isinstance(wanted, str) or isinstance(actual, str):
        return False  # Hatchet orders integers only
    if op is Comparator.GREATER_THAN:
        return actual > wanted
    if op is Comparator.GREATER_THAN_OR_EQUAL:
        return actual >= wanted
    if op is Comparator.LESS_THAN:
        return actual < wanted
    return actual <= wanted


def label_score(desired: Sequence[DesiredLabel], labels: Mapping[str, LabelValue]) -> int | None:
    """The worker's score for a task (the sum of the weights of the labels it matches), or
    None if it misses a required one (Hatchet's ``computeWeight`` returning -1)."""
    total = 0
    for label in desired:
        actual = labels.get(label.key)
        if actual is not None and _matches(label, actual):
            total += label.weight
        elif label.required:
            return None
    return total


@dataclass(frozen=True, slots=True)
class Placement:
    """What constrains one task run's placement: its task's desired labels, its workflow's
    sticky strategy, and the worker its run is pinned to (if any yet)."""

    desired: tuple[DesiredLabel, ...] = ()
    sticky: Sticky | None = None
    pinned: str | None = None

    @property
    def has_preferences(self) -> bool:
        return self.sticky is Sticky.SOFT or any(not d.required for d in self.desired)


@dataclass(frozen=True, slots=True)
class Peer:
    """Another live, accepting worker that registers the task's workflow, as a claimer
    sees it: its labels and its free slots in the task's pool."""

    worker_id: str
    labels: Mapping[str, LabelValue]
    free: int


def score(
    placement: Placement, worker_id: str, labels: Mapping[str, LabelValue]
) -> tuple[int, int] | None:
    """A worker's rank for the task run (higher is better), None if it may not run it:
    it misses a required label, or the run is HARD-pinned to another worker."""
    if placement.sticky is Sticky.HARD and placement.pinned not in (None, worker_id):
        return None
    labels_score = label_score(placement.desired, labels)
    if labels_score is None:
        return None
    on_pinned = int(placement.sticky is Sticky.SOFT and placement.pinned == worker_id)
    return (on_pinned, labels_score)


def defer_to(
    placement: Placement,
    worker_id: str,
    labels: Mapping[str, LabelValue],
    peers: Sequence[Peer],
    slot_cost: int,
) -> str | None:
    """The id of a better-placed peer with a free slot this worker should leave the task
    run to, or None if this worker is as good as any that could take it now."""
    mine = score(placement, worker_id, labels)
    if mine is None:
        return None
    best: tuple[tuple[int, int], str] | None = None
    for peer in peers:
        if peer.worker_id == worker_id or peer.free < slot_cost:
            continue
        theirs = score(placement, peer.worker_id, peer.labels)
        if theirs is not None and theirs > mine and (best is None or theirs > best[0]):
            best = (theirs, peer.worker_id)
    return best[1] if best is not None else None


def describe(placement: Placement) -> str:
    """What a task run requires, for reports that say why no worker takes it."""
    parts = [d.describe() for d in placement.desired if d.required]
    if placement.sticky is Sticky.HARD and placement.pinned is not None:
        parts.append(f"HARD sticky to worker {placement.pinned!r}")
    return ", ".join(parts) or "nothing"


__all__ = [
    "DEFAULT_WEIGHT",
    "PREFERENCE_PATIENCE",
    "Comparator",
    "DesiredLabel",
    "Peer",
    "Placement",
    "Sticky",
    "check_labels",
    "defer_to",
    "describe",
    "label_score",
    "score",
]
