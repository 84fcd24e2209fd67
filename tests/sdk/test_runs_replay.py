"""``hatchet.runs.replay`` / ``bulk_replay`` and cancelling by filter, on every backend:
an ended task run is queued again under its id as its next retry, with its whole retry
budget back; what flowsim cannot replay is refused before anything is replayed."""

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from flowsim import (
    BulkCancelReplayOpts,
    ConcurrencyExpression,
    ConcurrencyLimitStrategy,
    Context,
    DurableContext,
    EmptyModel,
    FailedTaskRunExceptionGroup,
    Hatchet,
    InvalidInputError,
    ManualClock,
    ParentCondition,
    RunFilter,
    RunNotFoundError,
    RunStatus,
    TriggerWorkflowOptions,
    UnsupportedFeatureError,
)
from tests.helpers import eventually


async def test_bulk_replay_by_filter_reruns_failed_runs_as_hatchets_e2e_test_does(
    hatchet: Hatchet,
) -> None:
    """Hatchet's ``bulk_operations`` e2e test, smaller: three tasks that fail on their
    first attempt, replayed by a filter on workflow ids and metadata, all complete with
    ``retry_count`` 1 and ``attempt`` 2."""

    def failing_first(name: str):  # type: ignore[no-untyped-def]
        @hatchet.task(name=name)
        def task(input: EmptyModel, ctx: Context) -> None:
            if ctx.retry_count == 0:
                raise ValueError("This is a test error to trigger a retry.")

        return task

    first, second, third = (failing_first(f"bulk-replay-test-{i}") for i in (1, 2, 3))
    untouched = failing_first("bulk-replay-other")
    tagged = TriggerWorkflowOptions(additional_metadata={"test_run_id": "replay-me"})
    counts = {first: 5, second: 3, third: 2}
    async with hatchet.worker("w", slots=4, workflows=[first, second, third, untouched]):
        for task, n in counts.items():
            with pytest.raises(FailedTaskRunExceptionGroup):
                await task.aio_run_many([task.create_bulk_run_item(options=tagged)] * n)
        with pytest.raises(FailedTaskRunExceptionGroup):
            await untouched.aio_run(options=tagged)
        workflow_ids = [first.id, second.id, third.id]
        since = datetime.now(tz=UTC) - timedelta(minutes=2)
        selected = RunFilter(
            workflow_ids=workflow_ids, since=since,
            additional_metadata={"test_run_id": "replay-me"},
        )  # fmt: skip
        await hatchet.runs.aio_bulk_replay(opts=BulkCancelReplayOpts(filters=selected))
        runs = await hatchet.runs.aio_list(
            workflow_ids=workflow_ids, since=since,
            additional_metadata={"test_run_id": "replay-me"}, limit=1000,
        )  # fmt: skip
        for row in runs.rows:  # replayed, not yet done: wait for each
            await hatchet.runs.get_run_ref(row.metadata.id).aio_result()
    runs = await hatchet.runs.aio_list(workflow_ids=workflow_ids, since=since, limit=1000)
    assert len(runs.rows) == sum(counts.values())
    for row in runs.rows:
        assert row.status == RunStatus.COMPLETED
        assert (row.retry_count, row.attempt) == (1, 2)
    for task, n in counts.items():
        assert len([row for row in runs.rows if row.workflow_id == task.id]) == n
    (other,) = hatchet.runs.list(workflow_ids=[untouched.id]).rows
    assert (other.status, other.retry_count) == (RunStatus.FAILED, 0)


async def test_replay_reruns_a_completed_run_under_the_same_ids(hatchet: Hatchet) -> None:
    calls: list[int] = []

    @hatchet.task(name="counted")
    async def counted(input: EmptyModel, ctx: Context) -> dict[str, int]:
        calls.append(ctx.retry_count)
        return {"call": len(calls)}

    async with hatchet.worker("w", slots=1, workflows=[counted]):
        ref = await counted.aio_run(wait_for_result=False)
        assert await ref.aio_result() == {"call": 1}
        task_id = hatchet.runs.view(ref.workflow_run_id).tasks["counted"].id
        await hatchet.runs.aio_replay(ref.workflow_run_id)
        assert hatchet.runs.get_status(ref.workflow_run_id) in (RunStatus.RUNNING,
                                                               RunStatus.COMPLETED)  # fmt: skip
        again = hatchet.runs.get_run_ref(ref.workflow_run_id)
        assert await again.aio_result() == {"counted": {"call": 2}}  # keyed by task
        hatchet.runs.replay(task_id)  # a task run id names the task run
        assert await counted.aio_get_result(ref.workflow_run_id) == {"call": 3}
    assert calls == [0, 1, 2]  # ctx.retry_count counts the replays
    view = hatchet.runs.view(ref.workflow_run_id)
    task = view.tasks["counted"]
    assert (view.status, task.id, task.retry_count) == (RunStatus.COMPLETED, task_id, 2)
    assert [attempt.outcome for attempt in task.attempts] == ["COMPLETED"] * 3
    details = hatchet.runs.get(ref.workflow_run_id)
    (summary,) = details.tasks
    assert (summary.retry_count, summary.attempt, summary.output) == (2, 3, {"call": 3})
    replays = [e for e in details.task_events if e.event_type == "RETRIED_BY_USER"]
    assert [(e.retry_count, e.message) for e in replays] == [
        (1, "Task was replayed, resetting task result."),
        (0, "Task was replayed, resetting task result."),
    ]  # newest first, each at the retry it reset
    assert not any(e.event_type == "RETRYING" for e in details.task_events)


async def test_a_replayed_task_has_its_whole_retry_budget_back(hatchet: Hatchet) -> None:
    @hatchet.task(name="stubborn", retries=1)
    async def stubborn(input: EmptyModel, ctx: Context) -> dict[str, int]:
        if ctx.retry_count < 3:
            raise RuntimeError(f"attempt {ctx.retry_count}")
        return {"retry_count": ctx.retry_count}

    async with hatchet.worker("w", slots=1, workflows=[stubborn]):
        ref = await stubborn.aio_run(wait_for_result=False)
        with pytest.raises(FailedTaskRunExceptionGroup, match="attempt 1"):
            await ref.aio_result()  # two attempts: its one retry is spent
        hatchet.runs.replay(ref.workflow_run_id)
        # the replay (retry_count 2) fails and is retried once more (3), which succeeds
        result = await hatchet.runs.get_run_ref(ref.workflow_run_id).aio_result()
    assert result == {"stubborn": {"retry_count": 3}}
    attempts = hatchet.runs.view(ref.workflow_run_id).tasks["stubborn"].attempts
    assert [attempt.outcome for attempt in attempts] == ["FAILED", "FAILED", "FAILED", "COMPLETED"]


async def test_a_replayed_parent_gets_back_the_children_it_spawned(hatchet: Hatchet) -> None:
    child_calls: list[int] = []

    @hatchet.task(name="replayed-child")
    async def child(input: EmptyModel, ctx: Context) -> dict[str, int]:
        child_calls.append(1)
        return {"n": len(child_calls)}

    @hatchet.task(name="replayed-parent")
    async def parent(input: EmptyModel, ctx: Context) -> dict[str, int]:
        results = await child.aio_run_many([child.create_bulk_run_item() for _ in range(2)])
        return {"sum": sum(result["n"] for result in results)}

    async with hatchet.worker("w", slots=3, workflows=[parent, child]):
        ref = await parent.aio_run(wait_for_result=False)
        assert await ref.aio_result() == {"sum": 3}
        hatchet.runs.replay(ref.workflow_run_id)
        again = await hatchet.runs.get_run_ref(ref.workflow_run_id).aio_result()
        assert again == {"replayed-parent": {"sum": 3}}
    assert len(child_calls) == 2  # the children were not run again
    assert len(hatchet.runs.views()) == 3


async def test_replay_leaves_a_running_run_alone(hatchet: Hatchet) -> None:
    release, running = asyncio.Event(), asyncio.Event()
    started: list[int] = []

    @hatchet.task(name="slow")
    async def slow(input: EmptyModel, ctx: Context) -> dict[str, int]:
        started.append(ctx.retry_count)
        running.set()
        await release.wait()
        return {"done": 1}

    async with hatchet.worker("w", slots=1, workflows=[slow]):
        ref = await slow.aio_run(wait_for_result=False)
        await running.wait()
        await hatchet.runs.aio_replay(ref.workflow_run_id)  # no error: nothing to replay
        release.set()
        assert await ref.aio_result() == {"done": 1}
    assert started == [0]
    assert hatchet.runs.view(ref.workflow_run_id).tasks["slow"].retry_count == 0


async def test_a_replayed_dag_task_reruns_with_what_is_downstream_of_it(
    hatchet: Hatchet,
) -> None:
    """A pipeline whose middle task failed: replaying that task re-runs it and the task
    after it under their ids; the first task keeps its output and is not run again."""
    runs: list[str] = []
    pipeline = hatchet.workflow(name="replayed-pipeline")

    @pipeline.task()
    async def fetch(input: EmptyModel, ctx: Context) -> dict[str, int]:
        runs.append("fetch")
        return {"rows": 3}

    @pipeline.task(parents=[fetch])
    async def transform(input: EmptyModel, ctx: Context) -> dict[str, int]:
        runs.append(f"transform {ctx.retry_count}")
        if ctx.retry_count == 0:
            raise RuntimeError("the source was down")
        return {"rows": ctx.task_output(fetch)["rows"] * 2}

    @pipeline.task(parents=[transform])
    async def store(input: EmptyModel, ctx: Context) -> dict[str, int]:
        runs.append(f"store {ctx.retry_count}")
        return {"stored": ctx.task_output(transform)["rows"]}

    async with hatchet.worker("w", slots=2, workflows=[pipeline]):
        ref = await pipeline.aio_run(wait_for_result=False)
        with pytest.raises(FailedTaskRunExceptionGroup, match="the source was down"):
            await ref.aio_result()
        before = hatchet.runs.view(ref.workflow_run_id)
        assert before.statuses() == {
            "fetch": RunStatus.COMPLETED, "transform": RunStatus.FAILED,
            "store": RunStatus.CANCELLED,
        }  # fmt: skip
        with pytest.raises(InvalidInputError, match=r"parent 'transform', which is FAILED"):
            hatchet.runs.replay(before.tasks["store"].id)  # it could never run
        await hatchet.runs.aio_replay(before.tasks["transform"].id)
        result = await hatchet.runs.get_run_ref(ref.workflow_run_id).aio_result()
    assert result == {"fetch": {"rows": 3}, "transform": {"rows": 6}, "store": {"stored": 6}}
    assert runs == ["fetch", "transform 0", "transform 1", "store 1"]
    after = hatchet.runs.view(ref.workflow_run_id)
    assert {name: (task.id, task.retry_count) for name, task in after.tasks.items()} == {
        name: (task.id, 0 if name == "fetch" else 1) for name, task in before.tasks.items()
    }
    assert after.status is RunStatus.COMPLETED


async def test_a_replayed_run_runs_its_on_failure_task_again_only_if_it_fails_again(
    hatchet: Hatchet,
) -> None:
    """Hatchet re-arms the on-failure task of a replayed run: a replay that fails again
    runs it again under its id (retry_count 1), one that succeeds leaves it as it was and
    the run COMPLETED. A task replayed alone does not re-arm it."""
    calls: list[str] = []
    broken = {"charge": True}
    checkout = hatchet.workflow(name="replayed-checkout")

    @checkout.task()
    async def charge(input: EmptyModel, ctx: Context) -> dict[str, str]:
        calls.append(f"charge {ctx.retry_count}")
        if broken["charge"]:
            raise RuntimeError("card declined")
        return {"charged": "yes"}

    @checkout.on_failure_task()
    async def refund(input: EmptyModel, ctx: Context) -> dict[str, int]:
        calls.append(f"refund {ctx.retry_count}")
        return {"refunds": len([c for c in calls if c.startswith("refund")])}

    async with hatchet.worker("w", slots=2, workflows=[checkout]):
        ref = await checkout.aio_run(wait_for_result=False)
        with pytest.raises(FailedTaskRunExceptionGroup, match="card declined"):
            await ref.aio_result()
        run_id = ref.workflow_run_id
        await hatchet.runs.aio_replay(run_id)  # fails again: refund runs again
        with pytest.raises(FailedTaskRunExceptionGroup, match="card declined"):
            await hatchet.runs.get_run_ref(run_id).aio_result()
        assert calls == ["charge 0", "refund 0", "charge 1", "refund 1"]
        refund_task = hatchet.runs.view(run_id).tasks["refund-on-failure"]
        assert (refund_task.retry_count, refund_task.output) == (1, {"refunds": 2})

        broken["charge"] = False
        await hatchet.runs.aio_replay(run_id)  # succeeds: refund is not run
        await hatchet.runs.get_run_ref(run_id).aio_result()
        assert calls[4:] == ["charge 2"]
        view = hatchet.runs.view(run_id)
        assert view.status is RunStatus.COMPLETED
        assert view.tasks["charge"].output == {"charged": "yes"}
        kept = view.tasks["refund-on-failure"]
        assert (kept.status, kept.retry_count) == (RunStatus.COMPLETED, 1)

        broken["charge"] = True
        await hatchet.runs.aio_replay(view.tasks["charge"].id)  # the task alone
        with pytest.raises(FailedTaskRunExceptionGroup, match="card declined"):
            await hatchet.runs.get_run_ref(run_id).aio_result()
        assert calls[5:] == ["charge 3"]  # the on-failure task was not re-armed


async def test_what_flowsim_cannot_replay_is_refused_before_anything_is_replayed(
    hatchet: Hatchet,
) -> None:
    pipeline = hatchet.workflow(name="replayed-with-a-condition")

    @pipeline.task()
    async def first(input: EmptyModel, ctx: Context) -> dict[str, int]:
        return {"a": 1}

    @pipeline.task(
        parents=[first], skip_if=[ParentCondition(parent=first, expression="output.a > 5")]
    )
    async def second(input: EmptyModel, ctx: Context) -> dict[str, int]:
        return {"b": 2}

    @hatchet.task(name="plain")
    async def plain(input: EmptyModel, ctx: Context) -> dict[str, int]:
        return {"c": 3}

    async with hatchet.worker("w", slots=2, workflows=[pipeline, plain]):
        dag = await pipeline.aio_run(wait_for_result=False)
        await dag.aio_result()
        single = await plain.aio_run(wait_for_result=False)
        await single.aio_result()
    ids = [single.workflow_run_id, dag.workflow_run_id]
    with pytest.raises(
        UnsupportedFeatureError, match=rf"cannot replay run {dag.workflow_run_id}: .*conditions"
    ):
        hatchet.runs.bulk_replay(BulkCancelReplayOpts(ids=ids))
    with pytest.raises(RunNotFoundError, match=r"'no-such-run'.*nothing was replayed"):
        hatchet.runs.bulk_replay(BulkCancelReplayOpts(ids=[single.workflow_run_id, "no-such-run"]))
    for run_id in ids:  # neither was touched
        assert hatchet.runs.get_status(run_id) is RunStatus.COMPLETED
    assert hatchet.runs.view(single.workflow_run_id).tasks["plain"].retry_count == 0


async def test_a_replayed_run_with_a_concurrency_limit_waits_for_its_place_again(
    hatchet: Hatchet,
) -> None:
    """Hatchet evaluates a replayed task's concurrency keys again: the replay is a newcomer
    to its group, and with one place (GROUP_ROUND_ROBIN) it waits while another run of the
    group holds it, then runs."""
    limit = ConcurrencyExpression(
        expression="'all'", max_runs=1, limit_strategy=ConcurrencyLimitStrategy.GROUP_ROUND_ROBIN
    )
    release = asyncio.Event()
    calls: list[str] = []

    @hatchet.task(name="one-at-a-time", concurrency=limit)
    async def exclusive(input: EmptyModel, ctx: Context) -> dict[str, int]:
        calls.append(ctx.workflow_run_id)
        if len(calls) == 2:  # the second run holds the place until released
            await release.wait()
        return {"n": len(calls)}

    async with hatchet.worker("w", slots=2, workflows=[exclusive]):
        done = await exclusive.aio_run(wait_for_result=False)
        await done.aio_result()
        holder = await exclusive.aio_run(wait_for_result=False)
        await eventually(lambda: len(calls) == 2)
        await hatchet.runs.aio_replay(done.workflow_run_id)
        for _ in range(20):
            await asyncio.sleep(0)
        assert len(calls) == 2  # the replay waits: the place is held
        assert hatchet.runs.view(done.workflow_run_id).tasks["one-at-a-time"].status is (
            RunStatus.QUEUED
        )
        release.set()
        assert await holder.aio_result() == {"n": 2}
        assert await done.aio_result() == {"n": 3}
    assert calls == [done.workflow_run_id, holder.workflow_run_id, done.workflow_run_id]


async def test_runs_are_cancelled_and_replayed_by_filter_in_chunks(hatchet: Hatchet) -> None:
    @hatchet.task(name="filtered")
    async def filtered(input: EmptyModel, ctx: Context) -> dict[str, int]:
        return {"retry_count": ctx.retry_count}

    def tagged(tag: str) -> TriggerWorkflowOptions:
        return TriggerWorkflowOptions(additional_metadata={"batch": tag})

    cancel_me = [
        await filtered.aio_run(options=tagged("a"), wait_for_result=False) for _ in range(3)
    ]
    keep = await filtered.aio_run(
        options=tagged("b"), wait_for_result=False
    )  # no worker yet: all queued
    since = datetime.now(tz=UTC) - timedelta(minutes=1)
    hatchet.runs.bulk_cancel(
        BulkCancelReplayOpts(filters=RunFilter(since=since, additional_metadata={"batch": "a"}))
    )
    assert [hatchet.runs.get_status(r.workflow_run_id) for r in cancel_me] == [
        RunStatus.CANCELLED
    ] * 3
    assert hatchet.runs.get_status(keep.workflow_run_id) is RunStatus.QUEUED
    async with hatchet.worker("w", slots=2, workflows=[filtered]):
        assert await keep.aio_result() == {"retry_count": 0}
        # the paginated form replays what FAILED or was CANCELLED (by default), 2 at a time
        await hatchet.runs.aio_bulk_replay_by_filters_with_pagination(chunk_size=2, since=since)
        for ref in cancel_me:
            result = await hatchet.runs.get_run_ref(ref.workflow_run_id).aio_result()
            assert result == {"filtered": {"retry_count": 1}}
    assert hatchet.runs.view(keep.workflow_run_id).tasks["filtered"].retry_count == 0
    late = await filtered.aio_run(wait_for_result=False)
    hatchet.runs.bulk_cancel_by_filters_with_pagination(since=since)  # RUNNING or QUEUED
    assert hatchet.runs.get_status(late.workflow_run_id) is RunStatus.CANCELLED
    assert hatchet.runs.get_status(keep.workflow_run_id) is RunStatus.COMPLETED


async def test_a_replayed_durable_task_replays_its_event_log(
    hatchet: Hatchet, flowsim_clock: ManualClock
) -> None:
    """Hatchet keeps a durable task's event log on a replay: the sleep already slept and
    the child already spawned are not done again; the body after them runs again."""
    child_runs: list[int] = []

    @hatchet.task(name="logged-child")
    async def child(input: EmptyModel, ctx: Context) -> dict[str, int]:
        child_runs.append(1)
        return {"n": len(child_runs)}

    @hatchet.durable_task(name="logged-durable")
    async def durable(input: EmptyModel, ctx: DurableContext) -> dict[str, int]:
        await ctx.aio_sleep_for(timedelta(seconds=30))
        spawned = await child.aio_run()
        if ctx.retry_count == 0:
            raise RuntimeError("after the child")
        return {"child": spawned["n"], "invocations": ctx.invocation_count}

    async with hatchet.worker("w", slots=2, workflows=[child, durable]):
        ref = await durable.aio_run(wait_for_result=False)

        def sleeping() -> bool:  # the durable sleep is in the task's event log
            task = hatchet.runs.view(ref.workflow_run_id).tasks["logged-durable"]
            return bool(hatchet.engine.step_store.durable_steps(task.id))

        await eventually(sleeping)
        flowsim_clock.advance(30)
        with pytest.raises(FailedTaskRunExceptionGroup, match="after the child"):
            await ref.aio_result()
        hatchet.runs.replay(ref.workflow_run_id)  # no clock move: the sleep is in the log
        result = await asyncio.wait_for(durable.aio_get_result(ref.workflow_run_id), 10)
    assert result == {"child": 1, "invocations": 2}
    assert child_runs == [1]
