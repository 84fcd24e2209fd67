"""What a store decides and records when an attempt ends without completing.

Every store (the in-memory reference, SQLite, Postgres) must retry a failed task run
exactly when ``rules.decide_after_failure`` says so, and record the same error text for a
task run that timed out in the queue or lost its worker: the parity machine compares
retry counts, ready times and error messages across stores. This module is that glue,
written once: reading the retry policy off a ``TaskSpec`` and wording the reasons.
"""

from __future__ import annotations

import dataclasses

from flowsim import rules
from flowsim.store.records import TaskSpec


def decide(
    task: TaskSpec,
    retry_count: int,
    non_retryable: bool,
    now: float,
    retry_after: float | None = None,
    replay_base: int = 0,
) -> rules.RetryDecision:
    """``rules.decide_after_failure`` for an attempt of ``task`` that failed at ``now``
    after ``retry_count`` retries, with the task's own retry and backoff settings (or the
    delay the attempt asked for). ``replay_base`` is the ``retry_count`` the task run's
    last replay gave it: Hatchet's replay restores the whole retry budget (and backoff
    starts over) while ``retry_count`` keeps counting, so only retries since count."""
    decision = rules.decide_after_failure(
        retry_count=retry_count - replay_base,
        retries=task.retries,
        non_retryable=non_retryable,
        backoff_factor=task.backoff_factor,
        backoff_max=task.backoff_max_seconds,
        now=now,
        retry_after=retry_after,
    )
    if not decision.retry or not replay_base:
        return decision
    return dataclasses.replace(decision, retry_count=decision.retry_count + replay_base)


def schedule_timeout_reason(schedule_timeout: float) -> str:
    """The error of a task run cancelled for waiting in the queue past its schedule
    timeout (Hatchet's SCHEDULING_TIMED_OUT; never retried)."""
    return (
        f"Task exceeded schedule timeout of {rules.format_duration(schedule_timeout)} "
        "(SCHEDULING_TIMED_OUT)"
    )


def lease_lost_reason(worker_id: str | None) -> str:
    """The error of an attempt whose worker stopped heartbeating (the task run is queued
    again without consuming a retry)."""
    return f"worker {worker_id} stopped heartbeating; lease expired"
