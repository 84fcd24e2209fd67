"""Run triggers in virtual time: on-failure / on-success tasks (and, as they land,
scheduled runs, crons and events) on the real engine under the simulator's clock."""

import asyncio
import uuid
from typing import Any

from flowsim import Context, EmptyModel, FailedTaskRunExceptionGroup, Hatchet
from flowsim.sim import VirtualTimeLoop, run_virtual, virtual_backend


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
