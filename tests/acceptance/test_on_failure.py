"""Mirrors sdks/python/examples/on_failure (worker.py, test_on_failure.py) of
hatchet-dev/hatchet.

The example: a workflow whose only task raises ``step1 failed`` (with a 1 s execution
timeout), and an ``on_failure_task`` that reads the upstream errors from the context and
returns ``{"status": "success"}``. Its e2e test asserts that waiting on the run raises an
error containing ``step1 failed``, and that the run's details (``hatchet.runs.aio_get``)
then show two tasks: one COMPLETED whose display name contains ``on_failure``, one FAILED
whose display name contains ``step1``."""

from datetime import timedelta
from types import ModuleType
from typing import Any

import pytest

from flowsim import Hatchet


def test_the_on_failure_task_completes_after_step1_fails(
    hatchet_sdk: ModuleType, hatchet: Hatchet
) -> None:
    from hatchet_sdk import Context, EmptyModel
    from hatchet_sdk.clients.rest.models.v1_task_status import V1TaskStatus

    seen: dict[str, Any] = {}
    failing = hatchet.workflow(name="OnFailureExample")

    @failing.task(execution_timeout=timedelta(seconds=1))
    def step1(input: EmptyModel, ctx: Context) -> None:
        raise Exception("step1 failed")

    @failing.on_failure_task()
    def on_failure(input: EmptyModel, ctx: Context) -> dict[str, str]:
        seen["errors"] = dict(ctx.task_run_errors)
        return {"status": "success"}

    with hatchet.worker("on-failure-worker", slots=4, workflows=[failing]):
        ref = failing.run(wait_for_result=False)
        with pytest.raises(Exception) as caught:
            ref.result()
    assert "step1 failed" in str(caught.value)

    details = hatchet.runs.get(ref.workflow_run_id)
    assert len(details.tasks) == 2
    assert sum(t.status == V1TaskStatus.COMPLETED for t in details.tasks) == 1
    assert sum(t.status == V1TaskStatus.FAILED for t in details.tasks) == 1
    completed = next(t for t in details.tasks if t.status == V1TaskStatus.COMPLETED)
    failed = next(t for t in details.tasks if t.status == V1TaskStatus.FAILED)
    assert "on_failure" in completed.display_name and completed.output == {"status": "success"}
    assert "step1" in failed.display_name
    assert list(seen["errors"]) == ["step1"] and "step1 failed" in seen["errors"]["step1"]
