"""Conditions in virtual time: a wait_for sleep of an hour, a skip_if event and a durable
aio_wait_for, on the real engine under the simulator's clock, in milliseconds."""

import asyncio
import time
import uuid
from datetime import timedelta
from typing import Any

from flowsim import Context, DurableContext, EmptyModel, Hatchet
from flowsim.sdk.conditions import SleepCondition, UserEventCondition, or_
from flowsim.sim import VirtualTimeLoop, run_virtual, virtual_backend


def test_an_hour_long_wait_for_sleep_takes_an_hour_of_virtual_time() -> None:
    async def main(loop: VirtualTimeLoop) -> tuple[dict[str, float], Any]:
        hatchet = Hatchet(virtual_backend(loop, f"sim-{uuid.uuid4().hex}"))
        wf = hatchet.workflow(name="hour_wait")
        ran: dict[str, float] = {}

        @wf.task()
        async def first(input: EmptyModel, ctx: Context) -> dict[str, int]:
            await asyncio.sleep(5)
            return {"n": 1}

        @wf.task(parents=[first], wait_for=[SleepCondition(timedelta(hours=1))])
        async def later(input: EmptyModel, ctx: Context) -> dict[str, int]:
            ran["later"] = loop.time()
            return {"n": 2}

        @wf.task(
            parents=[first],
            wait_for=[SleepCondition(timedelta(hours=2))],
            skip_if=[UserEventCondition(event_key="stop", expression="input.now == true")],
        )
        async def skipped(input: EmptyModel, ctx: Context) -> dict[str, int]:
            return {"n": 3}

        async def push_later() -> None:
            await asyncio.sleep(600)
            await hatchet.event.aio_push("stop", {"now": True})

        async with hatchet.worker("w", slots=2, workflows=[wf]):
            pusher = asyncio.ensure_future(push_later())
            result = await wf.aio_run()
            await pusher
        return ran, result

    started = time.perf_counter()
    ran, result = run_virtual(main)
    assert time.perf_counter() - started < 5.0
    assert ran == {"later": 3605.0}  # an hour after its parent completed at 5 s
    assert result["skipped"] == {"skipped": True}
    assert result["later"] == {"n": 2}


def test_a_durable_wait_for_returns_what_fired_in_virtual_time() -> None:
    async def main(loop: VirtualTimeLoop) -> Any:
        hatchet = Hatchet(virtual_backend(loop, f"sim-{uuid.uuid4().hex}"))

        @hatchet.durable_task(name="waiter", execution_timeout=timedelta(hours=2))
        async def waiter(input: EmptyModel, ctx: DurableContext) -> dict[str, Any]:
            start = loop.time()
            got = await ctx.aio_wait_for(
                "s", or_(SleepCondition(timedelta(hours=1)), UserEventCondition("never"))
            )
            return {"waited": loop.time() - start, "got": got}

        async with hatchet.worker("w", workflows=[waiter]):
            return await waiter.aio_run()

    result = run_virtual(main)
    assert result == {"waited": 3600.0, "got": {"CREATE": {"sleep:1h": [{}]}}}


def test_a_scenario_event_releases_a_task_waiting_for_it() -> None:
    """An arrival pushing ``approval:granted`` (no workflow subscribes to it) satisfies the
    waiting task's condition at that virtual instant; one failing the expression does not,
    and without a matching event the hour-long sleep decides."""
    from pathlib import Path

    from flowsim.sim import parse_scenario, simulate

    module = str(Path(__file__).with_name("eventflows.py"))
    scenario = parse_scenario(
        {
            "module": module,
            "workers": [{"name": "w", "slots": 2, "workflows": ["approval"]}],
            "arrivals": [
                {"workflow": "approval", "input": {"id": 7}, "at": [0.0, 900.0]},
                {"event": "approval:granted", "input": {"id": 8}, "at": [300.0]},
                {"event": "approval:granted", "input": {"id": 7}, "at": [600.0]},
            ],
        }
    )
    result = simulate(scenario)
    assert result.ok
    finished = sorted((run.created_at, run.finished_at) for run in result.runs)
    assert finished == [(0.0, 600.0), (900.0, 900.0 + 3600.0)]
