"""``created``: ``create_runs`` for the contract suites' many calls that create runs
claiming no idempotency key, so every answer is a run's view."""

from __future__ import annotations

from collections.abc import Sequence

from flowsim.store.protocol import RunRequest, RunStore, RunView


def created(
    store: RunStore,
    requests: Sequence[RunRequest],
    now: float,
    parent_task_run_id: str | None = None,
    parent_token: int | None = None,
) -> list[RunView]:
    """``store.create_runs``, asserting that no request collided (the idempotency contract
    reads collisions from ``create_runs`` itself)."""
    answers = store.create_runs(requests, now, parent_task_run_id, parent_token)
    views = [answer for answer in answers if isinstance(answer, RunView)]
    assert len(views) == len(answers), f"unexpected idempotency collisions: {answers}"
    return views
