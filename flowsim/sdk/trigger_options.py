"""A trigger's options: hatchet_sdk's ``options=TriggerWorkflowOptions(...)`` (deprecated
there) and the keywords that replaced it.

hatchet_sdk 1.43 (``_create_trigger_run_options_with_combined_additional_meta``) uses
``options`` *instead of* the keywords when both are given, and warns that ``options`` is
deprecated; so does flowsim, and its warning also names the keywords that were given
and so ignored, rather than drop them without a word.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Any

from flowsim.errors import UnsupportedFeatureError
from flowsim.sdk.trigger_labels import given
from flowsim.sdk.types import (
    JSONSerializableMapping,
    ScheduleTriggerWorkflowOptions,
    TriggerWorkflowOptions,
)

DEPRECATED = (
    "Passing options to the run(), schedule(), etc. methods is deprecated and will be "
    "removed in v2.0.0. Please pass these parameters directly instead."
)


@dataclass(frozen=True, slots=True)
class TriggerKeywords:
    """The trigger keywords ``options`` stands in for, as the caller gave them."""

    child_key: str | None
    additional_metadata: JSONSerializableMapping | None
    priority: int | None
    sticky: bool
    desired_worker_id: str | None
    desired_worker_labels: Any

    def named(self) -> list[str]:
        """The keywords given a value."""
        values = {
            "child_key": self.child_key is not None,
            "additional_metadata": bool(self.additional_metadata),
            "priority": self.priority is not None,
            "sticky": self.sticky,
            "desired_worker_id": self.desired_worker_id is not None,
            "desired_worker_labels": given(self.desired_worker_labels),
        }
        return [name for name, set_ in values.items() if set_]

    def placed(self) -> bool:
        """Whether a keyword only the options model carries is given."""
        return self.desired_worker_id is not None or given(self.desired_worker_labels)

    def options(self) -> TriggerWorkflowOptions:
        return TriggerWorkflowOptions(
            child_key=self.child_key,
            additional_metadata=dict(self.additional_metadata or {}),
            priority=self.priority,
            sticky=self.sticky,
            desired_worker_id=self.desired_worker_id,
            desired_worker_label=self.desired_worker_labels,
        )


#: options fields flowsim does not model on a trigger, and what to do instead
UNMODELLED = {
    "parent_id": "a run is the child of the task that triggers it: trigger it from there",
    "parent_step_run_id": "a run is the child of the task that triggers it: trigger it from there",
    "child_index": "children are numbered in the order their parent spawns them; give a "
    "child_key= to find a child again",
    "namespace": "flowsim has no namespaces: workflow names are global to a backend",
}


def refuse_unmodelled(options: ScheduleTriggerWorkflowOptions, where: str) -> None:
    """Refuse an options field flowsim would otherwise drop without a word."""
    for name, instead in UNMODELLED.items():
        if getattr(options, name) is not None:
            raise UnsupportedFeatureError(
                f"{where}: options {name}={getattr(options, name)!r} is not modelled; {instead}"
            )


def options_replace(keywords: TriggerKeywords, stacklevel: int = 4) -> None:
    """Warn, as hatchet_sdk does, that ``options=`` is deprecated; and that the keywords
    given with it do nothing. ``stacklevel``: that of the user's call."""
    ignored = keywords.named()
    message = DEPRECATED
    if ignored:
        message += (
            f" The keywords given with options= are ignored, as in hatchet_sdk: "
            f"{', '.join(ignored)}; put them in the options, or drop options=."
        )
    warnings.warn(message, DeprecationWarning, stacklevel=stacklevel)
