"""Slot deadlocks: found the moment they are certain, explained, and never hung on."""

import asyncio
import json
import time
from typing import Any

import pytest

from flowsim import (
    Context,
    DurableContext,
    EmptyModel,
    Hatchet,
    SlotDeadlockError,
    Standalone,
    UnknownWorkflowError,
)
from tests.helpers import eventually


def chain(hatchet: Hatchet, depth: int) -> list[Standalone[Any]]:
    """depth levels: level 0 is a leaf, level k awaits one run of level k-1."""
    levels: list[Standalone[Any]] = []

    @hatchet.task(name="level-0")
    async def leaf(input: EmptyModel, ctx: Context) -> dict[str, int]:
        return {"depth": 0}

    levels.append(leaf)
    for k in range(1, depth):
        below = levels[-1]

        async def body(input: EmptyModel, ctx: Context, below: Any = below, k: int = k) -> Any:
            result = await below.aio_run()
            return {"depth": result["depth"] + 1}

        levels.append(hatchet.task(name=f"level-{k}")(body))
    return levels


@pytest.mark.parametrize(
    ("depth", "slots", "deadlocks"), [(3, 2, True), (3, 3, False), (4, 3, True)]
)
async def test_nested_waits_deadlock_iff_slots_are_fewer_than_levels(
    hatchet: Hatchet, depth: int, slots: int, deadlocks: bool
) -> None:
    levels = chain(hatchet, depth)
    async with hatchet.worker("w", slots=slots, workflows=levels):
        if deadlocks:
            with pytest.raises(SlotDeadlockError) as caught:
                await asyncio.wait_for(levels[-1].aio_run(), timeout=5)
            assert len(caught.value.report.holders) == slots
        else:
            assert await levels[-1].aio_run() == {"depth": depth - 1}


async def test_a_durable_parent_does_not_hold_a_task_slot(hatchet: Hatchet) -> None:
    @hatchet.task(name="work")
    async def work(input: EmptyModel, ctx: Context) -> dict[str, str]:
        return {"ok": "yes"}

    @hatchet.durable_task(name="durable-parent")
    async def durable_parent(input: EmptyModel, ctx: DurableContext) -> dict[str, Any]:
        return {"children": await asyncio.gather(work.aio_run(), work.aio_run())}

    async with hatchet.worker("w", slots=1, workflows=[work, durable_parent]) as worker:
        assert worker.slot_config == {"default": 1, "durable": 1000}
        assert await durable_parent.aio_run() == {"children": [{"ok": "yes"}] * 2}


async def test_children_on_a_separate_worker_do_not_deadlock(hatchet: Hatchet) -> None:
    @hatchet.task(name="kid")
    async def kid(input: EmptyModel, ctx: Context) -> dict[str, str]:
        return {"kid": "done"}

    @hatchet.task(name="boss")
    async def boss(input: EmptyModel, ctx: Context) -> dict[str, Any]:
        return {"kids": await kid.aio_run_many([kid.create_bulk_run_item() for _ in range(5)])}

    async with (
        hatchet.worker("parents", slots=1, workflows=[boss]),
        hatchet.worker("children", slots=1, workflows=[kid]),
    ):
        assert await boss.aio_run() == {"kids": [{"kid": "done"}] * 5}


def test_a_sync_parent_blocked_in_run_is_reported_too(hatchet: Hatchet) -> None:
    @hatchet.task(name="sync-child")
    def sync_child(input: EmptyModel, ctx: Context) -> dict[str, str]:
        return {"child": "ok"}

    @hatchet.task(name="sync-parent")
    def sync_parent(input: EmptyModel, ctx: Context) -> dict[str, Any]:
        return {"child": sync_child.run()}

    with hatchet.worker("w", slots=1, workflows=[sync_child, sync_parent]):
        started = time.monotonic()
        with pytest.raises(SlotDeadlockError):
            sync_parent.run()
        assert time.monotonic() - started < 1.0


async def test_after_a_deadlock_nothing_is_lost(hatchet: Hatchet) -> None:
    """The deadlocked parent fails (not retried: another attempt would deadlock again),
    its slot frees, and the children it spawned still run to completion."""

    @hatchet.task(name="c")
    async def child(input: EmptyModel, ctx: Context) -> dict[str, str]:
        return {"c": "ran"}

    @hatchet.task(name="p", retries=3)
    async def parent(input: EmptyModel, ctx: Context) -> dict[str, Any]:
        return {"c": await child.aio_run()}

    async with hatchet.worker("w", slots=1, workflows=[child, parent]):
        ref = parent.run(wait_for_result=False)
        with pytest.raises(SlotDeadlockError):
            await ref.aio_result()
        await eventually(lambda: all(r.status.is_terminal for r in hatchet.runs.views()))
    runs = hatchet.runs.views()
    assert {r.workflow: r.status for r in runs} == {"p": "FAILED", "c": "COMPLETED"}
    parent_task = hatchet.runs.view(ref.workflow_run_id).tasks["p"]
    assert len(parent_task.attempts) == 1
    assert parent_task.error is not None and parent_task.error.exc_type == "SlotDeadlockError"


async def test_the_report_is_data_json_and_dot(hatchet: Hatchet) -> None:
    @hatchet.task(name="leaf")
    async def leaf(input: EmptyModel, ctx: Context) -> None:
        return None

    @hatchet.task(name="root")
    async def root(input: EmptyModel, ctx: Context) -> None:
        await leaf.aio_run()

    async with hatchet.worker("solo", slots=1, workflows=[leaf, root]):
        with pytest.raises(SlotDeadlockError) as caught:
            await root.aio_run()
    report = caught.value.report
    data = json.loads(report.to_json())
    assert data["holders"][0]["worker"] == "solo" and data["holders"][0]["workflow"] == "root"
    assert data["blocked"][0]["workflow"] == "leaf"
    graph = report.graph()
    holder = f"task:{report.holders[0].task_run_id}"
    assert graph.has_edge(holder, f"run:{report.blocked[0].workflow_run_id}")
    assert graph.has_edge("pool:solo/default", holder)
    assert report.to_dot().startswith("digraph deadlock {")


async def test_stopping_the_only_worker_for_a_child_fails_its_waiter_at_once(
    hatchet: Hatchet, flowsim_base_url: str
) -> None:
    if flowsim_base_url != "memory://":
        pytest.skip(
            "memory-only rule: on a durable backend a worker in another process may still "
            "register the workflow (test_a_run_no_live_worker_registers_waits_for_one)"
        )
    gate = asyncio.Event()

    @hatchet.task(name="gated")
    async def gated(input: EmptyModel, ctx: Context) -> dict[str, str]:
        await gate.wait()
        return {}

    @hatchet.task(name="orphan")
    async def orphan(input: EmptyModel, ctx: Context) -> None:
        return None

    async with hatchet.worker("main", slots=1, workflows=[gated]):
        async with hatchet.worker("orphans", slots=1, workflows=[orphan]):
            blocker = gated.run(wait_for_result=False)
        # 'orphans' is gone: a new orphan run can never start
        with pytest.raises(
            UnknownWorkflowError, match="no running worker registers workflow 'orphan'"
        ):
            await orphan.aio_run()
        gate.set()
        await blocker.aio_result()


async def test_a_run_no_live_worker_registers_waits_for_one(
    hatchet: Hatchet, flowsim_base_url: str
) -> None:
    """On SQLite and Postgres, workers in other processes share the store, so a run no live
    worker registers stays queued (as on a Hatchet server) until one starts."""
    if flowsim_base_url == "memory://":
        pytest.skip("in memory no other process can start a worker: the wait fails at once")

    @hatchet.task(name="gated")
    async def gated(input: EmptyModel, ctx: Context) -> dict[str, str]:
        return {}

    @hatchet.task(name="orphan")
    async def orphan(input: EmptyModel, ctx: Context) -> dict[str, str]:
        return {"ran": "yes"}

    async with hatchet.worker("main", slots=1, workflows=[gated]):
        ref = await orphan.aio_run(wait_for_result=False)
        waiting = asyncio.ensure_future(ref.aio_result())
        await asyncio.sleep(0.6)  # three stall checks by the waiter
        assert not waiting.done()
        assert hatchet.runs.get_status(ref.workflow_run_id) == "QUEUED"
        async with hatchet.worker("late", slots=1, workflows=[orphan]):
            assert await asyncio.wait_for(waiting, 10) == {"ran": "yes"}


async def test_a_caller_that_waits_after_the_deadlock_was_found_still_gets_it(
    hatchet: Hatchet,
) -> None:
    """The check can run before the top-level caller starts waiting; the parent then fails
    first. Waiting on it afterwards must still raise the deadlock, not a generic failure."""

    @hatchet.task(name="kid")
    async def kid(input: EmptyModel, ctx: Context) -> None:
        return None

    @hatchet.task(name="dad")
    async def dad(input: EmptyModel, ctx: Context) -> None:
        await kid.aio_run()

    async with hatchet.worker("w", slots=1, workflows=[kid, dad]):
        ref = dad.run(wait_for_result=False)
        # memory finds it at once; a durable waiter on its next periodic check
        await eventually(lambda: hatchet.runs.view(ref.workflow_run_id).status == "FAILED")
        with pytest.raises(SlotDeadlockError) as caught:
            await ref.aio_result()
    assert caught.value.report.holders[0].workflow == "dad"
