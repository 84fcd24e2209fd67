"""Mirrors sdks/python/examples/retry_after (worker.py, test_retry_after.py) of
hatchet-dev/hatchet.

The example: tasks that raise ``RetryAfterException(after=...)`` while
``ctx.retry_count < input.failing_attempts``. Its tests assert: two 2 s delays then success
on retry 2 (at least 4 s later); a task that keeps failing fails once ``retries`` (3) are
spent, the delays counting against them; and with ``backoff_factor=10`` the requested 1 s
replaces the 10 s backoff. Here on the manual clock: each attempt starts exactly when the
delay it asked for ends. Its exponential example passes a float for ``after``, which
hatchet-sdk 1.43 cannot report (``after`` must be a ``timedelta``): flowsim raises a
``TypeError`` where the exception is built, and the attempt fails as any other, with the
task's own retry policy."""

from datetime import timedelta
from types import ModuleType
from typing import Any

import pytest
from pydantic import BaseModel

from flowsim import Hatchet, ManualClock
from flowsim.store.protocol import TaskView
from tests.helpers import eventually, settle


class UpstreamInput(BaseModel):
    failing_attempts: int = 2


def define(hatchet: Hatchet, after: Any, **retry_policy: Any) -> Any:
    from hatchet_sdk import Context, RetryAfterException

    @hatchet.task(name="RetryAfter", input_validator=UpstreamInput, **retry_policy)
    def retry_after(input: UpstreamInput, ctx: Context) -> dict[str, int]:
        if ctx.retry_count < input.failing_attempts:
            raise RetryAfterException("upstream rate limited", after=after)
        return {"attempt": ctx.retry_count}

    return retry_after


async def _attempt_starts(
    hatchet: Hatchet, clock: ManualClock, task: Any, failing: int, delay: float
) -> tuple[Any, list[float]]:
    """Run ``task`` failing ``failing`` times, moving the clock by ``delay`` for each retry
    (and checking that no attempt starts a moment earlier)."""
    ref = await task.aio_run(UpstreamInput(failing_attempts=failing), wait_for_result=False)

    def view() -> TaskView:
        return hatchet.runs.view(ref.workflow_run_id).tasks["retryafter"]

    retries = task.task.spec.retries
    for attempt in range(1, min(failing, retries) + 1):
        await eventually(lambda n=attempt: len(view().attempts) == n and view().status == "QUEUED")
        clock.advance(delay - 0.001)
        await settle()
        assert len(view().attempts) == attempt  # not before the requested delay is over
        clock.advance(0.001)
        await eventually(lambda n=attempt: len(view().attempts) == n + 1)
    await eventually(lambda: view().status.is_terminal)
    return ref, [a.started_at for a in view().attempts]


async def test_two_requested_delays_then_success_on_the_third_attempt(
    hatchet_sdk: ModuleType, hatchet: Hatchet, flowsim_clock: ManualClock
) -> None:
    upstream = define(hatchet, timedelta(seconds=2), retries=5)
    async with hatchet.worker("retry-after-worker", slots=2, workflows=[upstream]):
        ref, starts = await _attempt_starts(hatchet, flowsim_clock, upstream, 2, 2.0)
        assert await ref.aio_result() == {"attempt": 2}
    assert starts == pytest.approx([0.0, 2.0, 4.0])  # the example's "elapsed >= 4"


async def test_the_requested_delay_replaces_the_backoff_and_uses_up_the_retries(
    hatchet_sdk: ModuleType, hatchet: Hatchet, flowsim_clock: ManualClock
) -> None:
    from hatchet_sdk import FailedTaskRunExceptionGroup

    overrides = define(
        hatchet, timedelta(seconds=1), retries=2, backoff_factor=10, backoff_max_seconds=60
    )
    async with hatchet.worker("retry-after-worker", slots=2, workflows=[overrides]):
        ref, starts = await _attempt_starts(hatchet, flowsim_clock, overrides, 2, 1.0)
        assert await ref.aio_result() == {"attempt": 2}
        assert starts == pytest.approx([0.0, 1.0, 2.0])  # not 10 s and 60 s later
        ref, starts = await _attempt_starts(hatchet, flowsim_clock, overrides, 100, 1.0)
        with pytest.raises(FailedTaskRunExceptionGroup, match="upstream rate limited"):
            await ref.aio_result()
    view = hatchet.runs.view(ref.workflow_run_id).tasks["retryafter"]
    assert (view.retry_count, len(starts)) == (2, 3)


async def test_a_float_delay_is_a_type_error_and_the_tasks_own_policy_applies(
    hatchet_sdk: ModuleType, hatchet: Hatchet
) -> None:
    from hatchet_sdk import FailedTaskRunExceptionGroup

    exponential = define(hatchet, 0.5, retries=3)
    async with hatchet.worker("retry-after-worker", slots=2, workflows=[exponential]):
        ref = await exponential.aio_run(UpstreamInput(failing_attempts=100), wait_for_result=False)
        with pytest.raises(FailedTaskRunExceptionGroup, match="after must be a timedelta"):
            await ref.aio_result()
    view = hatchet.runs.view(ref.workflow_run_id).tasks["retryafter"]
    assert view.retry_count == 3 and {a.error.split(":")[0] for a in view.attempts} == {"TypeError"}
