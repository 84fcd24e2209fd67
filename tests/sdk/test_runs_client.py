"""``hatchet.runs``: runs read back after the fact, the same on every backend."""

import pytest

from flowsim import Context, EmptyModel, Hatchet, RunNotFoundError, RunStatus


async def test_get_status_and_views_read_runs_back_on_every_backend(hatchet: Hatchet) -> None:
    child = hatchet.workflow(name="runs-child")

    @child.task(retries=1)
    async def flaky(input: EmptyModel, ctx: Context) -> dict[str, int]:
        if ctx.retry_count == 0:
            raise RuntimeError("first attempt fails")
        return {"attempt": ctx.attempt_number}

    @hatchet.task(name="runs-parent")
    async def parent(input: EmptyModel, ctx: Context) -> dict[str, int]:
        result = await child.aio_run()
        return {"child_attempt": result["flaky"]["attempt"]}

    async with hatchet.worker("w", slots=2, workflows=[child, parent]):
        ref = await parent.aio_run_no_wait()
        assert await ref.aio_result() == {"child_attempt": 2}

    assert hatchet.runs.get_status(ref.workflow_run_id) == RunStatus.COMPLETED
    assert await hatchet.runs.aio_get_status(ref.workflow_run_id) == RunStatus.COMPLETED
    views = hatchet.runs.views()
    assert [view.workflow for view in views] == ["runs-parent", "runs-child"]
    child_view = views[1]
    assert child_view.statuses() == {"flaky": RunStatus.COMPLETED}
    assert child_view.tasks["flaky"].retry_count == 1
    assert hatchet.runs.view(ref.workflow_run_id) == views[0]


def test_an_unknown_run_id_is_reported_not_guessed(hatchet: Hatchet) -> None:
    with pytest.raises(RunNotFoundError, match="no-such-run"):
        hatchet.runs.get_status("no-such-run")
