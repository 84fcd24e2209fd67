"""``hatchet.runs``: runs read back after the fact, the same on every backend."""

import asyncio

import pytest
from pydantic import BaseModel

from flowsim import (
    Context,
    EmptyModel,
    FailedTaskRunExceptionGroup,
    Hatchet,
    InvalidInputError,
    ManualClock,
    RunNotFinishedError,
    RunNotFoundError,
    RunStatus,
)
from tests.helpers import eventually


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
        ref = await parent.aio_run(wait_for_result=False)
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


async def test_a_ref_got_by_run_id_waits_for_the_run_and_returns_its_result(
    hatchet: Hatchet,
) -> None:
    pipeline = hatchet.workflow(name="ref-pipeline")

    @pipeline.task()
    async def first(input: EmptyModel, ctx: Context) -> dict[str, int]:
        await asyncio.sleep(0.05)  # still running when the ref is taken
        return {"n": 1}

    @pipeline.task(parents=[first])
    async def second(input: EmptyModel, ctx: Context) -> dict[str, int]:
        return {"n": ctx.task_output(first)["n"] + 1}

    class Doubled(BaseModel):
        value: int

    @hatchet.task(name="ref-double", input_validator=Doubled)
    async def double(input: Doubled, ctx: Context) -> Doubled:
        return Doubled(value=input.value * 2)

    async with hatchet.worker("w", slots=2, workflows=[pipeline, double]):
        run_id = (await pipeline.aio_run(wait_for_result=False)).workflow_run_id
        ref = hatchet.runs.get_run_ref(run_id)
        assert ref.workflow_run_id == run_id
        assert await ref.aio_result() == {"first": {"n": 1}, "second": {"n": 2}}

        task_run_id = (
            await double.aio_run(Doubled(value=21), wait_for_result=False)
        ).workflow_run_id
        assert await double.aio_get_result(task_run_id) == Doubled(value=42)
        assert await double.get_run_ref(task_run_id).aio_result() == Doubled(value=42)
        with pytest.raises(RunNotFoundError, match="run of workflow 'ref-pipeline', not of"):
            double.get_run_ref(run_id)

    # the sync forms, on runs that have ended
    assert hatchet.runs.get_run_ref(run_id).result()["second"] == {"n": 2}
    assert double.get_result(task_run_id) == Doubled(value=42)


async def test_get_result_reads_an_ended_run_and_does_not_guess_for_one_still_queued(
    hatchet: Hatchet,
) -> None:
    @hatchet.task(name="result-ok")
    async def ok(input: EmptyModel, ctx: Context) -> dict[str, str]:
        return {"said": "ok"}

    @hatchet.task(name="result-boom")
    async def boom(input: EmptyModel, ctx: Context) -> None:
        raise ValueError("boom")

    queued = await ok.aio_run(wait_for_result=False)  # no worker yet: it stays queued
    with pytest.raises(RunNotFinishedError, match=r"QUEUED.*get_run_ref\(run_id\)\.result\(\)"):
        hatchet.runs.get_result(queued.workflow_run_id)

    async with hatchet.worker("w", slots=2, workflows=[ok, boom]):
        await queued.aio_result()
        failed = await boom.aio_run(wait_for_result=False)
        with pytest.raises(FailedTaskRunExceptionGroup):
            await failed.aio_result()

    assert hatchet.runs.get_result(queued.workflow_run_id) == {"result-ok": {"said": "ok"}}
    assert await hatchet.runs.aio_get_result(queued.workflow_run_id) == {
        "result-ok": {"said": "ok"}
    }
    with pytest.raises(FailedTaskRunExceptionGroup) as caught:
        hatchet.runs.get_result(failed.workflow_run_id)
    assert caught.value.exceptions[0].exc == "boom"


def test_an_unknown_run_id_given_to_get_run_ref_or_get_result_is_named(
    hatchet: Hatchet,
) -> None:
    for call in (hatchet.runs.get_run_ref, hatchet.runs.get_result):
        with pytest.raises(RunNotFoundError, match=r"\('no-such-run'\).*workflow run id"):
            call("no-such-run")


async def test_get_returns_hatchets_rest_details_of_a_dag_with_a_retry(hatchet: Hatchet) -> None:
    """What Hatchet's own tests read from ``hatchet.runs.aio_get`` (test_rest_api,
    on_failure, non_retryable, payload_bug_on_replay): the run's status and display name,
    its shape, its tasks and their events."""
    from flowsim.sdk.run_details import NIL_ID, V1TaskEventType

    dag = hatchet.workflow(name="details-dag")

    @dag.task()
    async def first(input: EmptyModel, ctx: Context) -> dict[str, int]:
        return {"n": 1}

    @dag.task(parents=[first], retries=1)
    async def flaky(input: EmptyModel, ctx: Context) -> dict[str, int]:
        if ctx.retry_count == 0:
            raise RuntimeError("first attempt fails")
        return {"n": ctx.task_output(first)["n"] + 1}

    @dag.on_failure_task()
    async def on_failure(input: EmptyModel, ctx: Context) -> None:
        return None

    async with hatchet.worker("w", slots=2, workflows=[dag]):
        ref = await dag.aio_run(wait_for_result=False)
        assert await ref.aio_result() == {"first": {"n": 1}, "flaky": {"n": 2}}

    details = await hatchet.runs.aio_get(ref.workflow_run_id)
    run = details.run
    assert run.status == RunStatus.COMPLETED and run.metadata.id == ref.workflow_run_id
    assert run.display_name.startswith("details-dag-") and run.output == {}
    assert run.error_message is not None and "first attempt fails" in run.error_message
    assert run.started_at is not None and run.finished_at is not None
    assert run.duration == round((run.finished_at - run.started_at).total_seconds() * 1000)
    # every task of the workflow is in the shape; the on-failure task was never created
    shape = {item.task_name: item for item in details.shape}
    assert set(shape) == {"first", "flaky", "on_failure-on-failure"}
    assert shape["first"].children_step_ids == [shape["flaky"].step_id]
    assert shape["on_failure-on-failure"].task_external_id == NIL_ID
    # the tasks created, newest first, with their outputs and retry counts
    assert [(t.display_name.rsplit("-", 1)[0], t.status, t.output, t.retry_count)
            for t in details.tasks] == [
        ("flaky", RunStatus.COMPLETED, {"n": 2}, 1),
        ("first", RunStatus.COMPLETED, {"n": 1}, 0),
    ]  # fmt: skip
    flaky_id = details.tasks[0].task_external_id
    assert flaky_id == hatchet.runs.view(ref.workflow_run_id).tasks["flaky"].id
    # flaky's life, oldest first (the details list events newest first)
    flaky_events = [(e.event_type, e.retry_count) for e in reversed(details.task_events)
                    if e.task_id == flaky_id]  # fmt: skip
    assert flaky_events == [
        (V1TaskEventType.QUEUED, 0),
        (V1TaskEventType.ASSIGNED, 0),
        (V1TaskEventType.SENT_TO_WORKER, 0),
        (V1TaskEventType.STARTED, 0),
        (V1TaskEventType.FAILED, 0),
        (V1TaskEventType.RETRYING, 1),
        (V1TaskEventType.QUEUED, 1),
        (V1TaskEventType.ASSIGNED, 1),
        (V1TaskEventType.SENT_TO_WORKER, 1),
        (V1TaskEventType.STARTED, 1),
        (V1TaskEventType.FINISHED, 1),
    ]
    retrying = next(e for e in details.task_events if e.event_type == V1TaskEventType.RETRYING)
    assert retrying.message == "This is retry number 1."
    stamps = [event.timestamp for event in details.task_events]
    assert stamps == sorted(stamps, reverse=True)
    assert [event.id for event in details.task_events] == list(range(1, len(stamps) + 1))


async def test_get_of_a_cancelled_run_shows_it_cancelled_without_output(hatchet: Hatchet) -> None:
    """Hatchet's cancellation test: ``run.run.status`` is CANCELLED, ``run.run.output``
    empty; a task cancelled while queued was queued, then cancelled."""
    from flowsim.sdk.run_details import V1TaskEventType

    release = asyncio.Event()

    @hatchet.task(name="details-hog")
    async def hog(input: EmptyModel, ctx: Context) -> dict[str, bool]:
        await release.wait()
        return {"done": True}

    async with hatchet.worker("w", slots=1, workflows=[hog]):
        held = await hog.aio_run(wait_for_result=False)
        await eventually(lambda: hatchet.runs.get_status(held.workflow_run_id) == "RUNNING")
        queued = await hog.aio_run(wait_for_result=False)
        await hatchet.runs.aio_cancel(queued.workflow_run_id)
        release.set()
        await held.aio_result()
    details = hatchet.runs.get(queued.workflow_run_id)
    assert details.run.status == RunStatus.CANCELLED and not details.run.output
    (task,) = details.tasks
    assert (task.status, task.started_at, task.output) == (RunStatus.CANCELLED, None, {})
    kinds = [e.event_type for e in reversed(details.task_events)]
    assert kinds == [V1TaskEventType.QUEUED, V1TaskEventType.CANCELLED]
    with pytest.raises(RunNotFoundError, match=r"hatchet\.runs\.get\('no-such-run'\)"):
        hatchet.runs.get("no-such-run")


async def test_list_finds_runs_and_tasks_as_hatchets_rest_listing_does(hatchet: Hatchet) -> None:
    """``hatchet.runs.list``, as Hatchet's e2e tests call it: by metadata (any pair),
    workflow id, parent task, status, page; a row per run or per task."""
    from datetime import UTC, datetime, timedelta

    pipeline = hatchet.workflow(name="listed-pipeline")

    @pipeline.task()
    async def fetch(input: EmptyModel, ctx: Context) -> dict[str, str]:
        return {"fetched": ctx.additional_metadata["test_run_id"]}

    @pipeline.task(parents=[fetch])
    async def store(input: EmptyModel, ctx: Context) -> dict[str, bool]:
        return {"stored": True}

    @hatchet.task(name="listed-parent")
    async def parent(input: EmptyModel, ctx: Context) -> dict[str, int]:
        await pipeline.aio_run_many([pipeline.create_bulk_run_item() for _ in range(2)])
        return {"spawned": 2}

    @hatchet.task(name="listed-failing")
    async def failing(input: EmptyModel, ctx: Context) -> dict[str, int]:
        raise RuntimeError("no")

    tagged = {"test_run_id": "abc"}
    async with hatchet.worker("w", slots=4, workflows=[pipeline, parent, failing]):
        parent_ref = await parent.aio_run(additional_metadata=tagged, wait_for_result=False)
        assert await parent_ref.aio_result() == {"spawned": 2}
        failed_ref = await failing.aio_run(
            additional_metadata={"test_run_id": "other"}, wait_for_result=False
        )
        with pytest.raises(FailedTaskRunExceptionGroup):
            await failed_ref.aio_result()

    runs = hatchet.runs.list(additional_metadata=tagged)  # children inherit the metadata
    assert [(row.workflow_name, row.type) for row in runs.rows] == [
        ("listed-pipeline", "DAG"), ("listed-pipeline", "DAG"), ("listed-parent", "TASK")
    ]  # fmt: skip
    assert runs.rows[-1].metadata.id == parent_ref.workflow_run_id
    assert runs.rows[-1].output == {"spawned": 2}
    dag_row = runs.rows[0]
    assert dag_row.output == {"stored": True}  # the last task that finished
    assert [child.display_name.rsplit("-", 1)[0] for child in dag_row.children or []] == [
        "store", "fetch"
    ]  # fmt: skip
    either = await hatchet.runs.aio_list(additional_metadata={"test_run_id": "other", "x": "y"})
    assert [row.status for row in either.rows] == [RunStatus.FAILED]
    assert either.rows[0].error_message and "no" in either.rows[0].error_message
    by_id = hatchet.runs.list(workflow_ids=[pipeline.id])
    assert {row.workflow_id for row in by_id.rows} == {pipeline.id} and len(by_id.rows) == 2
    parent_task = hatchet.runs.view(parent_ref.workflow_run_id).tasks["listed-parent"].id
    children = hatchet.runs.list(parent_task_external_id=parent_task)
    assert len(children.rows) == 2
    assert {row.workflow_run_external_id for row in children.rows} == {
        row.metadata.id for row in children.rows
    }
    tasks = hatchet.runs.list(only_tasks=True, workflow_ids=[pipeline.id])
    assert sorted(row.output.get("fetched", "-") for row in tasks.rows) == ["-", "-", "abc", "abc"]
    for row in tasks.rows:  # a task has one task_id in the listing and the run's details
        details = hatchet.runs.get(row.workflow_run_external_id)
        (same,) = [t for t in details.tasks if t.task_external_id == row.task_external_id]
        assert same.task_id == row.task_id
    assert hatchet.runs.list(statuses=["FAILED"]).rows[0].metadata.id == failed_ref.workflow_run_id
    with pytest.raises(InvalidInputError, match=r"\['DONE'\] is not a run status"):
        hatchet.runs.list(statuses=["DONE"])
    page = hatchet.runs.list(limit=3, offset=3)  # 4 runs, 3 a page: the second page
    assert len(page.rows) == 1 and page.pagination.current_page == 2
    assert (page.pagination.num_pages, page.pagination.next_page) == (2, 3)
    assert hatchet.runs.list(include_payloads=False).rows[0].output == {}
    tomorrow = datetime.now(UTC) + timedelta(days=1)
    assert hatchet.runs.list(since=tomorrow, until=tomorrow + timedelta(days=1)).rows == []


async def test_get_task_run_summarises_one_task_run_by_its_id(hatchet: Hatchet) -> None:
    seen: list[str] = []

    @hatchet.task(name="summarised")
    async def summarised(input: EmptyModel, ctx: Context) -> dict[str, int]:
        seen.append(ctx.step_run_id)
        return {"n": 7}

    async with hatchet.worker("w", slots=1, workflows=[summarised]):
        ref = await summarised.aio_run(wait_for_result=False)
        await ref.aio_result()

    (task_run_id,) = seen
    summary = await hatchet.runs.aio_get_task_run(task_run_id)
    assert (summary.task_external_id, summary.workflow_run_external_id) == (
        task_run_id,
        ref.workflow_run_id,
    )
    assert (summary.status, summary.output, summary.retry_count) == (
        RunStatus.COMPLETED, {"n": 7}, 0
    )  # fmt: skip
    assert summary == hatchet.runs.get(ref.workflow_run_id).tasks[0]
    with pytest.raises(RunNotFoundError, match="not a workflow run id"):
        hatchet.runs.get_task_run(ref.workflow_run_id)


async def test_get_details_is_the_engines_view_that_the_sync_result_polls(
    hatchet: Hatchet,
) -> None:
    """hatchet_sdk's ``get_details``: each task's output (none for an empty one) or
    error, the run's status, whether it is done."""
    dag = hatchet.workflow(name="detailed")

    @dag.task()
    async def produce(input: EmptyModel, ctx: Context) -> dict[str, int]:
        return {"n": 1}

    @dag.task()
    async def nothing(input: EmptyModel, ctx: Context) -> None:
        return None

    @dag.task(parents=[produce])
    async def explode(input: EmptyModel, ctx: Context) -> dict[str, int]:
        raise RuntimeError("boom")

    async with hatchet.worker("w", slots=2, workflows=[dag]):
        ref = await dag.aio_run(additional_metadata={"k": "v"}, wait_for_result=False)
        with pytest.raises(FailedTaskRunExceptionGroup):
            await ref.aio_result()

    details = await hatchet.runs.aio_get_details(ref.workflow_run_id)
    assert (details.external_id, details.status, details.done) == (
        ref.workflow_run_id, RunStatus.FAILED, True
    )  # fmt: skip
    assert details.additional_metadata == {"k": "v"} and details.input is None
    runs = details.task_runs
    assert (runs["produce"].output, runs["produce"].error) == ({"n": 1}, None)
    assert (runs["nothing"].output, runs["nothing"].status) == (None, RunStatus.COMPLETED)
    assert runs["explode"].status == RunStatus.FAILED and "boom" in (runs["explode"].error or "")
    assert runs["explode"].external_id == hatchet.runs.view(ref.workflow_run_id).tasks["explode"].id
    with pytest.raises(RunNotFoundError, match=r"get_details\('nope'\)"):
        hatchet.runs.get_details("nope")


async def test_list_with_pagination_lists_each_utc_day_of_the_window_apart(
    hatchet: Hatchet, flowsim_clock: ManualClock
) -> None:
    """hatchet_sdk's ``list_with_pagination`` asks the server once per UTC day: ``limit``
    applies per day, and the days' rows come back as one list, newest first, each once."""
    from datetime import UTC, datetime

    @hatchet.task(name="daily")
    async def daily(input: EmptyModel, ctx: Context) -> dict[str, bool]:
        return {"ran": True}

    flowsim_clock.advance(3 * 86_400 + 80_000)  # late on day 3 (UTC), 6,400 s to midnight
    ids = []
    async with hatchet.worker("w", slots=1, workflows=[daily]):
        for gap in (0, 100, 6_900, 100):  # two runs on day 3, two on day 4
            flowsim_clock.advance(gap)
            ref = await daily.aio_run(wait_for_result=False)
            await ref.aio_result()
            ids.append(ref.workflow_run_id)
    since = datetime.fromtimestamp(3 * 86_400, UTC)
    until = datetime.fromtimestamp(flowsim_clock.now(), UTC)
    paged = hatchet.runs.list_with_pagination(since=since, until=until, limit=1)
    assert [row.metadata.id for row in paged] == [ids[3], ids[1]]  # each day's newest
    everything = await hatchet.runs.aio_list_with_pagination(since=since, until=until)
    assert [row.metadata.id for row in everything] == ids[::-1]
    assert [
        row.metadata.id for row in hatchet.runs.list(since=since, until=until, limit=1).rows
    ] == [ids[3]]
    assert hatchet.runs.list_with_pagination(since=until, until=since) == []


async def test_create_triggers_a_workflow_by_its_name_and_returns_its_details(
    hatchet: Hatchet,
) -> None:
    """hatchet_sdk's REST escape hatch: ``hatchet.runs.create(name, input, ...)``."""
    from flowsim import Priority, UnknownWorkflowError

    class Order(BaseModel):
        order_id: int

    @hatchet.task(name="by-name", input_validator=Order)
    async def by_name(input: Order, ctx: Context) -> dict[str, int]:
        return {"order_id": input.order_id, "priority": ctx.priority or 0}

    details = hatchet.runs.create("by-name", {"order_id": 7}, {"source": "rest"}, Priority.HIGH)
    run_id = details.run.metadata.id
    assert (details.run.status, details.run.additional_metadata) == (
        RunStatus.QUEUED, {"source": "rest"}
    )  # fmt: skip
    assert details.run.input == {"order_id": 7}
    async with hatchet.worker("w", slots=1, workflows=[by_name]):
        result = await hatchet.runs.get_run_ref(run_id).aio_result()
        again = await hatchet.runs.aio_create("by-name", {"order_id": 8})
        assert await by_name.aio_get_result(again.run.metadata.id) == {
            "order_id": 8, "priority": 1
        }  # fmt: skip
    assert result == {"by-name": {"order_id": 7, "priority": 3}}
    with pytest.raises(UnknownWorkflowError, match=r"create\('no-such'\): no workflow"):
        hatchet.runs.create("no-such", {})
    with pytest.raises(InvalidInputError):
        hatchet.runs.create("by-name", {"order_id": "seven"})
