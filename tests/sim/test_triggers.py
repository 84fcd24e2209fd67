"""Run triggers in virtual time: on-failure / on-success tasks (and, as they land,
scheduled runs, crons and events) on the real engine under the simulator's clock."""

import asyncio
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from flowsim import Context, EmptyModel, FailedTaskRunExceptionGroup, Hatchet
from flowsim.errors import ScenarioError
from flowsim.sim import VirtualTimeLoop, parse_scenario, run_virtual, simulate, virtual_backend

SCENARIOS = Path(__file__).parents[2] / "scenarios"


def test_on_failure_task_runs_after_the_failure_in_virtual_time() -> None:
    """The failing task sleeps 30 s; the on-failure task, queued at that instant, 5 s."""

    async def main(loop: VirtualTimeLoop) -> tuple[float, Any, Any]:
        hatchet = Hatchet(virtual_backend(loop, f"sim-{uuid.uuid4().hex}"))
        wf = hatchet.workflow(name="guarded")
        handled: dict[str, Any] = {}

        @wf.task()
        async def work(input: EmptyModel, ctx: Context) -> None:
            await asyncio.sleep(30)
            raise ValueError("work failed")

        @wf.on_failure_task()
        async def handler(input: EmptyModel, ctx: Context) -> dict[str, bool]:
            handled["at"] = loop.time()
            handled["errors"] = list(ctx.task_run_errors)
            await asyncio.sleep(5)
            return {"handled": True}

        async with hatchet.worker("w", slots=1, workflows=[wf]):
            try:
                await wf.aio_run()
            except FailedTaskRunExceptionGroup as error:
                outcome: Any = error
        return loop.time(), outcome, handled

    finished, outcome, handled = run_virtual(main)
    assert isinstance(outcome, FailedTaskRunExceptionGroup)
    assert handled == {"at": 30.0, "errors": ["work"]}
    assert finished == 35.0  # the run ends when its on-failure task does


def test_a_day_of_a_five_minute_cron_is_288_runs_in_milliseconds() -> None:
    """``on_crons=['*/5 * * * *']`` fired by the engine on virtual time, for one day."""

    async def main(loop: VirtualTimeLoop) -> tuple[list[float], Any]:
        hatchet = Hatchet(virtual_backend(loop, f"sim-{uuid.uuid4().hex}"))
        ticks: list[float] = []

        @hatchet.task(name="every-five", on_crons=["*/5 * * * *"])
        async def every_five(input: EmptyModel, ctx: Context) -> None:
            ticks.append(loop.time())

        async with hatchet.worker("w", slots=1, workflows=[every_five]):
            await asyncio.sleep(86_400 + 1)  # the tick at 24:00 included
        return ticks, hatchet.runs.views()

    started = time.perf_counter()
    ticks, runs = run_virtual(main)
    assert time.perf_counter() - started < 5.0  # milliseconds on a quiet machine
    assert ticks == [300.0 * i for i in range(1, 289)]
    assert len(runs) == 288 and all(run.status == "COMPLETED" for run in runs)


def test_a_scheduled_run_starts_at_its_virtual_time() -> None:
    async def main(loop: VirtualTimeLoop) -> tuple[list[float], str]:
        hatchet = Hatchet(virtual_backend(loop, f"sim-{uuid.uuid4().hex}"))
        started: list[float] = []

        @hatchet.task(name="later")
        async def later(input: EmptyModel, ctx: Context) -> None:
            started.append(loop.time())

        async with hatchet.worker("w", slots=1, workflows=[later]):
            scheduled = await later.aio_schedule(datetime.fromtimestamp(3600.0, tz=UTC))
            await asyncio.sleep(3601)
        return started, hatchet.runs.view(scheduled.id).status

    assert run_virtual(main) == ([3600.0], "COMPLETED")


def test_a_scenario_arrival_can_be_a_cron() -> None:
    scenario = parse_scenario(
        {
            "module": str(SCENARIOS / "fanout.py"),
            "workers": [{"name": "w", "slots": 4}],
            "arrivals": [
                {"workflow": "fan-out", "input": {"n": 2}, "cron": "0 * * * *", "count": 24}
            ],
            "durations": {"leaf": 1.0},
            "horizon": 2 * 86_400.0,
        }
    )
    result = simulate(scenario)
    assert result.ok
    assert result.metrics.runs_by_status == {"COMPLETED": 24 * 3}
    parents = sorted(run.created_at for run in result.runs if run.workflow == "fan-out")
    assert parents == [3600.0 * hour for hour in range(1, 25)]


def test_a_scenario_cron_must_be_a_cron_expression() -> None:
    with pytest.raises(ScenarioError, match="not a cron expression"):
        parse_scenario(
            {
                "module": str(SCENARIOS / "fanout.py"),
                "workers": [{"name": "w", "slots": 4}],
                "arrivals": [{"workflow": "fan-out", "cron": "hourly", "count": 2}],
            }
        )


EVENTFLOWS = Path(__file__).with_name("eventflows.py")


def test_a_scenario_can_push_events_to_subscribed_workflows() -> None:
    scenario = parse_scenario(
        {
            "module": str(EVENTFLOWS),
            "workers": [{"name": "w", "slots": 2}],
            "arrivals": [
                {"event": "order:paid", "input": {"id": 1}, "every": 60.0, "count": 3},
                {"event": "order:refunded", "input": {"id": 2}, "at": [30.0]},
            ],
        }
    )
    result = simulate(scenario)
    assert result.ok
    started = sorted((run.workflow, run.created_at) for run in result.runs)
    assert started == [
        ("audit", 0.0), ("audit", 30.0), ("audit", 60.0), ("audit", 120.0),
        ("ship", 0.0), ("ship", 60.0), ("ship", 120.0),
    ]  # fmt: skip
    assert result.metrics.runs_by_status == {"COMPLETED": 7}


def test_a_scenario_event_nobody_subscribes_to_is_a_scenario_error() -> None:
    with pytest.raises(ScenarioError, match="subscribes to 'user:signup'"):
        simulate(
            parse_scenario(
                {
                    "module": str(EVENTFLOWS),
                    "workers": [{"name": "w", "slots": 2}],
                    "arrivals": [{"event": "user:signup"}],
                }
            )
        )


def test_arrivals_that_find_their_idempotency_key_held_start_no_run() -> None:
    """A 50 s report triggered every 20 s: a run holds its key until it ends, so only the
    arrivals at 0 and 60 start one; the four others are counted, not run."""
    scenario = parse_scenario(
        {
            "module": str(Path(__file__).with_name("keyedflows.py")),
            "workers": [{"name": "w", "slots": 2}],
            "arrivals": [{"workflow": "report", "every": 20.0, "count": 6}],
        }
    )
    result = simulate(scenario)
    assert result.ok
    assert [run.created_at for run in result.runs] == [0.0, 60.0]
    assert result.deduplicated == 4
    assert result.to_dict()["deduplicated"] == 4


def test_scoped_event_arrivals_start_runs_as_their_filters_decide() -> None:
    """``vip`` has a filter of scope 'shop' (``input.id > 100``): of the two scoped
    pushes only the second starts it; ``ship`` and ``audit`` have none and run for both;
    the unscoped push starts no ``vip``."""
    scenario = parse_scenario(
        {
            "module": str(EVENTFLOWS),
            "workers": [{"name": "w", "slots": 4}],
            "arrivals": [
                {"event": "order:paid", "input": {"id": 50}, "scope": "shop", "at": [0.0]},
                {"event": "order:paid", "input": {"id": 150}, "scope": "shop", "at": [10.0]},
                {"event": "order:paid", "input": {"id": 200}, "at": [20.0]},
            ],
        }
    )
    result = simulate(scenario)
    assert result.ok
    vip = [(run.created_at, run.output) for run in result.runs if run.workflow == "vip"]
    assert vip == [(10.0, {"vip": {"filter": {"tier": "gold"}}})]
    assert sorted(run.created_at for run in result.runs if run.workflow == "ship") == [0, 10, 20]


def test_a_scope_without_an_event_is_a_scenario_error() -> None:
    with pytest.raises(ScenarioError, match="scope selects event filters"):
        parse_scenario(
            {
                "module": str(EVENTFLOWS),
                "workers": [{"name": "w"}],
                "arrivals": [{"workflow": "ship", "scope": "shop"}],
            }
        )
