"""Mirrors sdks/python/examples/idempotency (worker.py, test_idempotency.py) of
hatchet-dev/hatchet.

The example: tasks keyed on ``input.id``, one with a TTL of a minute (also subscribed to an
event), one of two seconds, one status-based (fallback TTL 10 s) that succeeds, fails or
cancels itself as its input asks, and one with three retries. Its tests assert: a second
trigger of a held key raises ``IdempotencyCollisionError`` naming the first run; a bulk
trigger of two same-key items creates one and reports one collision; the short window
lets a run in again once it passed; two pushes of the event start one run; a status-based
key is free once its run completed, failed or was cancelled, and held through retries.

The example's sleeps are waits that end when the test says (the key's lifetime is the
manual clock's), so the tests assert the same sequence without waiting for it."""

from __future__ import annotations

import asyncio
import contextlib
from datetime import timedelta
from types import ModuleType
from typing import Any, Literal

import pytest
from pydantic import BaseModel

from flowsim import Hatchet, ManualClock, RunStatus
from tests.helpers import settle

EVENT_KEY = "idempotency:example"


class IdempotencyInput(BaseModel):
    id: str
    desired_status: Literal["success", "cancel", "fail"] = "success"


def _examples(hatchet: Hatchet, release: asyncio.Event) -> dict[str, Any]:
    from hatchet_sdk import Context, StatusBasedIdempotencyConfig, TTLBasedIdempotencyConfig

    @hatchet.task(
        idempotency=TTLBasedIdempotencyConfig(key_expression="input.id", ttl=timedelta(minutes=1)),
        input_validator=IdempotencyInput,
        on_events=[EVENT_KEY],
    )
    async def idempotent_task(input: IdempotencyInput, ctx: Context) -> dict[str, str]:
        return {"result": f"Hello, world from task {input.id}"}

    @hatchet.task(
        idempotency=TTLBasedIdempotencyConfig(key_expression="input.id", ttl=timedelta(seconds=2)),
        input_validator=IdempotencyInput,
    )
    async def idempotent_task_short_window(input: IdempotencyInput, ctx: Context) -> dict[str, str]:
        return {"result": f"Hello, world from task {input.id}"}

    async def behave(input: IdempotencyInput, ctx: Context) -> dict[str, str]:
        await release.wait()  # the example's sleep
        if input.desired_status == "fail" or (ctx.retry_count == 0 and ctx.max_attempts > 1):
            raise Exception(f"Task {input.id} failed as requested.")
        if input.desired_status == "cancel":
            await ctx.aio_cancel()
            await asyncio.sleep(10)
        return {"result": f"Hello, world from task {input.id}"}

    status_based = hatchet.task(
        name="idempotent_status_based_task",
        idempotency=StatusBasedIdempotencyConfig(
            key_expression="input.id", fallback_ttl=timedelta(seconds=10)
        ),
        input_validator=IdempotencyInput,
    )(behave)
    with_retries = hatchet.task(
        name="idempotent_status_based_task_with_retries",
        idempotency=StatusBasedIdempotencyConfig(
            key_expression="input.id", fallback_ttl=timedelta(seconds=30)
        ),
        input_validator=IdempotencyInput,
        retries=3,
    )(behave)
    return {
        "ttl": idempotent_task,
        "short": idempotent_task_short_window,
        "status": status_based,
        "retries": with_retries,
    }


async def test_a_second_direct_trigger_of_a_held_key_names_the_first_run(
    hatchet_sdk: ModuleType, hatchet: Hatchet
) -> None:
    from hatchet_sdk import IdempotencyCollisionError

    tasks = _examples(hatchet, asyncio.Event())
    async with hatchet.worker("test-worker", workflows=list(tasks.values())):
        ref1 = await tasks["ttl"].aio_run(IdempotencyInput(id="t1"), wait_for_result=False)
        with pytest.raises(IdempotencyCollisionError) as caught:
            await tasks["ttl"].aio_run(IdempotencyInput(id="t1"), wait_for_result=False)
        assert caught.value.existing_run_external_id == ref1.workflow_run_id
        result = await ref1.aio_result()
    assert "hello" in result["result"].lower()
    assert [view.id for view in hatchet.runs.views()] == [ref1.workflow_run_id]


async def test_a_bulk_trigger_of_one_key_creates_one_run_and_reports_one_collision(
    hatchet_sdk: ModuleType, hatchet: Hatchet
) -> None:
    from hatchet_sdk import BulkTriggerIdempotencyCollisionError

    ttl = _examples(hatchet, asyncio.Event())["ttl"]
    items = [ttl.create_bulk_run_item(input=IdempotencyInput(id="bulk")) for _ in range(2)]
    with pytest.raises(BulkTriggerIdempotencyCollisionError) as caught:
        await ttl.aio_run_many(items, wait_for_result=False)
    (success,) = caught.value.successful_workflow_run_external_ids
    (collision,) = caught.value.collisions
    assert collision.existing_run_external_id == success
    assert [view.id for view in hatchet.runs.views()] == [success]


async def test_the_short_window_lets_a_run_in_again_once_it_passed(
    hatchet_sdk: ModuleType, hatchet: Hatchet, flowsim_clock: ManualClock
) -> None:
    from hatchet_sdk import IdempotencyCollisionError

    short = _examples(hatchet, asyncio.Event())["short"]
    started = []
    for i in range(4):  # the example's: the first runs, the second not, the others do
        if i == 1:
            with pytest.raises(IdempotencyCollisionError):
                await short.aio_run(IdempotencyInput(id="short"), wait_for_result=False)
        else:
            started.append(await short.aio_run(IdempotencyInput(id="short"), wait_for_result=False))
        flowsim_clock.advance(i + 1.5)  # the example's sleeps: 1.5, 2.5, 3.5 s
    assert len(hatchet.runs.views()) == len(started) == 3


async def test_two_pushes_of_the_event_start_one_run_and_raise_nothing(
    hatchet_sdk: ModuleType, hatchet: Hatchet
) -> None:
    _examples(hatchet, asyncio.Event())
    first = await hatchet.event.aio_push(EVENT_KEY, {"id": "pushed"})
    second = await hatchet.event.aio_push(EVENT_KEY, {"id": "pushed"})
    assert len(first.workflow_run_ids) == 1 and second.workflow_run_ids == ()
    assert len(hatchet.runs.views()) == 1


@pytest.mark.parametrize("desired_status", ["success", "fail", "cancel"])
async def test_a_status_based_key_is_free_once_its_run_ended(
    hatchet_sdk: ModuleType, hatchet: Hatchet, desired_status: str
) -> None:
    from hatchet_sdk import IdempotencyCollisionError

    release = asyncio.Event()
    status_based = _examples(hatchet, release)["status"]
    given = IdempotencyInput(id="status", desired_status=desired_status)  # type: ignore[arg-type]
    async with hatchet.worker("test-worker", workflows=[status_based]):
        ref1 = await status_based.aio_run(given, wait_for_result=False)
        with pytest.raises(IdempotencyCollisionError) as caught:
            await status_based.aio_run(given, wait_for_result=False)
        assert caught.value.existing_run_external_id == ref1.workflow_run_id
        release.set()
        with contextlib.suppress(Exception):  # a failed or cancelled run's result raises
            await ref1.aio_result()
        expected = {"success": "COMPLETED", "fail": "FAILED", "cancel": "CANCELLED"}
        assert hatchet.runs.view(ref1.workflow_run_id).status == expected[desired_status]
        ref2 = await status_based.aio_run(given, wait_for_result=False)
        assert ref2.workflow_run_id != ref1.workflow_run_id


async def test_a_status_based_key_is_held_through_every_retry_until_they_are_spent(
    hatchet_sdk: ModuleType, hatchet: Hatchet
) -> None:
    from hatchet_sdk import IdempotencyCollisionError

    release = asyncio.Event()
    with_retries = _examples(hatchet, release)["retries"]
    failing = IdempotencyInput(id="retried", desired_status="fail")
    async with hatchet.worker("test-worker", workflows=[with_retries]):
        ref1 = await with_retries.aio_run(failing, wait_for_result=False)
        release.set()
        checked = 0
        for _ in range(200):  # between attempts, as the example checks mid-retry
            if hatchet.runs.view(ref1.workflow_run_id).status is RunStatus.FAILED:
                break
            with pytest.raises(IdempotencyCollisionError) as caught:
                await with_retries.aio_run(IdempotencyInput(id="retried"), wait_for_result=False)
            assert caught.value.existing_run_external_id == ref1.workflow_run_id
            checked += 1
            await settle()
        assert checked > 0
        with pytest.raises(Exception, match="failed as requested"):
            await ref1.aio_result()
        assert hatchet.runs.view(ref1.workflow_run_id).tasks[with_retries.name].retry_count == 3
        ref2 = await with_retries.aio_run(failing, wait_for_result=False)
        assert ref2.workflow_run_id != ref1.workflow_run_id
