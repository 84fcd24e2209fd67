"""Desired worker labels given on one trigger (``desired_worker_labels=`` on ``run`` /
``aio_run`` (and their ``*_no_wait`` forms) / ``create_bulk_run_item``, or
``TriggerWorkflowOptions(desired_worker_label=...)``), as Hatchet's engine applies them
since its "dynamic worker label assign" (PR #3137).

Hatchet stores them with the run's tasks and its scheduler puts them *in place of* a
task's own labels (``labels = labelOverrides``: replaced, not merged). flowsim gives the
run a spec of its own in which every task has the trigger's labels: every store then
places it with the rules it already applies to a task's labels, in every process, and
the spec is stored like any other. Hatchet's scheduler ignores labels for a workflow
with a sticky strategy (its open issue #4936), so a trigger that gives labels to one is
refused rather than not doing what it says.
"""

from __future__ import annotations

import dataclasses
import warnings
from collections.abc import Mapping
from typing import Any

from flowsim.errors import UnsupportedFeatureError
from flowsim.placement import DesiredLabel, Sticky
from flowsim.sdk.labels import desired_labels
from flowsim.store.records import WorkflowSpec

#: a run's spec with a trigger's labels, by the workflow's spec and the labels: a bulk
#: trigger of 10,000 items with the same labels makes (and stores) one spec
Variants = dict[tuple[int, tuple[DesiredLabel, ...]], WorkflowSpec]


def given(labels: Any) -> bool:
    return labels not in (None, [], {})


def labelled_spec(
    spec: WorkflowSpec, sticky: Sticky | None, labels: Any, variants: Variants
) -> WorkflowSpec:
    """``spec`` with ``labels`` in place of every task's desired labels (``spec`` itself
    when none are given)."""
    if not given(labels):
        return spec
    where = f"{spec.name} trigger"
    if isinstance(labels, Mapping):
        warnings.warn(
            "Passing desired_worker_labels as a dict is deprecated and will be removed in "
            "v2.0.0. Use a list of DesiredWorkerLabel objects with the key field set instead.",
            DeprecationWarning,
            stacklevel=5,
        )
    if sticky is not None:
        raise UnsupportedFeatureError(
            f"{where}: desired_worker_labels on a run of a workflow with a sticky strategy "
            "do nothing in Hatchet (its scheduler ranks sticky runs by their worker alone: "
            "hatchet-dev/hatchet#4936); pin the run with sticky=True and desired_worker_id=, "
            "or trigger a workflow without sticky="
        )
    rules = desired_labels(labels, where)
    key = (id(spec), rules)
    variant = variants.get(key)
    if variant is None:
        tasks = {
            name: dataclasses.replace(task, desired_labels=rules)
            for name, task in spec.tasks.items()
        }
        variant = variants[key] = dataclasses.replace(spec, tasks=tasks)
    return variant
