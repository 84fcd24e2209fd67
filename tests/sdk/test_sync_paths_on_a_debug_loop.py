"""The SDK's sync calls, made from a test's thread while the worker's loop runs on its own
thread, touch that loop only through thread-safe hand-overs.

asyncio's debug mode (on here) raises for a timer or task set on a loop from another
thread; without it such a timer may wait for the loop's next wake-up. A scheduled run's
wake timer, a cron's tick, a heartbeat and a listener are all set from whichever thread
made the call, so every path is driven here on every backend.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime, timedelta

import pytest
from pydantic import BaseModel

from flowsim import Context, Hatchet


class Job(BaseModel):
    n: int


def test_every_sync_path_leaves_the_workers_debug_loop_without_errors(
    hatchet: Hatchet, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    monkeypatch.setenv("PYTHONASYNCIODEBUG", "1")  # read when the worker's loop is made
    caplog.set_level(logging.ERROR, logger="asyncio")

    @hatchet.task(name="debug-leaf", input_validator=Job)
    def leaf(input: Job, ctx: Context) -> dict[str, int]:
        return {"n": input.n}

    @hatchet.task(name="debug-parent", input_validator=Job)
    async def parent(input: Job, ctx: Context) -> dict[str, int]:
        results = await leaf.aio_run_many(
            [leaf.create_bulk_run_item(Job(n=i)) for i in range(input.n)]
        )
        return {"n": sum(r["n"] for r in results)}

    with hatchet.worker("debug-worker", slots=4, workflows=[leaf, parent]):
        assert leaf.run(Job(n=1)) == {"n": 1}
        assert leaf.run(Job(n=2), wait_for_result=False).result() == {"n": 2}
        assert parent.run(Job(n=5)) == {"n": 10}
        assert [r["n"] for r in leaf.run_many([leaf.create_bulk_run_item(Job(n=3))])] == [3]
        soon = datetime.now(UTC) + timedelta(seconds=0.3)
        scheduled = leaf.schedule(soon, Job(n=4))
        assert hatchet.runs.get_run_ref(scheduled.id).result() == {"debug-leaf": {"n": 4}}
        hatchet.runs.replay(scheduled.id)
        assert hatchet.runs.get_run_ref(scheduled.id).result() == {"debug-leaf": {"n": 4}}
        later = leaf.schedule(datetime.now(UTC) + timedelta(hours=1), Job(n=5))
        hatchet.runs.cancel(later.id)
        made = leaf.create_cron("debug-cron", "0 12 * * *", Job(n=6))
        hatchet.cron.delete(made.metadata.id)
        assert len(hatchet.runs.views()) >= 10
    loop_errors = [r.getMessage() for r in caplog.records if r.name == "asyncio"]
    assert loop_errors == [], loop_errors
